"""Steps between products of matrices and vectors: numbers commute, so agreeing as
numbers is no pass (`x y^T = y x^T` passed so, and `(AB)^{-1} = A^{-1} B^{-1}` was
'proved' with A and B made real numbers). Such a step passes when it holds at random
matrices and vectors; one that does not is `unchecked`, never a pass."""

from __future__ import annotations

from pathlib import Path

import pytest
import sympy

from builder.check import check_card
from builder.check.matrices import agree_as_matrices
from builder.model import Card, CardResult, Equation, SourceLoc


def _check(tex: str) -> CardResult:
    path = Path("matrices.md")
    card = Card(title="t", equations=(Equation(tex, SourceLoc(path, 3)),), checks=(),
                assume=(), nocheck=None, declarations=(), code=(),
                loc=SourceLoc(path, 1), slide=0)
    return check_card(card, snippets_dir=None, timeout=5)


@pytest.mark.parametrize("tex", [
    r"(\mathbf{A}\mathbf{x})^T = \mathbf{x}^T \mathbf{A}^T",
    r"\mathbf{x}^T \mathbf{A} \mathbf{x} = \mathbf{x}^T \mathbf{A}^T \mathbf{x}",
    r"(\mathbf{A}\mathbf{B})^{-1} = \mathbf{B}^{-1}\mathbf{A}^{-1}",
    r"\vec{a}^T \vec{b} = \vec{b}^T \vec{a}",
    r"\lambda \mathbf{W} \mathbf{x} = \mathbf{W} (\lambda \mathbf{x})",
    r"\mathbf{W}\mathbf{x} + \mathbf{b} = \mathbf{b} + \mathbf{W}\mathbf{x}",
    r"(\mathbf{A}^T)^T \mathbf{B} = \mathbf{A} \mathbf{B}",
])
def test_a_matrix_identity_passes(tex: str) -> None:
    result = _check(tex)
    assert result.status == "pass", result.checks


@pytest.mark.parametrize("tex", [
    r"(\mathbf{A}\mathbf{B})^{-1} = \mathbf{A}^{-1}\mathbf{B}^{-1}",
    r"\mathbf{x}\mathbf{y}^T = \mathbf{y}\mathbf{x}^T",
    r"\mathbf{A}\mathbf{B} = \mathbf{B}\mathbf{A}",
])
def test_a_product_in_the_wrong_order_does_not_pass(tex: str) -> None:
    result = _check(tex)
    assert result.status == "unchecked", result.checks
    assert "not at random matrices (the order of the factors" in result.checks[0].message


def test_shapes_that_do_not_fit_leave_the_step_unchecked() -> None:
    """`A^T x^T`: an n×n matrix times a row; it cannot be evaluated, and its scalar
    reading proves nothing."""
    result = _check(r"(\mathbf{A}\mathbf{x})^T = \mathbf{A}^T \mathbf{x}^T")
    assert result.status == "unchecked", result.checks
    assert "matrices cannot be put in" in result.checks[0].message


def test_vectors_are_columns_and_a_1_by_1_product_is_a_number() -> None:
    x, y = sympy.symbols("x y", commutative=False)
    a = sympy.Symbol("A", commutative=False)
    transpose = sympy.Function("transpose", commutative=False)
    # x^T y is a number: it commutes with a matrix; the outer product x y^T does not
    assert agree_as_matrices(transpose(x) * y * a, a * transpose(x) * y, seed=1)
    assert agree_as_matrices(x * transpose(y) * a, a * x * transpose(y), seed=1) is False
    # shapes that do not fit (x A), an unknown function: undecided, not a difference
    assert agree_as_matrices(x * a, x * a, seed=1) is None
    f = sympy.Function("f")
    assert agree_as_matrices(f(x), f(x), seed=1) is None
