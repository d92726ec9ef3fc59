"""One claim `lhs = rhs`: is it a claim at all (`is_claim`), and is it true
(`compare_sides`): numbers at random points of the domain first, then a time-bounded proof.

The rule throughout: never a false alarm. When a step cannot be decided (the values
cannot be computed, a derivative of an unknown quantity), it is `unchecked` with the
reason, not `fail`.
"""

from __future__ import annotations

import contextlib
import math
import random
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from builder.check.domain import POSITIVE_INTERVAL, Domain, sample
from builder.check.limits import OutOfTime, time_limit
from builder.formula import NotNumeric, NumericFunction, numeric_function
from builder.model import Status

if TYPE_CHECKING:
    import sympy

__all__ = ["POINTS", "TOO_LONG", "StepVerdict", "compare_sides", "is_claim", "numbers_agree",
           "split_sums"]


@dataclass(frozen=True, slots=True)
class StepVerdict:
    status: Status
    message: str
    """For `fail`: `a ≠ b at z=0.7 (-0.604 vs 0.604)`; for `unchecked`: the reason."""
    where: str = ""
    """For `fail`: the point, `z=0.7` (empty when the sides have no symbols)."""
    values: str = ""
    """For `fail`: the two values, `-0.604 vs 0.604`."""


TOO_LONG = "evaluating the sides took too long"
"""The reason of a step whose values took longer than the bound to compute."""
POINTS = 6
"""Usable points a claim must agree at before it is called numerically equal."""
_ATTEMPTS = 24
_GIVE_UP = 6
"""Unusable points after which a step with almost no usable one stops trying."""
_RELATIVE_TOLERANCE = 1e-9
_ABSOLUTE_TOLERANCE = 1e-12
_NUMERIC_SECONDS = 2.0
_SYMBOLIC_SECONDS = 1.5
# A step the numbers already confirm gets a short try at a proof: the proof only upgrades
# its message, and simplify() on sums spent seconds per card there. Steps that give no
# numbers (unknown functions: only a proof can pass them) keep the full bound.
_CONFIRM_SECONDS = 0.25
# Numbers that disagree beyond the float tolerance at several points are rarely wrong; a
# proof still gets half a second to overrule them before a step is reported as failing.
_REFUTE_SECONDS = 0.5


def _is_name(expr: sympy.Basic) -> bool:
    """A bare name: `y`, `y_k`, `f(x)`, `\\sigma(z)` read as an unknown function, or the
    derivative of one (`dL/dW` names a quantity; the notes define it)."""
    import sympy
    from sympy.core.function import AppliedUndef

    if isinstance(expr, (sympy.Symbol, sympy.Indexed, sympy.MatrixSymbol)):
        return True
    if isinstance(expr, AppliedUndef):
        return all(isinstance(arg, (sympy.Symbol, sympy.Indexed, sympy.Number))
                   for arg in expr.args)
    if isinstance(expr, sympy.Derivative):
        return _is_name(expr.expr)
    return False


def _free_symbols(expr: sympy.Basic) -> set[sympy.Basic]:
    """`expr.free_symbols`, found without rebuilding sums: sympy's `Sum.free_symbols`
    substitutes each index for itself in the body, which builds the body anew (a third of
    the time spent reading a seed deck's cards went there)."""
    import sympy

    if isinstance(expr, sympy.Sum | sympy.Product) \
            and all(isinstance(limit[0], sympy.Symbol) for limit in expr.limits):
        found = _free_symbols(expr.function)
        for limit in expr.limits:  # as sympy does, innermost first
            if len(limit) == 1:
                found.add(limit[0])
                continue
            found.discard(limit[0])
            for bound in limit[1:]:
                found |= _free_symbols(bound)
        return found
    if expr.args and type(expr).free_symbols is sympy.Basic.free_symbols:
        found = set()
        for arg in expr.args:  # Basic's own rule: the union of its arguments'
            found |= _free_symbols(arg)
        return found
    return set(expr.free_symbols)


def _names(expr: sympy.Basic) -> set[str]:
    """Every name a side uses: symbols (and indexed bases) and unknown functions."""
    import sympy
    from sympy.core.function import AppliedUndef

    names = {str(symbol) for symbol in _free_symbols(expr)}
    names |= {str(item.base.label) for item in expr.atoms(sympy.Indexed)}
    names |= {str(item.func) for item in expr.atoms(AppliedUndef)}
    return names


