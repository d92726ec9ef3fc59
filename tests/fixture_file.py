"""Reader for fixture files (STYLE.md §5, markdown-it-py's format):

    title line
    .
    input (Markdown)
    .
    expected output
    .

Cases are separated by blank lines; `.` alone on a line closes each part.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True, slots=True)
class FixtureCase:
    title: str
    line: int
    """1-based line of the title in the fixture file."""
    input: str
    expected: str


def read_fixture_file(path: Path) -> list[FixtureCase]:
    lines = path.read_text(encoding="utf-8").split("\n")
    cases: list[FixtureCase] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip() or i + 1 >= len(lines) or lines[i + 1] != ".":
            i += 1
            continue
        title, title_line = lines[i].strip(), i + 1
        parts: list[list[str]] = [[], []]
        i += 2
        for part in parts:
            while i < len(lines) and lines[i] != ".":
                part.append(lines[i])
                i += 1
            i += 1  # the closing "."
        cases.append(FixtureCase(title, title_line, "\n".join(parts[0]) + "\n",
                                 "\n".join(parts[1]).rstrip("\n") + "\n"))
    return cases


def fixture_params(path: Path) -> list[object]:
    """One pytest parameter per case, with the title (and line) as its id."""
    return [pytest.param(case, id=f"{case.line}-{case.title}") for case in read_fixture_file(path)]
