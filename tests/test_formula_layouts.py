"""compile: matrices written with an ellipsis, arrays in brackets, determinants written
as `vmatrix`, integrals over variables named under their signs or over ℝ, `\\partial`
with a subscript, ⊗ and ⊙ among matrices, on hand-checked fixtures
(tests/fixtures/compile_layouts.txt)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixture_file import FixtureCase, fixture_params
from formula_readings import compile_case, shown

LAYOUTS = Path(__file__).parent / "fixtures" / "compile_layouts.txt"


@pytest.mark.parametrize("case", fixture_params(LAYOUTS))
def test_a_layout_reads_as_checked_by_hand(case: FixtureCase) -> None:
    assert shown(compile_case(case.input.removesuffix("\n"))) == case.expected