def _defined_name(expr: sympy.Basic) -> set[str]:
    import sympy
    from sympy.core.function import AppliedUndef

    if isinstance(expr, sympy.Derivative):
        return _defined_name(expr.expr)
    if isinstance(expr, AppliedUndef):
        return {str(expr.func)}
    if isinstance(expr, sympy.Indexed):
        return {str(expr.base.label)}
    return {str(expr)}


def is_claim(lhs: sympy.Basic, rhs: sympy.Basic) -> str | None:
    """None when `lhs = rhs` claims an equality; else why it is not a claim (a definition
    or a substitution, docs/format.md)."""
    for name_side, other in ((lhs, rhs), (rhs, lhs)):
        if _is_name(name_side) and (not (_defined_name(name_side) & _names(other))
                                    or _is_recurrence(name_side, other)):
            return "definition"
    left, right = _names(lhs), _names(rhs)
    if left - right and right - left:
        return "substitution"
    return None


def _is_recurrence(name: sympy.Basic, other: sympy.Basic) -> bool:
    """Whether `name = other` defines a quantity at a step from its values at other
    steps (`m_t = \\beta m_{t-1} + (1 - \\beta) g_t`, `\\delta_t = W \\delta_{t+1}`): a
    recurrence names `m_t`, and claims nothing to compare (it read as a substitution,
    "not checked", on every moving average)."""
    import sympy

    if not isinstance(name, sympy.Indexed) or len(name.indices) != 1:
        return False
    step = name.indices[0]
    elements = other.atoms(sympy.Indexed)
    uses = [item for item in elements if item.base == name.base]
    # (`m` itself, the whole sequence, is no step of it: `m_t = \\sum_k m_k` is a claim.)
    whole = other.xreplace({item: sympy.Dummy() for item in elements}).free_symbols
    return bool(uses) and name.base.label not in whole and all(
        len(item.indices) == 1 and item.indices[0] != step
        and (item.indices[0] - step).is_Integer for item in uses)


def _unsure(lhs: sympy.Basic, rhs: sympy.Basic) -> str | None:
    """Why a claim's truth cannot be decided from its sides alone, if so."""
    import sympy

    for side in (lhs, rhs):
        if not isinstance(side, sympy.Expr) or isinstance(side, sympy.MatrixExpr) \
                or getattr(side, "is_Matrix", False):
            return "not a scalar expression"
        for derivative in side.atoms(sympy.Derivative):
            inner = derivative.expr
            variables = set(derivative.variables)
            if _is_name(inner) or not (inner.free_symbols & variables):
                return "derivative of a quantity whose formula is not given here"
    return None


def _plain(expr: sympy.Basic) -> str:
    """`(e^-z - e^z)/(e^-z + e^z)`: a side as a reader would type it."""
    import sympy

    text = str(sympy.sstr(expr))
    text = text.replace("**", "^")
    for _ in range(3):
        text = re.sub(r"\bexp\((-?[\w.]+)\)", r"e^\1", text)
        text = re.sub(r"\bexp\(", "e^(", text)
    return text.replace(" + -", " - ")


def _format(value: complex) -> str:
    if abs(value.imag) > 1e-12 * max(1.0, abs(value.real)):
        return f"{value.real:.3g}{value.imag:+.3g}i"
    return f"{value.real:.3g}"


def _close(a: complex, b: complex) -> bool:
    scale = max(abs(a), abs(b))
    return abs(a - b) <= _ABSOLUTE_TOLERANCE + _RELATIVE_TOLERANCE * scale


def _integer_symbols(expr: sympy.Basic) -> set[str]:
    """Symbols used as bounds of a sum or product must be whole numbers."""
    import sympy

    names = set()
    for node in expr.atoms(sympy.Sum, sympy.Product):
        for limit in node.limits:
            for bound in limit[1:]:
                names |= {str(symbol) for symbol in bound.free_symbols}
    return names


def _real_guards(expr: sympy.Basic) -> list[tuple[sympy.Expr, bool]]:
    """(expression, strict) pairs that must be >= 0 (> 0 when strict) for `expr` to be
    real the way the notes mean it: the argument of each `log`, the base of each root or
    non-whole power. `sqrt(x) sqrt(y)` at x = y = -1 is -1, real but not what anyone
    means, so such points are skipped rather than compared."""
    import sympy

    guards: list[tuple[sympy.Expr, bool]] = []
    for node in expr.atoms(sympy.log):
        guards.append((node.args[0], True))
    for node in expr.atoms(sympy.Pow):
        base, exponent = node.args
        if exponent.is_integer is not True and not base.is_number:
            guards.append((base, False))
    return guards


