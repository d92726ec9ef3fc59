"""Numbers from compiled equations: `formula()` (a `card.eq` for snippets, evaluated
with numpy arrays, sums and products as array reductions) and `numeric_function()` (plain
complex arithmetic at the checker's random points, sympy's slow path only where it must)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from builder.formula.context import Declarations
from builder.formula.equations import compile_equation, head_index
from builder.formula.functions import InnerProduct
from builder.formula.results import Chain
from builder.formula.tokens import read_tokens
from builder.model import Equation


@dataclass(frozen=True, slots=True)
class Formula:
    """`card.eq` (docs/format.md): an equation's right-hand side (after its last `=`) as a numpy
    function of its symbols."""

    lhs: str
    """LaTeX of the side before the last `=` ("" when the equation has none)."""
    rhs: str
    expr: Any
    """The sympy expression of the right-hand side."""
    symbols: tuple[str, ...]
    """The names `__call__` accepts (Python names, sorted); indexed ones take 1-D arrays."""
    free_index: str | None
    """The left side's free index (`k` in `y_k = …`): the output axis."""
    line: int
    indices: tuple[str, ...] = field(default=(), repr=False, compare=False)
    """Every index, an array axis each: the free one first, then each sum's and
    product's in the order they appear (worked out once, not on every evaluation)."""
    index_names: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    """Arguments that say where to look (`i` of `x_{i+m}`, the `F` of
    `\\sum_{m=0}^{F-1}`): one number each per evaluation."""

    def __post_init__(self) -> None:
        # made without them (builder.library's shapes build a Formula of a bare
        # expression): worked out here, once, as formula() does
        if not self.indices:
            object.__setattr__(self, "indices", _indices(self.expr, self.free_index))
        if not self.index_names:
            object.__setattr__(self, "index_names", _index_names(self.expr, self.symbols))

    def __call__(self, **values: Any) -> Any:
        missing = [name for name in self.symbols if name not in values]
        unknown = [name for name in values if name not in self.symbols]
        if missing or unknown:
            problems = []
            if missing:
                problems.append(f"missing {', '.join(missing)}")
            if unknown:
                problems.append(f"unknown {', '.join(unknown)}")
            raise TypeError(f"{'; '.join(problems)}: the equation at line {self.line} "
                            f"takes {', '.join(self.symbols) or 'no names'}")
        return _evaluate_formula(self, values)

    def __repr__(self) -> str:
        return f"<Formula {self.lhs} = {self.rhs}>" if self.lhs else f"<Formula {self.rhs}>"


def formula(equation: Equation, declarations: Declarations | None = None) -> Formula:
    """The equation as a `Formula`, or ValueError saying why it does not compile."""
    compiled = compile_equation(equation, declarations)
    if compiled.reason:
        raise ValueError(compiled.reason)
    chosen: tuple[Chain, int] | None = None
    for chain in compiled.chains:
        for position, relation in enumerate(chain.relations):
            if relation == "=":
                chosen = (chain, position + 1)
    if chosen is None:
        if len(compiled.chains) != 1 or len(compiled.chains[0].sides) != 1:
            raise ValueError("no `=` and more than one expression")
        chosen = (compiled.chains[0], 0)
    chain, position = chosen
    rhs = chain.sides[position]
    lhs = chain.sides[position - 1] if position > 0 else None
    if rhs.expr is None:
        raise ValueError(rhs.reason or "the right-hand side does not compile")
    free_index = None
    if lhs is not None:
        head = head_index(read_tokens(lhs.tex)) if lhs.tex else None
        if head is not None and head in {str(i) for item in _indexed(rhs.expr)
                                         for i in item.indices}:
            free_index = head
    symbols = _arguments(rhs.expr, free_index)
    return Formula(lhs.tex if lhs is not None else "", rhs.tex, rhs.expr, symbols,
                   free_index, rhs.line, _indices(rhs.expr, free_index),
                   _index_names(rhs.expr, symbols))


