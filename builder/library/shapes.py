"""A formula's shape: one side of a compiled equation put in the form the library compares
(what stays when the symbols are renamed), and its values at given points.

Notes write the same quantity many ways: `p(x)` summed over `x` is the array `p_x`;
`\\int … dx` is compared as a sum over the same points (what differs between two
densities' formulas differs between their values at any points); `\\theta_{t+1}`,
`\\frac{\\partial L}{\\partial \\theta_t}` and `Q(S_t, A_t)` are quantities of their own,
each one scalar; `\\log_2` is compared as `\\log` (the base is a variant, never a
mistake). What is left is a sympy expression of scalars and arrays, evaluated with the
formula stage's numpy evaluator (`builder.formula.Formula`).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from builder.formula import Formula

__all__ = ["Shape", "shape_of"]

_SIGMOID_NAMES = frozenset({"sigmoid", "Sigmoid", "sigma", "logistic"})


@dataclass(frozen=True, slots=True)
class Shape:
    """A side ready to compare: its expression, its scalar symbols and its arrays (name
    and number of indices), the free index of an array-valued side (`k` of `y_k`)."""

    expr: Any
    scalars: tuple[str, ...]
    arrays: tuple[tuple[str, int], ...]
    free_index: str | None
    operations: int
    """sympy's count of operations: how much of the formula there is to recognise."""

    @property
    def signature(self) -> tuple[int, tuple[int, ...]]:
        """What a renaming keeps: the number of scalars and the arrays' dimensions."""
        return len(self.scalars), tuple(sorted(ndim for _, ndim in self.arrays))

    def values(self, point: Mapping[str, Any]) -> Any:
        """The side's value at `point` ({name: float or array}) as a flat float array,
        or None where it cannot be computed (outside its domain, an unknown function)."""
        import numpy as np

        names = (*self.scalars, *(name for name, _ in self.arrays))
        evaluate = Formula("", "", self.expr, tuple(sorted(names)), self.free_index, 0)
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                result = np.asarray(evaluate(**{name: point[name] for name in names}))
        except Exception:  # what numpy cannot evaluate is not comparable: no verdict
            return None
        if result.dtype.kind == "c":
            if np.any(np.abs(result.imag) > 1e-9 * np.maximum(1.0, np.abs(result.real))):
                return None
            result = result.real
        if result.dtype.kind not in "biuf":
            return None
        return result.astype(float).ravel()


def shape_of(expr: Any) -> Shape | None:
    """The shape of one compiled side, or None when there is nothing to compare in it
    (a bare name, a number, something that is not a scalar expression)."""
    import sympy

    if expr is None or not isinstance(expr, sympy.Expr) or getattr(expr, "is_Matrix", False):
        return None
    with contextlib.suppress(Exception):
        expr = _normalized(expr)
        indices = _bound_indices(expr)
        arrays: dict[str, int] = {}
        for item in expr.atoms(sympy.Indexed):
            arrays[str(item.base.label)] = len(item.indices)
        used_indices = {str(symbol) for item in expr.atoms(sympy.Indexed)
                        for index in item.indices for symbol in index.free_symbols}
        free = sorted(used_indices - indices)
        free_index = free[0] if len(free) == 1 else None
        if len(free) > 1:
            return None
        scalars = sorted(str(symbol) for symbol in expr.free_symbols
                         if isinstance(symbol, sympy.Symbol)
                         and not str(symbol).startswith("#")
                         and str(symbol) not in indices and str(symbol) != free_index
                         and str(symbol) not in arrays)
        if not scalars and not arrays:
            return None
        return Shape(expr, tuple(scalars), tuple(sorted(arrays.items())), free_index,
                     int(sympy.count_ops(expr)))
    return None


def _bound_indices(expr: Any) -> set[str]:
    import sympy

    return {str(limit[0]) for node in expr.atoms(sympy.Sum, sympy.Product)
            for limit in node.limits}


def _normalized(expr: Any) -> Any:
    """The side with its notation taken out (module docstring)."""
    import sympy
    from sympy.core.function import AppliedUndef

    expr = _integrals_as_sums(expr)
    indices = {sympy.Symbol(name) for name in _bound_indices(expr)}
    replacements: dict[Any, Any] = {}
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.Derivative):
            replacements[node] = sympy.Symbol(_opaque_name(node))
        elif isinstance(node, AppliedUndef):
            name = str(node.func)
            if name in _SIGMOID_NAMES and len(node.args) == 1:
                replacements[node] = 1 / (1 + sympy.exp(-node.args[0]))
            elif name.lower() == "relu" and len(node.args) == 1:
                replacements[node] = sympy.Max(0, node.args[0])
            elif node.args and all(_is_index(arg, indices) for arg in node.args):
                replacements[node] = sympy.IndexedBase(name)[node.args]
            else:
                replacements[node] = sympy.Symbol(_opaque_name(node))
        elif isinstance(node, sympy.Indexed) and not all(
                _is_index(index, indices) for index in node.indices):
            replacements[node] = sympy.Symbol(_opaque_name(node))
    if replacements:
        expr = _replace_outermost(expr, replacements)
    # `\log_2 x` is `log(x)/log(2)` (or a `log` of two arguments left unevaluated): the
    # base is a variant of the notes, not a mistake.
    expr = expr.replace(lambda node: isinstance(node, sympy.log) and len(node.args) == 2,
                        lambda node: sympy.log(node.args[0]))
    return expr.xreplace({sympy.log(2): sympy.Integer(1), sympy.log(10): sympy.Integer(1)})


def _is_index(arg: Any, indices: set[Any]) -> bool:
    """`x` of `p(x)` summed over `x`, or a free index (a symbol of one letter, `k` of
    `y_k`, `i` of `z_i`): the function is an array over it."""
    import sympy

    if not isinstance(arg, sympy.Symbol):
        return False
    return arg in indices or (len(arg.name) == 1 and arg.name in "ijklmn")


def _replace_outermost(expr: Any, replacements: Mapping[Any, Any]) -> Any:
    """`expr` with each node of `replacements` replaced, outer nodes first (an inner one
    inside a replaced node goes with it)."""
    if expr in replacements:
        return replacements[expr]
    if not expr.args:
        return expr
    args = [_replace_outermost(arg, replacements) for arg in expr.args]
    if all(new is old for new, old in zip(args, expr.args, strict=True)):
        return expr
    return expr.func(*args)


def _integrals_as_sums(expr: Any) -> Any:
    import sympy

    def as_sum(node: Any) -> Any:
        body = node.function
        for limit in node.limits:
            variable = limit[0]
            if len(limit) != 1:
                raise ValueError("a definite integral")
            body = sympy.Sum(body, (variable, 1, sympy.Symbol(f"#{variable}", integer=True,
                                                              positive=True)))
        return body

    return expr.replace(lambda node: isinstance(node, sympy.Integral), as_sum)


def _opaque_name(node: Any) -> str:
    """A quantity of its own (`theta[t + 1]`, `Derivative(L, theta_t)`): named by how
    sympy prints it, so that the same quantity is one symbol throughout a card."""
    return "".join(str(node).split())