class _Evaluator:
    """Values of one side at points given as {name: value}; indexed entries (`a_i` in a
    sum) are drawn when first met and shared with the other side through `extra`."""

    def __init__(self, expr: sympy.Expr, domain: Domain, integers: set[str]) -> None:
        import sympy

        self.expr = expr
        # Plain complex arithmetic where it can (sympy's evalf was most of a cold check);
        # sympy, with its sums worked out once, where it cannot.
        self.numeric: NumericFunction | None = None
        try:
            self.numeric = numeric_function(expr)
            self.expr = self.numeric.expr
        except NotNumeric:
            with contextlib.suppress(Exception):
                self.expr = expr.doit()
        self.domain = domain
        self.integers = integers
        labels = {item.base.label for item in self.expr.atoms(sympy.Indexed)}
        self.symbols = {str(symbol): symbol for symbol in self.expr.free_symbols
                        if isinstance(symbol, sympy.Symbol) and symbol not in labels}

    def __call__(self, point: Mapping[str, float], extra: dict[str, float],
                 rng: random.Random) -> complex | None:
        import sympy
        from sympy.core.function import AppliedUndef

        if self.numeric is not None:
            def entry(key: str, label: str) -> float:
                if key not in extra:
                    extra[key] = sample(self.domain.interval(label), rng)
                return extra[key]

            with contextlib.suppress(NotNumeric):
                return self.numeric(point, entry)
        # Whole numbers first (a sum's bounds), so that sums expand and the guards of
        # their terms can be read before any other value is put in: sympy evaluates
        # `sqrt(-0.5)` to `0.707*I` the moment it is built.
        whole = {symbol: sympy.Integer(int(point[name]))
                 for name, symbol in self.symbols.items()
                 if name in point and name in self.integers}
        expr = self.expr.xreplace(whole)
        if expr.has(sympy.Sum, sympy.Product, sympy.Derivative, sympy.Integral):
            expr = expr.doit()
        values: dict[Any, Any] = {
            symbol: sympy.Float(point[name], 30) if not float(point[name]).is_integer()
            else sympy.Integer(int(point[name]))
            for name, symbol in self.symbols.items() if name in point and symbol not in whole}
        for item in expr.atoms(sympy.Indexed):
            key = str(item)
            if key not in extra:
                extra[key] = sample(self.domain.interval(str(item.base.label)), rng)
            values[item] = sympy.Float(extra[key], 30)
        try:
            substituted = expr.xreplace(values)
            if substituted.has(AppliedUndef):
                return None  # an unknown function has no value (complex() raises, slowly)
            for guard, strict in _real_guards(expr):
                with contextlib.suppress(TypeError, ValueError):
                    at = complex(guard.xreplace(values).evalf(30))
                    if abs(at.imag) > 1e-12 or at.real < 0 or (strict and at.real == 0):
                        return None
            value = complex(substituted.evalf(30))
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            return None
        if not (math.isfinite(value.real) and math.isfinite(value.imag)):
            return None
        return value


UNBOUNDED = "integral without bounds (over the whole domain): not evaluated"


def _unbounded_integral(lhs: sympy.Expr, rhs: sympy.Expr) -> bool:
    """`\\int p(x) \\log p(x) \\,dx`: an integral over its variable's whole domain, which
    sympy would evaluate as an antiderivative (at x, a false alarm for `\\int
    e^{-x^2} dx = \\sqrt{\\pi}`)."""
    import sympy

    return any(len(limit) == 1 for side in (lhs, rhs)
               for integral in side.atoms(sympy.Integral) for limit in integral.limits)


def compare_sides(lhs: sympy.Expr, rhs: sympy.Expr, domain: Domain, *,
                  seed: int = 0) -> StepVerdict:
    """Compare a claim numerically at random points, then try to prove it. Undeclared
    symbols take every sign; a step whose sides are not real at most such points (`log x`,
    a probability's `log(1 - p)`) is compared at positive points below 1 instead."""
    if domain.densities:
        from builder.check.density import integrate_out  # sympy: loaded only when needed

        # `\\int p(x) F dx` is F for a density `assume:` declares (`\\int p(x) dx = 1`)
        lhs, on_left = integrate_out(lhs, domain.densities)
        rhs, on_right = integrate_out(rhs, domain.densities)
        used = list(dict.fromkeys(on_left + on_right))
        if used:
            verdict = _compare_sides(lhs, rhs, domain, seed)
            if verdict.status != "pass":
                return verdict
            given = " and ".join(item.condition() for item in used)
            return StepVerdict("pass", f"{verdict.message}, given {given}")
    return _compare_sides(lhs, rhs, domain, seed)


