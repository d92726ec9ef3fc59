"""Correct and wrong twins (issue 5's acceptance): `tests/fixtures/twins/twins.md` holds
twelve formulas twice, as they should be and with a typical slip (conv output size with
`+F`, a stable softmax shifted in one place only, KL with p and q swapped, Jaccard over
the sum instead of the union, a variance without its square, ...). Each pair links the
same snippet. Through `sheets check` and through `pytest`, every wrong twin fails at its
line in the sheet and every correct one passes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHEET = Path("tests/fixtures/twins/twins.md")


def titles_and_lines() -> dict[str, int]:
    lines = (ROOT / SHEET).read_text(encoding="utf-8").splitlines()
    return {line[3:]: number for number, line in enumerate(lines, 1) if line.startswith("## ")}


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    cache = tmp_path_factory.mktemp("cache")
    return {**os.environ, "SHEETS_CACHE_DIR": str(cache), "GITHUB_ACTIONS": "false"}


def test_there_are_at_least_ten_pairs() -> None:
    titles = titles_and_lines()
    wrong = [title for title in titles if title.endswith(" (wrong)")]
    assert len(wrong) >= 10
    assert all(title.removesuffix(" (wrong)") in titles for title in wrong)


def test_sheets_check_fails_every_wrong_twin_at_its_line(environment: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "builder", "check", str(SHEET), "--json", "-"],
                          cwd=ROOT, env=environment, capture_output=True, text=True,
                          check=False, timeout=300)
    assert done.returncode == 1, done.stderr
    cards = {card["title"]: card for card in json.loads(done.stdout)["cards"]}
    expected = titles_and_lines()
    assert set(cards) == set(expected)
    for title, line in expected.items():
        card = cards[title]
        assert card["line"] == line
        wanted = "fail" if title.endswith("(wrong)") else "pass"
        assert card["status"] == wanted, (title, card["message"])
        if wanted == "fail":
            assert f"{SHEET}:{line}: {title}: " in done.stderr
            assert "snippets/twins.py:" in card["message"]


def test_pytest_fails_every_wrong_twin_and_passes_the_others(
        environment: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "pytest", str(SHEET), "-p", "no:cacheprovider",
                           "-q", "-rf"], cwd=ROOT, env=environment, capture_output=True,
                          text=True, check=False, timeout=300)
    expected = titles_and_lines()
    wrong = {title for title in expected if title.endswith("(wrong)")}
    assert re.search(rf"\b{len(wrong)} failed, {len(expected) - len(wrong)} passed\b",
                     done.stdout), done.stdout
    failed = set(re.findall(rf"^FAILED {re.escape(str(SHEET))}::(.+?) - ", done.stdout,
                            re.MULTILINE))
    assert failed == wrong
    for title in wrong:
        assert f"{SHEET}:{expected[title]}: {title}: " in done.stdout
