"""A density or distribution that adds up to 1: `\\int p(x) F \\, dx = F` and `\\sum_x p(x)
F = F` when F does not depend on x.

The checker cannot evaluate an unknown `p`, so without this such a step is never
decided. The rewrite is what `\\int p(x) dx = 1` allows: it is used on the steps of a
card that declares it in `assume:` (`Domain.densities`), and otherwise only to say that
a step would hold if it were declared (issue 16: a constraint the note takes for granted
is not a mistake, but it is not checked either until the note says it).
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass

import sympy
from sympy.core.function import AppliedUndef

from builder.formula import latex_name

__all__ = ["Normalised", "integrate_out", "normalisation_hint"]


@dataclass(frozen=True, slots=True)
class Normalised:
    """One `\\int p(x) … dx` or `\\sum_x p(x) …` the rewrite took out."""

    function: str
    """The density's Python name (`p`, `p_theta`)."""
    variable: sympy.Symbol
    summed: bool
    """A sum (a distribution over x) rather than an integral (a density)."""

    def condition(self) -> str:
        """`∫ p(x) dx = 1`, as the message's `holds if …` says it."""
        name, variable = latex_name(self.function), latex_name(str(self.variable))
        if self.summed:
            return f"Σ_{variable} {name}({variable}) = 1"
        return f"∫ {name}({variable}) d{variable} = 1"

    def declaration(self) -> str:
        """`\\int p(x) dx = 1`, as `assume:` reads it."""
        name, variable = latex_name(self.function), latex_name(str(self.variable))
        if self.summed:
            return f"\\sum_{variable} {name}({variable}) = 1"
        return f"\\int {name}({variable}) d{variable} = 1"


def integrate_out(expr: sympy.Expr, densities: Container[str] | None
                  ) -> tuple[sympy.Expr, list[Normalised]]:
    """`expr` with each integral over all of x (no bounds, or -∞ to ∞), and each sum over
    x, of `p(x) F` with F free of x made `F` (`\\int p(x) dx` made 1), for the densities
    named in `densities` (every unknown function applied to x when None); and what was
    taken out. `p(x | θ)` counts (its other arguments do not use x); `p(x, z)`, a product
    of two densities of x, or bounds of an integral do not (what adds up to 1 there is
    not said)."""
    found: list[Normalised] = []

    def rewrite(node: sympy.Basic) -> sympy.Basic:
        if len(node.limits) != 1:
            return node
        limit = node.limits[0]
        variable = limit[0]
        summed = isinstance(node, sympy.Sum)
        if not summed and len(limit) == 3 and (limit[1], limit[2]) != (-sympy.oo, sympy.oo):
            return node
        if not summed and len(limit) == 2:
            return node
        factors = _factors(node.function)
        weights = [factor for factor in factors if _density_of(factor, variable, densities)]
        rest = [factor for factor in factors if factor not in weights]
        if len(weights) != 1 or any(variable in factor.free_symbols for factor in rest):
            return node
        found.append(Normalised(str(weights[0].func), variable, summed))
        return sympy.Mul(*rest)

    rewritten = expr.replace(lambda node: isinstance(node, sympy.Integral | sympy.Sum), rewrite)
    return rewritten, found


def _factors(expr: sympy.Basic) -> list[sympy.Basic]:
    """The factors of a product, nested products (`1*(c*p(x))`, as the compiler leaves
    an integral's body) taken apart, factors of 1 left out."""
    if isinstance(expr, sympy.Mul):
        return [inner for factor in expr.args for inner in _factors(factor)]
    return [] if expr == 1 else [expr]


def _density_of(factor: sympy.Basic, variable: sympy.Symbol,
                densities: Container[str] | None) -> bool:
    """Is `factor` `p(x)` (or `p(x | θ)`) of a density named in `densities`?"""
    if not isinstance(factor, AppliedUndef) or not factor.args \
            or factor.args[0] != variable:
        return False
    if densities is not None and str(factor.func) not in densities:
        return False
    return all(variable not in argument.free_symbols for argument in factor.args[1:])


Agree = Callable[[sympy.Expr, sympy.Expr], bool]


def normalisation_hint(lhs: sympy.Expr, rhs: sympy.Expr, agree: Agree) -> str | None:
    """Why a step that cannot be decided (or fails) as it stands would hold if the
    densities it integrates added up to 1 (`holds if ∫ p(x) dx = 1: declare it with
    …`), or None. `agree` compares the rewritten sides."""
    new_lhs, on_left = integrate_out(lhs, None)
    new_rhs, on_right = integrate_out(rhs, None)
    taken = list(dict.fromkeys(on_left + on_right))
    if not taken or not (agree(new_lhs, new_rhs) or _same_up_to_unknowns(new_lhs, new_rhs)):
        return None
    conditions = " and ".join(item.condition() for item in taken)
    declarations = ", ".join(item.declaration() for item in taken)
    kind = "a distribution" if all(item.summed for item in taken) else "a density"
    return (f"holds if {conditions} ({kind}): declare it with "
            f"`<!-- assume: {declarations} -->`")


def _same_up_to_unknowns(lhs: sympy.Expr, rhs: sympy.Expr) -> bool:
    """Are the sides the same expression of the unknown functions' values
    (`\\log p(x)` both)? Only where no integral, sum or derivative is left that an
    application's value could depend on."""
    difference = lhs - rhs
    if difference.has(sympy.Integral, sympy.Sum, sympy.Derivative, sympy.Product):
        return False
    generic = {node: sympy.Dummy(f"unknown{number}") for number, node in
               enumerate(sorted(difference.atoms(AppliedUndef), key=sympy.default_sort_key))}
    try:
        return bool(sympy.expand(difference.xreplace(generic)) == 0)
    except Exception:
        return False