def _indexed(expr: Any) -> set[Any]:
    import sympy

    return set(expr.atoms(sympy.Indexed))


def _arguments(expr: Any, free_index: str | None) -> tuple[str, ...]:
    import sympy

    names: set[str] = set()
    bases = {item.base.label for item in expr.atoms(sympy.Indexed)}
    for symbol in expr.free_symbols:
        if symbol in bases or str(symbol).startswith("#") or str(symbol) == free_index \
                or str(symbol) in ("|", "…"):
            continue
        if isinstance(symbol, sympy.Symbol):
            names.add(str(symbol))
    names |= {str(base) for base in bases}
    return tuple(sorted(names))


def _numeric(value: Any) -> Any:
    """An array of floats, or of complex numbers when complex ones are given: never a
    silent cast that drops the imaginary part."""
    import numpy as np

    array = np.asarray(value)
    if array.dtype.kind == "c":
        return array
    return array.astype(float) if array.dtype.kind in "biuf" else np.asarray(value, dtype=float)


def _index_names(expr: Any, symbols: Sequence[str]) -> frozenset[str]:
    """`Formula.index_names`."""
    import sympy

    names: set[str] = set()
    for item in expr.atoms(sympy.Indexed):
        for index in item.indices:
            names |= {str(symbol) for symbol in index.free_symbols}
    for node in expr.atoms(sympy.Sum, sympy.Product):
        for limit in node.limits:
            for bound in limit[1:]:
                names |= {str(symbol) for symbol in bound.free_symbols}
    return frozenset(names & set(symbols))


def _indices(expr: Any, free_index: str | None) -> tuple[str, ...]:
    """`Formula.indices`."""
    import sympy

    indices: list[str] = [free_index] if free_index else []
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, (sympy.Sum, sympy.Product)):
            for limit in node.limits:
                if str(limit[0]) not in indices:
                    indices.append(str(limit[0]))
    return tuple(indices)


def _evaluate_formula(formula_: Formula, values: Mapping[str, Any]) -> Any:
    import numpy as np

    looped = sorted(name for name in formula_.index_names if np.ndim(values[name]) > 0)
    if not looped:
        return _evaluate_once(formula_, values)
    # `y_i = \\sum_m x_{i+m} w_m` with an array of i: one evaluation per value of i (an
    # index picks elements, so it cannot simply broadcast), results stacked in its shape.
    try:
        grids = np.broadcast_arrays(*(np.asarray(values[name]) for name in looped))
    except ValueError as error:
        raise TypeError(f"the index arrays {', '.join(looped)} do not broadcast: "
                        f"{error}") from None
    if any(grid.dtype.kind not in "biu" and not np.all(np.mod(grid, 1) == 0)
           for grid in grids):
        raise TypeError(f"{', '.join(looped)}: an index takes whole numbers")
    results = []
    for position in np.ndindex(grids[0].shape):
        scalar = dict(values)
        scalar.update({name: int(grid[position]) for name, grid in zip(looped, grids,
                                                                         strict=True)})
        results.append(np.asarray(_evaluate_once(formula_, scalar)))
    stacked = np.stack(results) if results else np.empty((0,))
    return stacked.reshape(grids[0].shape + stacked.shape[1:])


def _evaluate_once(formula_: Formula, values: Mapping[str, Any]) -> Any:
    import numpy as np

    expr = formula_.expr
    indices = formula_.indices
    arrays = {name: _numeric(value) for name, value in values.items()}
    evaluator = _NumpyEvaluator(arrays, indices)
    # Each index has an axis of its own, in `indices` order (the free index first); sums
    # keep theirs at length 1, so they are squeezed away at the end.
    if formula_.free_index:
        length = evaluator.length_of(expr, formula_.free_index)
        evaluator.bind(formula_.free_index, 1, length)
    result = _numeric(evaluator.value(expr))
    if indices:
        shape = [1] * len(indices)
        if formula_.free_index:
            shape[0] = length
        result = np.broadcast_to(result, np.broadcast_shapes(result.shape, tuple(shape)))
        reduced = tuple(range(1 if formula_.free_index else 0, len(indices)))
        result = result.squeeze(axis=reduced) if reduced else result
    if result.ndim == 0:
        return complex(result) if result.dtype.kind == "c" else float(result)
    return result