def _compare_sides(lhs: sympy.Expr, rhs: sympy.Expr, domain: Domain, seed: int
                   ) -> StepVerdict:
    unsure = _unsure(lhs, rhs)
    if unsure:
        return StepVerdict("unchecked", unsure)
    if _unbounded_integral(lhs, rhs):
        # no numbers; a proof that keeps the integrals whole (`\\int q \\frac{p}{q} dz =
        # \\int p dz`) holds over any domain
        if _proved_equal(lhs, rhs, domain):
            return StepVerdict("pass", "proved")
        return _normalisation(lhs, rhs, domain, seed) or StepVerdict("unchecked", UNBOUNDED)
    try:
        with time_limit(_NUMERIC_SECONDS):
            verdict = _compare_numerically(lhs, rhs, domain, seed)
        if verdict.status == "unchecked" and verdict.message in _TOO_FEW \
                and domain.default is not POSITIVE_INTERVAL:
            positive = domain.positive()
            with time_limit(_NUMERIC_SECONDS):
                retry = _compare_numerically(lhs, rhs, positive, seed)
            # Positive points only when they give numbers: sides that give none anywhere
            # (unknown functions) are left to a proof over the reals.
            if not (retry.status == "unchecked" and retry.message in _TOO_FEW):
                domain, verdict = positive, retry
    except OutOfTime:
        verdict = StepVerdict("unchecked", TOO_LONG)
    except Exception as error:
        verdict = StepVerdict("unchecked", f"cannot evaluate: {type(error).__name__}")
    if verdict.status == "unchecked" and verdict.message.startswith("cannot evaluate"):
        # No numbers (unknown functions): only a proof can decide, and only as a pass.
        if _proved_equal(lhs, rhs, domain):
            return StepVerdict("pass", "proved")
        return _normalisation(lhs, rhs, domain, seed) or verdict
    if verdict.status == "fail" and _proved_equal(lhs, rhs, domain, seconds=_REFUTE_SECONDS,
                                                  kind="refute"):
        return StepVerdict("pass", "proved (the numbers disagreed)")
    if verdict.status == "pass" and _proved_equal(lhs, rhs, domain, seconds=_CONFIRM_SECONDS,
                                                  kind="confirm"):
        return StepVerdict("pass", "proved")
    if verdict.status == "pass" and _ordered(lhs, rhs):
        # Numbers commute: `x y^T` and `y x^T`, `(Ax)^T` and `A^T x^T` agree as numbers,
        # which says nothing about matrices: random matrices decide (builder/check/
        # matrices.py), or the proof above, which keeps the order.
        from builder.check.matrices import agree_as_matrices  # numpy: only when needed

        agreed = agree_as_matrices(lhs, rhs, seed)
        if agreed:
            return StepVerdict("pass", "equal at random matrices and vectors")
        return StepVerdict("unchecked", _ORDERED if agreed is None else _MISORDERED)
    if verdict.status == "fail":
        from builder.check.doubt import doubt  # sympy: a warm check loads none of it

        reason = doubt(lhs, rhs, domain, lambda a, b, where: _agree(a, b, where, seed))
        if reason:
            return StepVerdict("unchecked", reason)
    return verdict


_ORDERED = ("products of matrices or vectors: equal as numbers, but matrices cannot be "
            "put in to compare the order of their factors: not checked")
_MISORDERED = ("products of matrices or vectors: equal as numbers but not at random "
               "matrices (the order of the factors, a transpose?): not checked")


def _ordered(lhs: sympy.Expr, rhs: sympy.Expr) -> bool:
    """Does a side multiply factors whose order matters (matrices, vectors, a transpose:
    non-commutative names)?"""
    import sympy

    return any(isinstance(node, sympy.Mul) and not node.is_commutative
               for side in (lhs, rhs) for node in sympy.preorder_traversal(side))


def _normalisation(lhs: sympy.Expr, rhs: sympy.Expr, domain: Domain, seed: int
                   ) -> StepVerdict | None:
    """`unchecked`, saying what to declare, for a step that would hold if the densities it
    integrates (or the distributions it sums) added up to 1; None otherwise. Never a
    pass: the note has not said so."""
    import sympy

    if not lhs.has(sympy.Integral, sympy.Sum) and not rhs.has(sympy.Integral, sympy.Sum):
        return None
    from builder.check.density import normalisation_hint

    def agree(new_lhs: sympy.Expr, new_rhs: sympy.Expr) -> bool:
        return numbers_agree(new_lhs, new_rhs, domain, seed) or _proved_equal(
            new_lhs, new_rhs, domain, seconds=_REFUTE_SECONDS)

    hint = normalisation_hint(lhs, rhs, agree)
    return StepVerdict("unchecked", hint) if hint else None


