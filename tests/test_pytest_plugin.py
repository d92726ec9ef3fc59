"""pytest_plugin: `pytest sheets/` runs one test per checked card, reported at the sheet's
line; `-k`, `-x` and `--junitxml` work; a project's own tests/fixtures are left alone.

Each test writes a small notes project (sheets + snippets) with pytester and runs pytest
in it, as a user would.
"""

from __future__ import annotations

import os
from pathlib import Path
from xml.etree import ElementTree

import pytest

# Imported here so that pytester's in-process runs find them already loaded: it removes
# the modules a run imported when the run ends, and the YAML loader of builder.marp
# does not survive being imported twice into one process.
import builder.cards
import builder.check
import builder.marp
import builder.runner.pool  # noqa: F401

pytest_plugins = ["pytester"]

SHEET = """\
---
marp: true
---

## Softmax

<!-- check: probability.sums_to_one -->

$$
y_k = \\frac{e^{a_k}}{\\sum_i e^{a_i}}
$$

## Conv output size

<!-- check: cnn.output_size -->

$$
O = \\frac{H + 2P - F}{S} + 1
$$

## Prose only

<!-- nocheck: a picture, not a claim -->

$$
a \\approx b
$$
"""

SNIPPETS = {
    "probability": """\
import numpy as np


def sums_to_one(card):
    probabilities = np.array([0.2, 0.3, 0.4])
    print("probabilities:", probabilities)
    np.testing.assert_allclose(probabilities.sum(), 1.0)
""",
    "cnn": """\
def output_size(card):
    assert card.title == "Conv output size"
""",
}


@pytest.fixture
def notes(pytester: pytest.Pytester) -> pytest.Pytester:
    (pytester.path / "sheets").mkdir()
    (pytester.path / "sheets" / "01-basics.md").write_text(SHEET)
    (pytester.path / "snippets").mkdir()
    for name, code in SNIPPETS.items():
        (pytester.path / "snippets" / f"{name}.py").write_text(code)
    return pytester