class _NumpyEvaluator:
    """A sympy expression evaluated with numpy: each index (the free one, each sum's)
    gets an axis of its own, so sums and products are array reductions."""

    def __init__(self, values: Mapping[str, Any], indices: Sequence[str]) -> None:
        self.values = values
        self.indices = list(indices)
        self.bound: dict[str, tuple[Any, int]] = {}  # index → (array on its axis, offset)

    def axis_array(self, name: str, low: int, high: int) -> Any:
        import numpy as np

        shape = [1] * len(self.indices)
        axis = self.indices.index(name)
        shape[axis] = max(high - low + 1, 0)
        return np.arange(low, high + 1).reshape(shape)

    def bind(self, name: str, low: int, high: int) -> None:
        self.bound[name] = (self.axis_array(name, low, high), low)

    def length_of(self, expr: Any, index: str) -> int:
        """How far an index without bounds runs: the length of the arrays it indexes."""
        import sympy

        for item in expr.atoms(sympy.Indexed):
            for position, value in enumerate(item.indices):
                if str(value) == index:
                    array = self.values.get(str(item.base.label))
                    if array is not None and getattr(array, "ndim", 0) > position:
                        return int(array.shape[position])
        raise ValueError(f"cannot tell how far {index} runs: no array is indexed by it")

    def value(self, expr: Any) -> Any:
        import numpy as np
        import sympy
        from sympy.core.function import AppliedUndef

        if expr.is_Number:
            return float(expr)
        if expr is sympy.pi:
            return np.pi
        if expr is sympy.E:
            return np.e
        if isinstance(expr, sympy.Symbol):
            name = _name(expr)
            if name in self.bound:
                return self.bound[name][0]
            return self.values[name]
        if isinstance(expr, sympy.Indexed):
            array = self.values[_name(expr.base.label)]
            positions = []
            for index in expr.indices:
                bound = self.bound.get(_name(index))
                offset = bound[1] if bound is not None else 1
                positions.append(np.asarray(self.value(index)).astype(int) - offset)
            return array[tuple(positions)]
        if isinstance(expr, sympy.Add):
            return sum((self.value(arg) for arg in expr.args[1:]), self.value(expr.args[0]))
        if isinstance(expr, sympy.Mul):
            result = self.value(expr.args[0])
            for arg in expr.args[1:]:
                result = result * self.value(arg)
            return result
        if isinstance(expr, sympy.Pow):
            base, exponent = self.value(expr.base), self.value(expr.exp)
            return np.power(_numeric(base), exponent)
        if isinstance(expr, (sympy.Sum, sympy.Product)):
            body = expr.function
            result = None
            (index, low, high), *rest = expr.limits
            name = str(index)
            low_value = int(self.value(low))
            if str(high).startswith("#"):
                high_value = self.length_of(body, name) + low_value - 1
            else:
                high_value = int(self.value(high))
            saved = self.bound.get(name)
            self.bind(name, low_value, high_value)
            try:
                inner = body if not rest else type(expr)(body, *rest)
                values = _numeric(self.value(inner))
                axis = self.indices.index(name)
                full_shape = list(np.broadcast_shapes(values.shape,
                                                      self.bound[name][0].shape))
                values = np.broadcast_to(values, full_shape)
                if isinstance(expr, sympy.Sum):
                    result = values.sum(axis=axis, keepdims=True)
                else:
                    result = values.prod(axis=axis, keepdims=True)
            finally:
                if saved is None:
                    self.bound.pop(name, None)
                else:
                    self.bound[name] = saved
            return result
        functions = _numpy_functions()
        if expr.func in functions:
            return functions[expr.func](*(self.value(arg) for arg in expr.args))
        if isinstance(expr, sympy.Max):
            return functools.reduce(np.maximum, (self.value(arg) for arg in expr.args))
        if isinstance(expr, sympy.Min):
            return functools.reduce(np.minimum, (self.value(arg) for arg in expr.args))
        if isinstance(expr, sympy.factorial):
            from math import gamma

            return np.vectorize(lambda n: gamma(n + 1))(self.value(expr.args[0]))
        if expr.func is InnerProduct.get():
            return np.dot(self.value(expr.args[0]), self.value(expr.args[1]))
        if isinstance(expr, AppliedUndef) and str(expr.func) == "sigma" and len(expr.args) == 1:
            return 1 / (1 + np.exp(-_numeric(self.value(expr.args[0]))))
        if isinstance(expr, AppliedUndef):
            raise ValueError(f"{expr.func}(…) is not defined in this equation")
        if isinstance(expr, sympy.Derivative):
            raise ValueError("a derivative of an unknown quantity has no value")
        raise ValueError(f"cannot evaluate {type(expr).__name__}")




