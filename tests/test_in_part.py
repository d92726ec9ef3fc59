"""How much of a card its verdict covers (issue 20): every `=` but a definition is one
of the card's checks, those not compared listed as `unchecked` with why; a pass that
leaves some unchecked is a pass *in part*, said so in the text report, the summary, the
`--json` document and the badges; unbalanced delimiters are a warning at the row's line
in `build` and `check`, and the row is not checked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from seeds import SEED_DECK

from builder.cards import find_cards
from builder.check import badge_label, badge_message, check_cards, results_json, summary_line
from builder.cli import main
from builder.formula import delimiter_problems
from builder.marp import parse_file, parse_text
from builder.model import CardResult, Equation, SourceLoc

WHOLE = "## Whole\n\n$$(a+b)^2 = a^2 + 2ab + b^2$$\n"
PART = ("## Part\n\n$$\\begin{aligned}\nu + v &= \\frac{w}{2} + \\frac{w}{2} \\\\\n"
        "&= w\n\\end{aligned}$$\n")
"""Step 1 (line 4) substitutes what `u + v` is: not checked; step 2 (line 5) is proved."""
DEFINITION = "## Definition\n\n$$y = x^2$$\n"
MALFORMED = ("## Malformed\n\n$$\\begin{aligned}\nf &= (a + b)^2) \\\\\n"
             "(a + b)^2 &= a^2 + 2ab + b^2\n\\end{aligned}$$\n")
"""Row 1 (line 4) closes one `)` too many; row 2 (line 5) is right."""


def _results(tmp_path: Path, text: str) -> tuple[CardResult, ...]:
    sheet = tmp_path / "notes.md"
    sheet.write_text(text, encoding="utf-8")
    return check_cards(find_cards(parse_file(sheet)), snippets_dir=None, timeout=10,
                       processes=1)


def _check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
           text: str, *args: str) -> tuple[int, list[str]]:
    sheet = tmp_path / "notes.md"
    sheet.write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHEETS_CACHE_DIR", str(tmp_path / "cache"))
    code = main(["check", "notes.md", *args])
    return code, capsys.readouterr().out.splitlines()


def test_a_card_with_every_step_checked_is_a_plain_pass(tmp_path: Path) -> None:
    (result,) = _results(tmp_path, WHOLE)
    assert (result.status, result.checked, result.steps, result.in_part) == ("pass", 1, 1,
                                                                             False)
    assert (badge_label(result), badge_message(result)) == ("pass", "")
    assert summary_line([result]) == "1 passed (0 in part), 0 failed, 0 errors, 0 unchecked"


def test_a_card_with_some_steps_unchecked_passes_in_part(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (result,) = _results(tmp_path, PART)
    assert (result.status, result.checked, result.steps, result.in_part) == ("pass", 1, 2, True)
    assert [(check.loc.line, check.status, check.message) for check in result.checks] == [
        (4, "unchecked", "step 1: substitution, not checked"),
        (5, "pass", "step 2: proved")]
    assert badge_label(result) == "pass 1/2"
    assert badge_message(result) == ("1 of 2 steps; 1 not checked\n"
                                     "line 4: step 1: substitution, not checked")

    code, lines = _check(tmp_path, monkeypatch, capsys, WHOLE + "\n" + PART)
    assert code == 0
    assert lines == ["notes.md:5: Part: pass (1 of 2 steps; 1 not checked)",
                     "2 passed (1 in part), 0 failed, 0 errors, 0 unchecked"]
    code, lines = _check(tmp_path, monkeypatch, capsys, WHOLE + "\n" + PART, "-v")
    assert lines == ["notes.md:5: Part: pass (1 of 2 steps; 1 not checked)",
                     "  notes.md:8: step 1: substitution, not checked",
                     "2 passed (1 in part), 0 failed, 0 errors, 0 unchecked"]


def test_a_card_whose_only_compiled_step_is_a_definition_stays_unchecked(
        tmp_path: Path) -> None:
    (result,) = _results(tmp_path, DEFINITION)
    assert (result.status, result.message) == ("unchecked",
                                               "nothing to check (definitions only)")
    assert (result.checked, result.steps, result.in_part) == (0, 0, False)
    assert summary_line([result]) == "0 passed (0 in part), 0 failed, 0 errors, 1 unchecked"


def test_the_json_counts_every_step_and_the_passes_in_part(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    sheet = tmp_path / "notes.md"
    sheet.write_text(WHOLE + "\n" + PART + "\n" + DEFINITION, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHEETS_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["check", "notes.md", "--json", "-"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [(card["title"], card["status"], card["checked"], card["steps"])
            for card in document["cards"]] == [
        ("Whole", "pass", 1, 1), ("Part", "pass", 1, 2), ("Definition", "unchecked", 0, 0)]
    assert document["cards"][1]["checks"] == [
        {"kind": "derivation", "status": "unchecked", "line": 8,
         "message": "step 1: substitution, not checked"},
        {"kind": "derivation", "status": "pass", "line": 9, "message": "step 2: proved"}]
    assert document["summary"] == {"pass": 2, "fail": 0, "error": 0, "unchecked": 1}
    assert document["in_part"] == 1


def test_a_row_that_does_not_compile_is_listed_as_an_unchecked_step(tmp_path: Path) -> None:
    text = "## Rows\n\n$$\\begin{aligned}\na &= \\oint b \\\\\n(x+1)^2 &= x^2 + 2x + 1\n" \
           "\\end{aligned}$$\n"
    (result,) = _results(tmp_path, text)
    assert (result.status, result.checked, result.steps) == ("pass", 1, 2)
    assert result.checks[0].status == "unchecked"
    assert result.checks[0].loc.line == 4 and result.checks[0].message.startswith("step 1: ")
    assert results_json([result])["cards"][0]["checks"][0]["status"] == "unchecked"


@pytest.mark.parametrize(("tex", "expected"), [
    ("\\mathbb{E}[(X-\\mathbb{E}[X])^2)]", ["1: one ')' too many"]),
    ("x \\in [0, 1) \\cup (2, 3]", []),  # half-open intervals
    ("a &= (b \\\\\n &+ c)", []),  # a parenthesis closed on the next row
    ("f = \\left\\{ \\begin{cases} a \\\\ b \\end{cases} \\right.", []),
    ("\\sqrt[3]{x} + \\text{(see 1}", []),
    ("x &= 1 \\\\\n y &= \\left( a", ["2: '\\left(' without '\\right'"]),
    ("\\{a\\}\\}", ["1: one '\\}' too many"]),
    ("(a + b", ["1: '(' never closed"]),
])
def test_unbalanced_delimiters(tex: str, expected: list[str]) -> None:
    found = delimiter_problems(Equation(tex, SourceLoc(Path("notes.md"), 1)))
    assert [f"{problem.loc.line}: {problem.message.split(': ', 1)[1].split(' (')[0]}"
            for problem in found] == expected
    assert all(problem.severity == "warning" for problem in found)


def test_unbalanced_delimiters_warn_in_check_and_the_row_is_not_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (result,) = _results(tmp_path, MALFORMED)
    assert [(check.loc.line, check.status) for check in result.checks] == [
        (4, "unchecked"), (5, "pass")]
    assert result.checks[0].message == "step 1: unbalanced delimiters: one ')' too many"
    code, lines = _check(tmp_path, monkeypatch, capsys, MALFORMED)
    assert code == 0
    assert lines[0] == ("notes.md:4: warning: unbalanced delimiters: one ')' too many "
                        "(typeset as written; the row is not checked)")
    assert lines[1] == "notes.md:1: Malformed: pass (1 of 2 steps; 1 not checked)"


def test_unbalanced_delimiters_warn_in_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.md").write_text(MALFORMED, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHEETS_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["build", "notes.md", "--to", "html", "-o", "out"]) == 0
    warning = ("notes.md:4: warning: unbalanced delimiters: one ')' too many "
               "(typeset as written; the row is not checked)")
    assert capsys.readouterr().err.splitlines() == [warning]
    assert main(["build", "notes.md", "--to", "html", "-o", "out", "--strict"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("notes.md:4: warning: unbalanced delimiters")
    page = (tmp_path / "out" / "notes.html").read_text(encoding="utf-8")
    assert ">pass 1/2</span>" in page
    assert "line 4: step 1: unbalanced delimiters: one &#x27;)&#x27; too many" in page


def test_a_build_without_such_rows_warns_of_nothing_new() -> None:
    deck = parse_text("## Fine\n\n$$x \\in [0, 1)$$\n\n$$\\left( a \\right]$$\n",
                      Path("fine.md"))
    assert [problem for card in find_cards(deck) for equation in card.equations
            for problem in delimiter_problems(equation)] == []


def test_seed_001_says_which_passes_are_in_part_and_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SHEETS_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["check", str(SEED_DECK), "-v"]) == 1  # two wrong steps, known
    lines = capsys.readouterr().out.splitlines()
    assert f"{SEED_DECK}:63: warning: unbalanced delimiters: one ')' too many " \
           "(typeset as written; the row is not checked)" in lines
    at = lines.index(f"{SEED_DECK}:60: ベルヌーイ分布の分散: pass (2 of 4 steps; 2 not checked)")
    assert lines[at + 1:at + 3] == [
        f"  {SEED_DECK}:63: step 1: unbalanced delimiters: one ')' too many",
        f"  {SEED_DECK}:65: step 3: substitution, not checked"]
    at = lines.index(f"{SEED_DECK}:731: 生成モデル: pass (1 of 2 steps; 1 not checked)")
    assert lines[at + 1] == (f"  {SEED_DECK}:734: step 1: cannot evaluate the sides at "
                             f"points of the domain")
    # Two wrong derivation steps, and two wrong standard formulas the library knows
    # (tests/test_library.py); the library's passes come on top of the derivations'.
    summary = re.match(r"(\d+) passed \((\d+) in part\), 4 failed, ", lines[-1])
    assert summary is not None, lines[-1]
    assert int(summary.group(1)) >= 5 and int(summary.group(2)) >= 3
