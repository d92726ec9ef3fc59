"""CI fails on a wrong formula: a copy of the project's real `sheets/` and `snippets/` with
one sign flipped in one formula fails `sheets check` and `pytest sheets/` (what `make
test` runs), and both print the sheet's file:line.

Which formula: the first card (in file order) that passes as shipped and whose first
equation has a `+` or `-` after its last `=`. A flip that its checks do not notice is
tried on the next such card (at most a few): a checked card may well test only part of
its formula, but the sheets as a whole must catch a flipped sign.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHEETS = sorted((ROOT / "sheets").glob("*.md"))
_TRIES = 5

pytestmark = pytest.mark.skipif(not SHEETS, reason="sheets/ holds no sheets yet")


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "SHEETS_CACHE_DIR": str(cwd / ".cache"),
                   "GITHUB_ACTIONS": "false"}
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True,
                          text=True, check=False, timeout=600)


def check_json(project: Path) -> tuple[int, dict[str, Any], str]:
    done = run([sys.executable, "-m", "builder", "check", "--json", "-"], project)
    return done.returncode, json.loads(done.stdout), done.stderr


def flip_one_sign(tex: str) -> str | None:
    """The equation with its first `+`/`-` after the last `=` turned round."""
    cut = tex.rfind("=")
    for index in range(cut + 1, len(tex)):
        if tex[index] in "+-" and tex[max(index - 1, 0)] not in "^_{\\":
            return tex[:index] + ("-" if tex[index] == "+" else "+") + tex[index + 1:]
    return None


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("notes")
    shutil.copytree(ROOT / "sheets", copy / "sheets")
    if (ROOT / "snippets").is_dir():
        shutil.copytree(ROOT / "snippets", copy / "snippets")
    return copy


def test_one_flipped_sign_fails_sheets_check_and_pytest_at_its_line(project: Path) -> None:
    from builder.cards import find_cards
    from builder.marp import parse_file

    status, shipped, _ = check_json(project)
    passing = {(card["file"], card["line"]) for card in shipped["cards"]
               if card["status"] == "pass"}
    candidates = []
    for sheet in sorted((project / "sheets").glob("*.md")):
        relative = sheet.relative_to(project)
        for card in find_cards(parse_file(sheet)):
            if (str(relative), card.loc.line) in passing and card.equations:
                flipped = flip_one_sign(card.equations[0].tex)
                if flipped is not None:
                    candidates.append((relative, card, flipped))
    assert candidates, "no passing card with a sign to flip in sheets/"

    for relative, card, flipped in candidates[:_TRIES]:
        sheet = project / relative
        original = sheet.read_text(encoding="utf-8")
        lines = original.split("\n")
        start = sum(len(line) + 1 for line in lines[:card.equations[0].loc.line - 1])
        at = original.index(card.equations[0].tex, start)
        sheet.write_text(original[:at] + flipped + original[at + len(card.equations[0].tex):],
                         encoding="utf-8")
        status, document, report = check_json(project)
        verdict = next(item for item in document["cards"]
                       if item["file"] == str(relative) and item["line"] == card.loc.line)
        if verdict["status"] in ("fail", "error"):
            break
        sheet.write_text(original, encoding="utf-8")  # not noticed: try the next card
    else:
        pytest.fail(f"flipping one sign in any of {_TRIES} cards was not noticed")

    # `sheets check`: exit 1, and the line it prints points into the flipped card.
    assert status == 1
    last_line = card.equations[0].loc.line + card.equations[0].tex.count("\n") + 1
    pattern = re.compile(rf"^{re.escape(str(relative))}:(\d+): ", re.MULTILINE)
    numbers = [int(number) for number in pattern.findall(report)]
    assert any(card.loc.line <= number <= last_line for number in numbers), report

    # `pytest sheets/` (the second half of `make test`): fails, at the same place.
    done = run([sys.executable, "-m", "pytest", "sheets/", "-p", "no:cacheprovider",
                "-q"], project)
    assert done.returncode == 1, done.stdout
    numbers = [int(number) for number in pattern.findall(done.stdout)]
    assert any(card.loc.line <= number <= last_line for number in numbers), done.stdout
    assert f"FAILED {relative}::" in done.stdout