def _name(expr: Any) -> str:
    """A plain symbol's name (what `str()` prints, without running sympy's printer),
    or the expression printed."""
    import sympy

    if type(expr) is sympy.Symbol:
        return str(expr.name)
    return str(expr)


@functools.cache
def _numpy_functions() -> dict[Any, Callable[..., Any]]:
    """sympy's functions the evaluator computes with numpy, and numpy's for them."""
    import numpy as np
    import sympy

    return {
        sympy.exp: np.exp, sympy.log: np.log, sympy.sin: np.sin, sympy.cos: np.cos,
        sympy.tan: np.tan, sympy.tanh: np.tanh, sympy.sinh: np.sinh,
        sympy.cosh: np.cosh, sympy.Abs: np.abs, sympy.floor: np.floor,
        sympy.ceiling: np.ceil, sympy.sign: np.sign, sympy.asin: np.arcsin,
        sympy.acos: np.arccos, sympy.atan: np.arctan,
    }


# --------------------------------------------------------------------------- fast numbers

class _Outside(Exception):
    """The point is outside where the notes mean the expression (a log of a negative
    number, a pole): no value there."""


_MAX_TERMS = 10_000
"""Sums longer than this (per evaluation) are left to sympy."""


class NotNumeric(Exception):
    """An expression (or a value at one point) that plain complex arithmetic cannot
    compute; the checker then evaluates it with sympy."""


@dataclass(frozen=True, slots=True)
class NumericFunction:
    """A sympy expression as plain Python complex arithmetic (`cmath`), for `sheets
    check`'s random points, in place of sympy's much slower `xreplace(…).evalf()`.
    Sums and products are unrolled for the whole bounds of each point. Calling it gives
    the value, None outside where the notes mean it (the same skips as the checker's
    real-number guards: a log of a number that is not positive, a root or non-whole
    power of a negative one; a pole; an overflow), or raises `NotNumeric` for what it
    cannot evaluate (the caller falls back to sympy)."""

    expr: Any
    """The expression evaluated (derivatives of known functions worked out)."""
    run: Callable[[dict[str, complex], Callable[[str, str], float]], complex]

    def __call__(self, point: Mapping[str, float],
                 indexed: Callable[[str, str], float]) -> complex | None:
        """`point`: {name: value}; `indexed(key, label)`: the value of the entry `key`
        (`x[2]`, as sympy prints it) of the array named `label`."""
        import cmath

        env = {name: complex(value) for name, value in point.items()}
        try:
            value = self.run(env, indexed)
        except (_Outside, ZeroDivisionError, OverflowError, ValueError):
            return None
        if not (cmath.isfinite(value)):
            return None
        return value


def numeric_function(expr: Any) -> NumericFunction:
    """The expression as a `NumericFunction` (cached per expression); `NotNumeric`
    when it uses something without a plain numeric meaning (an unknown function, an
    integral, an infinite sum)."""
    try:
        return _numeric_function_cached(expr)
    except TypeError as error:  # unhashable
        raise NotNumeric(str(error)) from None