def numbers_agree(lhs: sympy.Expr, rhs: sympy.Expr, domain: Domain, seed: int) -> bool:
    """Do the sides agree at random points of the domain (no proof tried), or, where
    they are not real at most of its points, at positive points below 1 (as
    `compare_sides` falls back)? False when they differ or cannot be evaluated."""
    if _unsure(lhs, rhs) or _unbounded_integral(lhs, rhs):
        return False  # (a derivative of an unknown quantity would count as 0)
    try:
        with time_limit(_NUMERIC_SECONDS):
            verdict = _compare_numerically(lhs, rhs, domain, seed)
            if verdict.status == "unchecked" and verdict.message in _TOO_FEW \
                    and domain.default is not POSITIVE_INTERVAL:
                verdict = _compare_numerically(lhs, rhs, domain.positive(), seed)
    except Exception:  # OutOfTime too: an outer bound, if any, is the caller's
        return False
    return verdict.status == "pass"


def _agree(lhs: sympy.Expr, rhs: sympy.Expr, domain: Domain, seed: int) -> bool:
    """Do two rewritten sides (`doubt`) agree at random points?"""
    try:
        with time_limit(_NUMERIC_SECONDS):
            return _compare_numerically(lhs, rhs, domain, seed).status == "pass"
    except Exception:  # a rewrite that cannot be evaluated explains nothing
        return False


_NO_POINT = "cannot evaluate the sides at points of the domain"
_FEW_POINTS = "too few points of the domain where both sides have real values"
_TOO_FEW = (_NO_POINT, _FEW_POINTS)
_VALUE_AT_A_POINT = "one side is a number: a value at a point"


def _compare_numerically(lhs: sympy.Expr, rhs: sympy.Expr, domain: Domain,
                         seed: int) -> StepVerdict:
    import sympy

    integers = _integer_symbols(lhs) | _integer_symbols(rhs)
    for side in (lhs, rhs):
        integers |= {str(s) for s in side.free_symbols if getattr(s, "is_integer", False)}
        # a free index (`k` of `y_k = …a_k…`) picks an element: a whole number
        integers |= {str(symbol) for item in side.atoms(sympy.Indexed)
                     for index in item.indices for symbol in index.free_symbols}
    left, right = _Evaluator(lhs, domain, integers), _Evaluator(rhs, domain, integers)
    names = sorted(set(left.symbols) | set(right.symbols))
    rng = random.Random(seed)
    agreed = unusable = 0
    constant_side = not left.symbols and not (lhs.atoms(sympy.Indexed))
    constant_other = not right.symbols and not (rhs.atoms(sympy.Indexed))
    left_values: list[complex] = []
    right_values: list[complex] = []
    first_difference: tuple[dict[str, float], dict[str, float], complex, complex] | None = None
    constrained = _constrained_vectors((lhs, rhs), domain)
    for _attempt in range(_ATTEMPTS):
        point = {name: sample(domain.interval(name, integer=name in integers), rng)
                 for name in names}
        extra: dict[str, float] = _constrained_entries(constrained, point, domain, rng)
        a = left(point, extra, rng)
        b = right(point, extra, rng) if a is not None or not names else None
        if a is None or b is None or abs(a.imag) > 1e-9 * max(1.0, abs(a)) \
                or abs(b.imag) > 1e-9 * max(1.0, abs(b)):
            # Outside where the notes mean it (a branch cut, a pole): no verdict here.
            if not names and (a is None) != (b is None):
                break
            unusable += 1
            if unusable >= _GIVE_UP and len(left_values) < 3 and first_difference is None:
                break  # undefined at most of these points: the caller may try others
            continue
        left_values.append(a)
        right_values.append(b)
        if _close(a, b):
            agreed += 1
        elif first_difference is None:
            first_difference = (point, extra, a, b)
        if len(left_values) >= POINTS or not names:
            break
    if not left_values:
        return StepVerdict("unchecked", _NO_POINT)
    if first_difference is not None:
        # `g'(z) = 1` under `z = 0`: a value at a point the text gives, not an identity.
        if constant_side != constant_other:
            varying = right_values if constant_side else left_values
            if any(not _close(value, varying[0]) for value in varying):
                return StepVerdict("unchecked", _VALUE_AT_A_POINT)
        point, extra, a, b = first_difference
        where = _where(point, extra)
        at = f" at {where}" if where else ""
        values = f"{_format(a)} vs {_format(b)}"
        return StepVerdict("fail", f"{_plain(lhs)} ≠ {_plain(rhs)}{at} ({values})",
                           where=where, values=values)
    if agreed < min(3, POINTS) and names:
        return StepVerdict("unchecked", _FEW_POINTS)
    return StepVerdict("pass", f"equal at {agreed} points")


