"""Steps between products of matrices and vectors, compared at random matrices.

The numbers a step is first compared at commute: `x y^T` and `y x^T`, or `(AB)^{-1}`
and `A^{-1} B^{-1}`, agree as numbers whatever the order of their factors. Such a step
passes only when it also holds at random matrices, each name of the step standing for
one: a capital (`\\mathbf{W}`, `\\Sigma`) a square matrix, a lower-case name
(`\\mathbf{x}`, `\\vec{a}`) a column vector of the same size, and the letters notes use
for scalars (`\\lambda`, `\\eta`) a number. A product that comes out 1×1 (`x^T y`) is a
number. A side whose shapes do not fit together (`A^T x^T`) cannot be evaluated so.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy

__all__ = ["agree_as_matrices"]

_SIZE = 4
_TRIALS = 3
_SCALARS = re.compile(r"(?:lambda|alpha|beta|gamma|eta|epsilon|varepsilon|sigma|tau|rho|"
                      r"kappa|nu)(?:_\w+)?")
"""Non-commutative names (every name of an equation with a matrix in it is) that notes
use for numbers: a weight, a rate, a scale."""


class _Unknown(Exception):
    """A part of a side this evaluation cannot give a matrix for."""


def agree_as_matrices(lhs: sympy.Expr, rhs: sympy.Expr, seed: int) -> bool | None:
    """Do the sides agree at a few random choices of matrices, vectors and numbers for
    their names (module docstring)? None when a part of either side cannot be evaluated
    so (an unknown function, a sum, a power of a vector)."""
    rng = np.random.default_rng(seed)
    # (An element `v_i` is a name of its own, here the i-th of some vectors: its label
    # and index are no names beside it.)
    elements = lhs.atoms(sympy.Indexed) | rhs.atoms(sympy.Indexed)
    inside = {symbol for element in elements for symbol in element.free_symbols}
    plain = (lhs.xreplace({element: sympy.Integer(1) for element in elements}).free_symbols
             | rhs.xreplace({element: sympy.Integer(1) for element in elements}).free_symbols)
    if plain & inside:
        return None  # `v` beside `v_i`: which is which cannot be told here
    names = sorted(plain | elements, key=str)
    if any(not isinstance(name, sympy.Symbol | sympy.Indexed) for name in names):
        return None
    for _ in range(_TRIALS):
        values = {name: _draw(name, rng) for name in names}
        try:
            with np.errstate(all="raise"):
                left, right = _value(lhs, values), _value(rhs, values)
        except (_Unknown, FloatingPointError, np.linalg.LinAlgError, ValueError):
            return None
        if np.shape(left) != np.shape(right) or not np.allclose(left, right, rtol=1e-8,
                                                                 atol=1e-10):
            return False
    return True


def _draw(symbol: sympy.Symbol | sympy.Indexed, rng: np.random.Generator) -> Any:
    name = str(symbol.base.label) if isinstance(symbol, sympy.Indexed) else symbol.name
    if symbol.is_commutative is not False or _SCALARS.fullmatch(name):
        return float(rng.uniform(0.5, 2.0)) * rng.choice((-1.0, 1.0))
    return rng.normal(size=(_SIZE, 1 if name[:1].islower() else _SIZE))


_FUNCTIONS: dict[str, Callable[[Any], Any]] = {"exp": np.exp, "log": np.log,
                                               "sqrt": np.sqrt}


def _value(expr: sympy.Basic, values: dict[Any, Any]) -> Any:
    """The side's value: a number or a `_SIZE`×`_SIZE` array."""
    if isinstance(expr, sympy.Symbol | sympy.Indexed):
        return values[expr]
    if expr.is_Number:
        return float(expr)
    if isinstance(expr, sympy.Add):
        parts = [_value(arg, values) for arg in expr.args]
        if len({np.shape(part) for part in parts}) > 1:
            raise _Unknown("a sum of different shapes")
        return sum(parts[1:], parts[0])
    if isinstance(expr, sympy.Mul):
        # sympy keeps the order of non-commutative factors; a row times a column
        # (`x^T y` inside `A x^T y`) is a number wherever it stands, so those first
        factors = [_value(arg, values) for arg in expr.args]
        position = 0
        while position + 1 < len(factors):
            first, second = factors[position], factors[position + 1]
            if np.ndim(first) and np.ndim(second) and np.shape(first)[0] == 1 \
                    and np.shape(second)[1] == 1 and np.shape(first)[1] == np.shape(second)[0]:
                factors[position:position + 2] = [float((first @ second)[0, 0])]
                position = max(position - 1, 0)
            else:
                position += 1
        product: Any = 1.0
        for value in factors:
            if np.ndim(product) and np.ndim(value):
                if np.shape(product)[1] != np.shape(value)[0]:
                    raise _Unknown("a product whose shapes do not fit")
                product = product @ value
                if np.shape(product) == (1, 1):
                    product = float(product[0, 0])  # x^T y: a number
            else:
                product = product * value
        return product
    if isinstance(expr, sympy.Pow):
        base = _value(expr.args[0], values)
        if not np.ndim(base):
            return base ** _value(expr.args[1], values)
        if not expr.args[1].is_Integer:
            raise _Unknown("a matrix to a power that is not whole")
        exponent = int(expr.args[1])
        if np.shape(base)[0] != np.shape(base)[1]:
            raise _Unknown("a power of a vector")
        if exponent < 0:
            base, exponent = np.linalg.inv(base), -exponent
        return np.linalg.matrix_power(base, exponent)
    name = type(expr).__name__
    if name == "transpose":
        inner = _value(expr.args[0], values)
        return inner.T if np.ndim(inner) else inner
    if name == "Inner":
        first, second = (_value(arg, values) for arg in expr.args)
        if np.shape(first) == np.shape(second) == (_SIZE, 1):
            return float((first.T @ second)[0, 0])  # two vectors: their inner product
        raise _Unknown("an inner product of numbers")
    function = _FUNCTIONS.get(name)
    if function is not None and len(expr.args) == 1:
        inner = _value(expr.args[0], values)
        if np.ndim(inner):
            raise _Unknown("a function of a matrix")
        with contextlib.suppress(TypeError):
            return function(inner)
    raise _Unknown(name)