@functools.lru_cache(maxsize=4096)
def _numeric_function_cached(expr: Any) -> NumericFunction:
    import sympy

    if expr.has(sympy.Derivative):
        try:
            expr = expr.replace(lambda node: isinstance(node, sympy.Derivative),
                                lambda node: node.doit())
        except Exception as error:
            raise NotNumeric(f"derivative: {error}") from None
    return NumericFunction(expr, _numeric_builder(expr))


def _whole(value: complex) -> int:
    if value.imag != 0 or not float(value.real).is_integer():
        raise NotNumeric("a bound or index that is not a whole number")
    return int(value.real)


def _real(value: complex) -> float:
    if abs(value.imag) > 1e-12 * max(1.0, abs(value.real)):
        raise _Outside
    return value.real


def _numeric_builder(expr: Any) -> Callable[..., complex]:
    """`expr` as a closure `(env, indexed) -> complex`."""
    import cmath
    import math

    import sympy

    if expr.is_Number:
        if expr.is_infinite or expr is sympy.nan or expr.is_finite is False:
            raise NotNumeric("an infinite number")
        constant = complex(expr)
        return lambda env, indexed: constant
    if expr is sympy.pi or expr is sympy.E or expr is sympy.I or expr is sympy.EulerGamma:
        constant = complex(expr.evalf(20))
        return lambda env, indexed: constant
    if isinstance(expr, sympy.Symbol):
        name = expr.name

        def symbol(env: dict[str, complex], indexed: Callable[[str, str], float]) -> complex:
            try:
                return env[name]
            except KeyError:
                raise NotNumeric(f"no value for {name}") from None
        return symbol
    if isinstance(expr, sympy.Indexed):
        label = str(expr.base.label)
        positions = [_numeric_builder(index) for index in expr.indices]
        static = str(expr) if not any(index.free_symbols for index in expr.indices) else None

        def element(env: dict[str, complex], indexed: Callable[[str, str], float]) -> complex:
            if static is not None:
                return complex(indexed(static, label))
            key = f"{label}[{', '.join(str(_whole(p(env, indexed))) for p in positions)}]"
            return complex(indexed(key, label))
        return element
    if isinstance(expr, sympy.Add):
        terms = [_numeric_builder(arg) for arg in expr.args]
        return lambda env, indexed: sum((term(env, indexed) for term in terms), 0j)
    if isinstance(expr, sympy.Mul):
        factors = [_numeric_builder(arg) for arg in expr.args]

        def product(env: dict[str, complex], indexed: Callable[[str, str], float]) -> complex:
            result = 1 + 0j
            for factor in factors:
                result *= factor(env, indexed)
            return result
        return product
    if isinstance(expr, sympy.Pow):
        base, exponent = _numeric_builder(expr.base), _numeric_builder(expr.exp)
        guarded = not expr.base.is_number

        def power(env: dict[str, complex], indexed: Callable[[str, str], float]) -> complex:
            b, e = base(env, indexed), exponent(env, indexed)
            whole = e.imag == 0 and float(e.real).is_integer()
            if guarded and not whole and (abs(b.imag) > 1e-12 or b.real < 0):
                raise _Outside  # a root of a negative number: not what the notes mean
            if whole and b.imag == 0:
                if b.real == 0 and e.real < 0:
                    raise _Outside  # a pole
                return complex(b.real ** int(e.real))
            if b == 0:
                if e.real > 0:
                    return 0j
                raise _Outside
            return complex(b ** e)
        return power
    if isinstance(expr, (sympy.Sum, sympy.Product)):
        body = _numeric_builder(expr.function)
        limits = [(str(limit[0]), _numeric_builder(limit[1]), _numeric_builder(limit[2]))
                  for limit in expr.limits]
        is_sum = isinstance(expr, sympy.Sum)

        def reduce(env: dict[str, complex], indexed: Callable[[str, str], float],
                   level: int) -> complex:
            if level < 0:
                return body(env, indexed)
            name, low_of, high_of = limits[level]
            low, high = _whole(low_of(env, indexed)), _whole(high_of(env, indexed))
            # Karr's convention, as sympy: a sum from a to b < a is minus the sum from
            # b + 1 to a - 1 (a product: its reciprocal)
            invert = high < low - 1
            start, stop = (high + 1, low - 1) if invert else (low, high)
            if stop - start + 1 > _MAX_TERMS:
                raise NotNumeric("a long sum")
            saved = env.get(name)
            result = 0j if is_sum else 1 + 0j
            try:
                for value in range(start, stop + 1):
                    env[name] = complex(value)
                    term = reduce(env, indexed, level - 1)
                    result = result + term if is_sum else result * term
            finally:
                if saved is None:
                    env.pop(name, None)
                else:
                    env[name] = saved
            if invert:
                result = -result if is_sum else 1 / result
            return result

        outermost = len(limits) - 1
        return lambda env, indexed: reduce(env, indexed, outermost)
    if isinstance(expr, sympy.log) and len(expr.args) == 1:
        argument = _numeric_builder(expr.args[0])

        def logarithm(env: dict[str, complex], indexed: Callable[[str, str], float]) -> complex:
            value = argument(env, indexed)
            if abs(value.imag) > 1e-12 or value.real <= 0:
                raise _Outside
            return complex(math.log(value.real))
        return logarithm
    plain: dict[Any, Callable[[complex], complex]] = {
        sympy.exp: cmath.exp, sympy.sin: cmath.sin, sympy.cos: cmath.cos,
        sympy.tan: cmath.tan, sympy.tanh: cmath.tanh, sympy.sinh: cmath.sinh,
        sympy.cosh: cmath.cosh, sympy.asin: cmath.asin, sympy.acos: cmath.acos,
        sympy.atan: cmath.atan, sympy.Abs: lambda z: complex(abs(z)),
        sympy.floor: lambda z: complex(math.floor(_real(z))),
        sympy.ceiling: lambda z: complex(math.ceil(_real(z))),
        sympy.sign: lambda z: complex((_real(z) > 0) - (_real(z) < 0)),
        sympy.factorial: lambda z: complex(math.gamma(_real(z) + 1)),
    }
    if expr.func in plain and len(expr.args) == 1:
        function, argument = plain[expr.func], _numeric_builder(expr.args[0])
        return lambda env, indexed: function(argument(env, indexed))
    if expr.func is InnerProduct.get():  # `w^T x` at scalar points: the product, as sympy's
        left, right = (_numeric_builder(arg) for arg in expr.args)
        return lambda env, indexed: left(env, indexed) * right(env, indexed)
    if isinstance(expr, sympy.binomial) and len(expr.args) == 2:
        top_of, bottom_of = (_numeric_builder(arg) for arg in expr.args)

        def binomial(env: dict[str, complex], indexed: Callable[[str, str], float]) -> complex:
            top, bottom = _real(top_of(env, indexed)), _real(bottom_of(env, indexed))
            if top.is_integer() and bottom.is_integer() and top >= 0:
                return complex(math.comb(int(top), int(bottom)) if bottom >= 0 else 0)
            if top.is_integer() or bottom.is_integer():
                raise NotNumeric("a binomial of a negative whole number")
            return complex(math.gamma(top + 1) / (math.gamma(bottom + 1)
                                                  * math.gamma(top - bottom + 1)))
        return binomial
    if isinstance(expr, (sympy.Max, sympy.Min)):
        arguments = [_numeric_builder(arg) for arg in expr.args]
        choose = max if isinstance(expr, sympy.Max) else min
        return lambda env, indexed: complex(choose(_real(a(env, indexed)) for a in arguments))
    raise NotNumeric(f"no plain numeric meaning: {type(expr).__name__}")