def _constrained_vectors(sides: tuple[sympy.Expr, ...], domain: Domain
                         ) -> list[tuple[str, sympy.Expr, sympy.Expr]]:
    """`(name, low, high)` for each array that `assume:` constrains (`\\sum_j y_j = 1`,
    one-hot) and a sum of the sides runs through: the entries to draw together."""
    import sympy

    if not (domain.simplex or domain.one_hot):
        return []
    found: list[tuple[str, sympy.Expr, sympy.Expr]] = []
    for side in sides:
        for node in side.atoms(sympy.Sum):
            for limit in node.limits:
                if len(limit) != 3:
                    continue
                index, low, high = limit
                for item in node.function.atoms(sympy.Indexed):
                    label = str(item.base.label)
                    if domain.constrained(label) and item.indices == (index,) \
                            and (label, low, high) not in found:
                        found.append((label, low, high))
    return found


def _constrained_entries(constrained: list[tuple[str, sympy.Expr, sympy.Expr]],
                         point: Mapping[str, float], domain: Domain, rng: random.Random
                         ) -> dict[str, float]:
    """The entries of the constrained arrays at this point (`y[1]`… as the evaluators
    key them): a probability vector drawn uniformly on the simplex, or a one-hot vector,
    over the sum's bounds at the point."""
    entries: dict[str, float] = {}
    for label, low, high in constrained:
        try:
            first = _bound_at(low, point)
            last = _bound_at(high, point)
        except (NotNumeric, TypeError, ValueError):
            continue
        if last < first or any(key.startswith(f"{label}[") for key in entries):
            continue
        positions = range(first, last + 1)
        if label in domain.one_hot:
            chosen = rng.choice(positions)
            values = [1.0 if position == chosen else 0.0 for position in positions]
        else:
            weights = [-math.log(1.0 - rng.random()) for _ in positions]
            values = [weight / sum(weights) for weight in weights]
        entries.update({f"{label}[{position}]": value
                        for position, value in zip(positions, values, strict=True)})
    return entries


def _bound_at(bound: sympy.Expr, point: Mapping[str, float]) -> int:
    """A sum's bound at the point, a whole number."""
    value = numeric_function(bound)(point, lambda key, label: 0.0)
    if value is None or value.imag or not float(value.real).is_integer():
        raise ValueError(bound)
    return int(value.real)


_SHOWN_ENTRIES = 5
"""Entries of an array a counterexample shows before it says how many more there are."""


def _where(point: Mapping[str, float], entries: Mapping[str, float]) -> str:
    """The point of a counterexample as a reader can redo it: `i=1..4` for the terms of
    a sum without bounds (its length was drawn), an index as the whole number it is,
    each array the sides used with its entries (`a=[0.31, -1.2, 2.05, 0.4]`, shortened
    past a few), other values as drawn."""
    shown: list[str] = []
    for name, value in sorted(point.items(), key=lambda item: item[0].lstrip("#")):
        if name.startswith("#"):
            shown.append(f"{name[1:]}=1..{_plain_number(value)}")
        else:
            shown.append(f"{name}={_plain_number(value)}")
    arrays: dict[str, dict[str, float]] = {}
    for key, value in entries.items():
        label, _, rest = key.partition("[")
        arrays.setdefault(label, {})[rest.rstrip("]")] = value
    for label in sorted(arrays):
        found = arrays[label]
        positions = sorted(found, key=lambda text: [int(part) if part.strip().lstrip("-")
                                                    .isdigit() else 0
                                                    for part in text.split(",")])
        values = [_short(found[position]) for position in positions]
        first = positions[0]
        if len(positions) == 1 and "," not in positions[0]:
            shown.append(f"{label}_{positions[0]}={values[0]}")
        elif "," not in "".join(positions) and all(
                position.strip().lstrip("-").isdigit() for position in positions) and \
                [int(position) for position in positions] == \
                list(range(int(first), int(first) + len(positions))):
            more = f", … ({len(values)} entries)" if len(values) > _SHOWN_ENTRIES else ""
            start = "" if int(first) == 1 else f" from {label}_{first}"
            shown.append(f"{label}=[{', '.join(values[:_SHOWN_ENTRIES])}{more}]{start}")
        else:
            pairs = [f"{label}_{position}={value}" if "," not in position
                     else f"{label}[{position}]={value}"
                     for position, value in zip(positions, values, strict=True)]
            more = ", …" if len(pairs) > _SHOWN_ENTRIES else ""
            shown.append(", ".join(pairs[:_SHOWN_ENTRIES]) + more)
    return ", ".join(shown)


