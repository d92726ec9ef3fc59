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
import functools
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from builder.formula import Formula, NotNumeric, NumericFunction, numeric_function

__all__ = ["Shape", "elementwise", "shape_of"]

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
        """The side's value at `point` ({name: float or array}) as a flat float array
        (one value, or one per value of the free index), or None where it has none
        (outside its domain: a log of a negative number, a pole; an unknown function)."""
        import numpy as np

        plan = _plan(self.expr, self.free_index)
        if plan is None:
            return self._values_by_formula(point)
        function, bounds = plan
        env: dict[str, float] = {name: float(point[name]) for name in self.scalars}
        for bound, (array, axis) in bounds.items():
            env[bound] = float(np.shape(point[array])[axis])

        def element(key: str, label: str) -> float:
            indices = tuple(int(part) - 1 for part in key[len(label) + 1:-1].split(","))
            if any(index < 0 for index in indices):
                raise IndexError(key)
            return float(np.asarray(point[label])[indices])

        results = []
        for env_point in self._free_points(env, bounds):
            try:
                value = function(env_point, element)
            except (NotNumeric, IndexError):
                return self._values_by_formula(point)
            if value is None:
                return None
            if abs(value.imag) > 1e-9 * max(1.0, abs(value.real)):
                return None
            results.append(value.real)
        return np.asarray(results, dtype=float)

    def _free_points(self, env: dict[str, float], bounds: Mapping[str, tuple[str, int]]
                     ) -> list[dict[str, float]]:
        if self.free_index is None:
            return [env]
        length = bounds.get(f"#{self.free_index}")
        if length is None:
            return [env]
        count = int(env[f"#{self.free_index}"])
        return [{**env, self.free_index: float(value)} for value in range(1, count + 1)]

    def _values_by_formula(self, point: Mapping[str, Any]) -> Any:
        """The values by the formula stage's numpy evaluator (`Formula`), for what plain
        arithmetic cannot compute."""
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


@functools.lru_cache(maxsize=8192)
def _plan(expr: Any, free_index: str | None
          ) -> tuple[NumericFunction, dict[str, tuple[str, int]]] | None:
    """The expression as plain arithmetic (`numeric_function`), and for each sum's
    unwritten bound (`#x`) the array and axis whose length it is; None when it has no
    plain numeric meaning."""
    import sympy

    try:
        function = numeric_function(expr)
    except NotNumeric:
        return None
    bounds: dict[str, tuple[str, int]] = {}
    variables = [symbol for symbol in expr.free_symbols if str(symbol).startswith("#")]
    if free_index is not None:
        variables.append(sympy.Symbol(f"#{free_index}"))
    for variable in variables:
        index = str(variable)[1:]
        for item in expr.atoms(sympy.Indexed):
            for axis, position in enumerate(item.indices):
                if str(position) == index:
                    bounds[str(variable)] = (str(item.base.label), axis)
        if str(variable) not in bounds:
            return None
    return function, bounds


def shape_of(expr: Any, *, normalized: bool = False) -> Shape | None:
    """The shape of one compiled side, or None when there is nothing to compare in it
    (a bare name, a number, something that is not a scalar expression). `normalized`:
    `expr` is already in the library's form (a mistake made on an entry's formula)."""
    import sympy

    if expr is None or not isinstance(expr, sympy.Expr) or getattr(expr, "is_Matrix", False):
        return None
    with contextlib.suppress(Exception):
        if not normalized:
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
                     0 if normalized else int(sympy.count_ops(expr)))
    return None


def _bound_indices(expr: Any) -> set[str]:
    import sympy

    return {str(limit[0]) for node in expr.atoms(sympy.Sum, sympy.Product)
            for limit in node.limits}


def _normalized(expr: Any) -> Any:
    """The side with its notation taken out (module docstring)."""
    import sympy
    from sympy.core.function import AppliedUndef

    expr = _integrals_as_sums(_whole_sums(expr))
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


def elementwise(shape: Shape) -> Shape | None:
    """An element-wise formula as the scalar one it applies to each element:
    `\\frac{1}{1 + e^{-a_i}}` is the sigmoid of `a`, `\\frac{x_i - \\mu}{\\sigma}` a
    standardisation (a new-user trial saw both fail against the entries they link, "no
    formula has the symbols"). None unless every element is taken at one and the same
    index and nothing is summed over. For a card that links an entry: elsewhere `z_i`
    may be the i-th of many vectors, and the formula no scalar one at all."""
    import sympy

    expr = shape.expr
    if expr.atoms(sympy.Sum, sympy.Product):
        return None
    elements = expr.atoms(sympy.Indexed)
    taken_at = {item.indices for item in elements}
    if len(taken_at) != 1:
        return None
    (indices,) = taken_at
    if len(indices) != 1 or not isinstance(indices[0], sympy.Symbol) \
            or indices[0] in _scalar_uses(expr, elements):
        return None
    scalar = expr.xreplace({item: sympy.Symbol(str(item.base.label)) for item in elements})
    return shape_of(scalar, normalized=True)


def _scalar_uses(expr: Any, elements: set[Any]) -> set[Any]:
    """The symbols `expr` uses outside its elements (`i` in `x_i + i` is a number too)."""
    import sympy

    hidden = expr.xreplace({item: sympy.Dummy() for item in elements})
    return set(hidden.free_symbols)


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


def _whole_sums(expr: Any) -> Any:
    """`\\sum_{k=1}^{K}` as `\\sum_k`: a sum from 1 to a bound that is a symbol of its own
    runs over the whole array, as the sum the notes write without bounds (`K` stays
    where the formula uses it besides, `\\frac{1}{N}`)."""
    import sympy

    def whole(node: Any) -> Any:
        limits = []
        for limit in node.limits:
            if len(limit) == 3 and limit[1] == 1 and isinstance(limit[2], sympy.Symbol) \
                    and not str(limit[2]).startswith("#"):
                limit = (limit[0], 1, sympy.Symbol(f"#{limit[0]}", integer=True,
                                                   positive=True))
            limits.append(limit)
        return node.func(node.function, *limits)

    return expr.replace(lambda node: isinstance(node, sympy.Sum | sympy.Product), whole)


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