def worker_children() -> set[int]:
    """This process's children that are snippet workers."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"builder.runner.server" in command:
            found.add(int(entry.name))
    return found


def test_one_item_per_checked_card_with_path_and_title(notes: pytest.Pytester) -> None:
    result = notes.runpytest("sheets/", "--collect-only", "-q")
    assert result.ret == 0
    collected = [line for line in result.outlines if "::" in line]
    assert collected == ["sheets/01-basics.md::Softmax",
                         "sheets/01-basics.md::Conv output size"]  # not the nocheck card


def test_a_failing_card_is_reported_at_the_sheets_line(notes: pytest.Pytester) -> None:
    before = worker_children()
    result = notes.runpytest("sheets/")
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    # The report's heading and first line point at the card in the sheet...
    result.stdout.fnmatch_lines([
        "*_ sheets/01-basics.md:5: Softmax _*",
        ("sheets/01-basics.md:5: Softmax: probability.sums_to_one failed: Not equal to "
        "tolerance*(snippets/probability.py:7)"),
    ])
    # ...then the snippet's traceback, trimmed to the user's code, and what it printed.
    result.stdout.fnmatch_lines([
        '*File "snippets/probability.py", line 7, in sums_to_one',
        "*np.testing.assert_allclose(probabilities.sum(), 1.0)",
        "*AssertionError*",
    ])
    assert "builder/worker.py" not in output and "numpy/testing" not in output
    assert "probabilities: [0.2 0.3 0.4]" in output
    result.stdout.fnmatch_lines(["FAILED sheets/01-basics.md::Softmax - *"])
    assert worker_children() <= before  # the session's pool was closed


def test_k_selects_cards_by_title(notes: pytest.Pytester) -> None:
    result = notes.runpytest("sheets/", "-k", "conv", "-v")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(["sheets/01-basics.md::Conv output size PASSED*"])


def test_x_stops_at_the_first_failure(notes: pytest.Pytester) -> None:
    result = notes.runpytest("sheets/", "-x")
    result.assert_outcomes(failed=1)
    assert "Conv output size" not in result.stdout.str().split("short test summary")[0]


def test_junitxml_records_the_card_and_its_failure(notes: pytest.Pytester) -> None:
    report = notes.path / "report.xml"
    result = notes.runpytest("sheets/", f"--junitxml={report}")
    result.assert_outcomes(passed=1, failed=1)
    cases = {case.get("name"): case for case in ElementTree.parse(report).iter("testcase")}
    assert set(cases) == {"Softmax", "Conv output size"}
    failure = cases["Softmax"].find("failure")
    assert failure is not None
    assert "sheets/01-basics.md:5: Softmax" in (failure.get("message") or "")
    assert cases["Conv output size"].find("failure") is None


def test_a_card_that_cannot_be_checked_is_skipped_with_the_reason(
        pytester: pytest.Pytester) -> None:
    (pytester.path / "sheets").mkdir()
    (pytester.path / "sheets" / "defs.md").write_text(
        "## Definition\n\n$$\ny = x^2\n$$\n")
    result = pytester.runpytest("sheets/", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*unchecked: *"])


def test_a_card_that_passes_in_part_passes_and_the_summary_lists_it(
        pytester: pytest.Pytester) -> None:
    # Step 1 substitutes what p(y|x)p(x) is (not checked); step 2 is proved.
    (pytester.path / "sheets").mkdir()
    (pytester.path / "sheets" / "part.md").write_text(
        "## Whole\n\n$$(a+b)^2 = a^2 + 2ab + b^2$$\n\n"
        "## Part\n\n$$\\begin{aligned}\nu + v &= \\frac{w}{2} + \\frac{w}{2} \\\\\n"
        "&= w\n\\end{aligned}$$\n")
    result = pytester.runpytest("sheets/", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([
        "*= 1 sheet card passed in part =*",
        "PASSED IN PART sheets/part.md:5: Part: 1 of 2 steps; 1 not checked",
        "  sheets/part.md:8: step 1: substitution, not checked",
    ])
    assert "Whole" not in result.stdout.str().split("passed in part", 1)[1]
    quiet = pytester.runpytest_subprocess("sheets/")  # (in process, sympy is imported anew)
    quiet.stdout.fnmatch_lines(["PASSED IN PART sheets/part.md:5: Part: *"])
    quiet.stdout.no_fnmatch_line("*step 1: substitution*")


def test_a_sheet_that_does_not_parse_is_a_collection_error_without_traceback(
        pytester: pytest.Pytester) -> None:
    (pytester.path / "sheets").mkdir()
    (pytester.path / "sheets" / "broken.md").write_text("---\ntheme: x\n\n## No end\n")
    result = pytester.runpytest("sheets/")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["sheets/broken.md:1: *"])
    assert "Traceback" not in result.stdout.str()


def test_the_projects_own_tests_fixtures_are_not_sheets(notes: pytest.Pytester) -> None:
    notes.makeini("[pytest]\ntestpaths = tests\n")
    (notes.path / "tests" / "fixtures").mkdir(parents=True)
    (notes.path / "tests" / "fixtures" / "wrong.md").write_text(SHEET)
    (notes.path / "tests" / "test_nothing.py").write_text("def test_it():\n    pass\n")
    (notes.path / "README.md").write_text(SHEET)
    for args in ((), ("tests",), ("tests/fixtures",)):
        result = notes.runpytest(*args, "--collect-only", "-q")
        assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
        assert not [line for line in result.outlines if ".md" in line], args
    # Named on the command line, a sheet is a sheet wherever it is.
    result = notes.runpytest("tests/fixtures/wrong.md", "--collect-only", "-q")
    assert "tests/fixtures/wrong.md::Softmax" in result.outlines


def test_a_bare_pytest_collects_the_sheets_directory(notes: pytest.Pytester) -> None:
    """In a notes repository without pytest settings, `pytest` checks `sheets/` (the
    `sheets_paths` default) but not other Markdown such as the README."""
    (notes.path / "README.md").write_text(SHEET)
    result = notes.runpytest("--collect-only", "-q")
    collected = [line for line in result.outlines if "::" in line]
    assert collected == ["sheets/01-basics.md::Softmax",
                         "sheets/01-basics.md::Conv output size"]


def test_snippets_directory_option_overrides_the_nearest_one(notes: pytest.Pytester) -> None:
    other = notes.path / "elsewhere"
    other.mkdir()
    (other / "probability.py").write_text("def sums_to_one(card):\n    pass\n")
    (other / "cnn.py").write_text("def output_size(card):\n    pass\n")
    result = notes.runpytest("sheets/", f"--sheets-snippets={other}")
    result.assert_outcomes(passed=2)


def test_duplicate_titles_get_distinct_ids(pytester: pytest.Pytester) -> None:
    (pytester.path / "sheets").mkdir()
    (pytester.path / "sheets" / "twice.md").write_text(
        "## Same\n\n$$\na + b = b + a\n$$\n\n---\n\n## Same\n\n$$\na b = b a\n$$\n")
    result = pytester.runpytest("sheets/", "--collect-only", "-q")
    assert [line for line in result.outlines if "::" in line] == [
        "sheets/twice.md::Same (line 1)", "sheets/twice.md::Same (line 9)"]