def _short(value: float) -> str:
    return _plain_number(value) if float(value).is_integer() or round(value, 2) == value \
        else f"{value:.3g}"


def _plain_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


ProofKind = Literal["confirm", "refute", "decide"]
"""Why a proof is tried: to `confirm` what the numbers found equal (it only upgrades the
message), to `refute` numbers that disagree (it would overrule them), or to `decide` a step
that gives no numbers (unknown functions: only a proof can pass it)."""


def _proved_equal(lhs: sympy.Expr, rhs: sympy.Expr, domain: Domain, *,
                  seconds: float = _SYMBOLIC_SECONDS, kind: ProofKind = "decide") -> bool:
    """sympy's proof that lhs - rhs is 0 for symbols in the domain (positive where the
    domain is), within a time bound; False when it cannot tell.

    Cheap normal forms first, each of which settles an identity without search: `expand`,
    `cancel`, the same after writing hyperbolic and trigonometric functions as
    exponentials (`tanh z = (e^z - e^-z)/(e^z + e^-z)`, which simplify() spent its whole
    bound on), and sums and products taken apart term by term (`split_sums`: simplify()
    spent seconds on those and rarely finished). Only a step without numbers, which
    nothing else can pass, gets simplify() after them: over the seeds and sheets it
    proved nothing the normal forms do not, at 0.1-0.5 s a try. Laws that hold only where
    the logs are real (`log(ab) = log a + log b`, `log prod = sum log`) are used only to
    `confirm` numbers that agree at points where both sides are real."""
    import sympy

    try:
        with time_limit(seconds):
            replacements = {}
            for symbol in (lhs - rhs).free_symbols:
                if not isinstance(symbol, sympy.Symbol) or symbol.is_commutative is False:
                    continue  # (a matrix stays one: made a real number, AB would be BA)
                interval = domain.interval(str(symbol))
                assumptions: dict[str, bool] = {}
                if interval.low >= 0:
                    assumptions["positive"] = True
                elif interval.high <= 0:
                    assumptions["negative"] = True
                else:
                    assumptions["real"] = True
                replacements[symbol] = sympy.Symbol(str(symbol), **assumptions)
            difference = (lhs - rhs).xreplace(replacements)
            # Derivatives worked out, sums left as sums: doit() on a sum looks for a
            # closed form, 0.4 s on a likelihood's sum of logs, and `split_sums`
            # compares sums without one.
            derived = difference
            with contextlib.suppress(Exception):
                derived = difference.replace(
                    lambda node: isinstance(node, sympy.Derivative), lambda node: node.doit())
            if kind == "decide" and _not_an_identity(lhs, rhs, domain):
                return False
            for form in _normal_forms(derived, force_logs=kind == "confirm"):
                if form == 0:
                    return True
            if kind != "decide":
                return False
            with contextlib.suppress(Exception):
                difference = difference.doit()
            if difference != derived:
                for form in _normal_forms(difference, force_logs=False):
                    if form == 0:
                        return True
            if sympy.simplify(difference) == 0:
                return True
    except OutOfTime:
        return False
    except Exception:
        return False
    return False


def _not_an_identity(lhs: sympy.Expr, rhs: sympy.Expr, domain: Domain) -> bool:
    """True when `lhs = rhs` is false for some choice of its unknown functions, so that no
    proof can exist: each application (`f(x_i, mu)`, `p(C | x)`) taken as a number of its
    own (an unknown function may take any value there) and the sides compared at points
    as usual. A step between an unknown function and a formula, Bayes' rule, or
    `det(λI - A) = 0` is then left unchecked at once instead of after simplify()'s
    0.1-0.5 s."""
    import sympy
    from sympy.core.function import AppliedUndef

    unknown = (lhs - rhs).atoms(AppliedUndef)
    if not unknown:
        return False
    generic = {node: sympy.Dummy(f"unknown{number}")
               for number, node in enumerate(sorted(unknown, key=sympy.default_sort_key))}
    verdict = _compare_numerically(lhs.xreplace(generic), rhs.xreplace(generic), domain,
                                   seed=0)
    # Different values somewhere, even where one side is a number (`det(A) = 0`).
    return verdict.status == "fail" or verdict.message == _VALUE_AT_A_POINT


