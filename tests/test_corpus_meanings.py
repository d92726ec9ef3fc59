"""The compiler's reading of equations from the public-notes corpus (issue 16), compared
with meanings checked by hand (tests/fixtures/corpus_meanings.txt): each side's sympy
expression in canonical form, or the refusal expected where the LaTeX does not say what
it means. A wrong meaning is worse than none, so a reading that changes fails here until
someone has read the equation again."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fixture_file import FixtureCase, fixture_params, read_fixture_file
from formula_readings import compile_case, shown

MEANINGS = Path(__file__).parent / "fixtures" / "corpus_meanings.txt"
SOURCES = Path(__file__).parent / "corpus" / "SOURCES.md"


@pytest.mark.parametrize("case", fixture_params(MEANINGS))
def test_a_corpus_equation_reads_as_checked_by_hand(case: FixtureCase) -> None:
    assert shown(compile_case(case.input.removesuffix("\n"))) == case.expected


def test_the_sample_is_large_and_spread_over_the_corpus() -> None:
    cases = read_fixture_file(MEANINGS)
    sources = SOURCES.read_text(encoding="utf-8")
    repositories = {case.title.split()[0] for case in cases}
    files = {case.title.rsplit(":", 1)[0] for case in cases}
    compiled = [case for case in cases if "!" not in case.expected]
    assert len(cases) >= 200 and len(compiled) >= 150
    assert len(repositories) >= 15 and len(files) >= 30
    for case in cases:  # each excerpt names a source listed in SOURCES.md
        repository, location = case.title.split()
        path = re.sub(r":\d+$", "", location)
        assert f"| {repository} | {path} |" in sources, case.title
