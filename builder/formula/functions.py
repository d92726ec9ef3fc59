"""sympy functions the reader builds that sympy lacks: transpose, inner product, the
conditional bar; and sums/products of numbers only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from builder.formula.tokens import Refused


def conditional_marker() -> Any:
    import sympy

    return sympy.Symbol("|")


def ellipsis_marker() -> Any:
    """`f(x_1, \\ldots, x_n)`: the arguments the dots stand for, in an unknown function's
    argument list (what `f` gives is not known, so neither is what they are)."""
    import sympy

    return sympy.Symbol("…")


class Transposed:
    """`X^T`: the transpose of a matrix, non-commutative; of a number, the number."""

    _class: Any = None

    @classmethod
    def get(cls) -> Any:
        if cls._class is None:
            import sympy

            class transpose(sympy.Function):  # type: ignore[misc]
                nargs = 1
                is_commutative = False

                @classmethod
                def eval(cls, a: Any) -> Any:
                    if a.is_number:
                        return a
                    if isinstance(a, cls):
                        return a.args[0]
                    return None

                def _sympystr(self, printer: Any) -> str:
                    return f"{printer._print(self.args[0])}^T"

            cls._class = transpose
        return cls._class


class InnerProduct:
    """`w^T x`: the inner product of two vectors, a scalar (np.dot in formulas)."""

    _class: Any = None

    @classmethod
    def get(cls) -> Any:
        if cls._class is None:
            import sympy

            class Inner(sympy.Function):  # type: ignore[misc]
                """Inner product; at scalar points (a check's samples) the product."""

                nargs = 2
                is_commutative = True

                @classmethod
                def eval(cls, a: Any, b: Any) -> Any:
                    if a.is_number and b.is_number:
                        return a * b
                    if a.is_zero or b.is_zero:
                        return sympy.S.Zero  # ⟨v, 0⟩: whatever v is
                    return None

                def _sympystr(self, printer: Any) -> str:
                    return f"{printer._print(self.args[0])}^T {printer._print(self.args[1])}"

            cls._class = Inner
        return cls._class


def arithmetic(operands: Sequence[Any]) -> None:
    """Sums and products of numbers only: not of sets (`\\mathbb{R}`), conditions or
    matrices written out (`\\begin{bmatrix}`)."""
    import sympy

    matrices = [operand for operand in operands if getattr(operand, "is_Matrix", False)]
    if matrices and len(operands) > 1 and any(
            not getattr(operand, "is_Matrix", False) and not operand.is_number
            for operand in operands):
        # R \begin{pmatrix}…\end{pmatrix} R^{-1}: R a matrix the equation reads as a number
        raise Refused("matrix/vector expression")
    for operand in operands:
        if not isinstance(operand, sympy.Expr):
            kind = "matrix/vector expression" if getattr(operand, "is_Matrix", False) \
                else "a set or condition in arithmetic"
            raise Refused(kind)