_EXPONENTIAL_KIN = ("sinh", "cosh", "tanh", "coth", "sech", "csch",
                    "sin", "cos", "tan", "cot", "sec", "csc")


def _normal_forms(difference: sympy.Expr, *, force_logs: bool) -> Iterator[sympy.Expr]:
    """Forms of `difference` that are 0 when it is, cheapest first (`_proved_equal`). A
    form sympy fails to make (it raises on odd input) is skipped, not the forms after it."""
    import sympy

    made: dict[str, sympy.Expr] = {}

    def split() -> sympy.Expr:  # made once, for two forms
        if "split" not in made:
            made["split"] = split_sums(difference, force_logs=force_logs)
        return made["split"]

    sums = difference.has(sympy.Sum, sympy.Product)
    kin = difference.has(*(getattr(sympy, name) for name in _EXPONENTIAL_KIN))
    # Ordered by what proved the steps of the seeds, sheets and fixture at what cost:
    # cancel() is the dearest, and on sums it almost never is what proves them.
    forms: list[Callable[[], sympy.Expr]] = [lambda: sympy.expand(difference)]
    if sums:
        forms.append(lambda: sympy.expand(split()))
    if kin:
        forms.append(lambda: sympy.cancel(sympy.expand(difference.rewrite(sympy.exp))))
    forms.append(lambda: sympy.cancel(difference))
    if sums:
        forms.append(lambda: sympy.cancel(split()))
    elif force_logs and difference.has(sympy.log):
        forms.append(lambda: sympy.expand(sympy.expand_log(difference, force=True)))
    for form in forms:
        try:
            yield form()
        except Exception:
            continue


def split_sums(expr: sympy.Expr, *, force_logs: bool) -> sympy.Expr:
    """Sums and products in a form where equal ones compare equal: each summand expanded
    and split into terms, factors that do not depend on the index taken out, a sum of a
    constant made a product (`sum_i (mu - x_i) = n mu - sum_i x_i`), nested bounds made
    nested sums. With `force_logs`, logs expanded as if their arguments were positive
    (`log(p_i/q_i) = log p_i - log q_i`, `log prod_i f_i = sum_i log f_i`)."""
    import sympy

    def visit(node: sympy.Basic) -> sympy.Basic:
        if not node.args or node.is_Atom:
            return node
        if isinstance(node, sympy.Sum | sympy.Product):
            inner = visit(node.function)
            for limit in node.limits:  # innermost first: nested single sums
                inner = _split_one(type(node), inner, limit, force_logs)
            return inner
        if force_logs and isinstance(node, sympy.log) \
                and isinstance(node.args[0], sympy.Product):
            product = node.args[0]
            return visit(sympy.Sum(sympy.log(product.function), *product.limits))
        args = [visit(arg) for arg in node.args]
        return node.func(*args) if args != list(node.args) else node

    return visit(expr)


_WRITTEN_OUT = 12
"""Sums and products with at most this many terms (numeric bounds) are written out."""


def _split_one(kind: type, body: sympy.Expr, limit: sympy.Tuple, force_logs: bool
               ) -> sympy.Expr:
    """One sum (or product) over `limit` = (index, low, high) of `body`, split (`split_sums`)."""
    import sympy

    index, low, high = limit
    count = high - low + 1
    if count.is_Integer and 0 <= int(count) <= _WRITTEN_OUT:  # `sum_{x=0}^{1}`: its terms
        return kind(body, limit).doit()
    if force_logs:
        body = sympy.expand_log(body, force=True)
    body = sympy.expand(body)
    if kind is sympy.Sum:
        total = sympy.Integer(0)
        for term in sympy.Add.make_args(body):
            constant, varying = term.as_independent(index, as_Add=False)
            if varying == 1:
                total += constant * count
            elif varying == index or (varying.is_Pow and varying.base == index
                                      and varying.exp.is_Integer and varying.exp > 0):
                total += constant * sympy.Sum(varying, limit).doit()  # Faulhaber: quick
            else:
                total += constant * sympy.Sum(varying, limit)
        return total
    product = sympy.Integer(1)
    for factor in sympy.Mul.make_args(body):
        if not factor.has(index):
            product *= factor**count
        elif isinstance(factor, sympy.exp):  # prod_i e^(u_i) = e^(sum_i u_i)
            product *= sympy.exp(_split_one(sympy.Sum, factor.args[0], limit, force_logs))
        else:
            product *= sympy.Product(factor, limit)
    return product

