"""check: every card's claims, verified (SPEC.md §1 "What is checked").

A display equation `A = B = C` claims `A = B` and `B = C`. Each claim whose sides both
compile is compared numerically at random points of the card's domain (`assume:`; other
symbols take every sign, or positive values below 1 for a step undefined at most real
points: `log`, roots, probabilities), then symbolically to prove it. Steps that only give a name to something (`y = …`, `f(x) = …`) or substitute one
quantity for another (each side has a symbol the other lacks) are not claims. Linked
snippets run in the worker pool (builder/worker.py).

The rule throughout: never a false alarm. When a step cannot be decided (a side did not
compile, the values cannot be computed, a derivative of an unknown quantity), it is
`unchecked` with the reason, not `fail`.

sympy is imported only when something must be compiled, so that a fully cached
`sheets check` starts fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import pickle
import random
import re
import select
import signal
import struct
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from builder.atomic import write_text_atomically
from builder.formula import python_name
from builder.model import Card, SourceLoc, Status
from builder.resources import PACKAGE

if TYPE_CHECKING:
    import sympy

__all__ = ["CardResult", "CheckCache", "CheckResult", "Coverage", "Domain", "StepVerdict",
           "assume_problems", "check_cards", "compare_sides", "coverage", "coverage_report",
           "is_claim", "parse_domain"]

CheckKind = Literal["derivation", "snippet"]

_SEVERITY: dict[str, int] = {"unchecked": 0, "pass": 1, "fail": 2, "error": 3}


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check of a card: a derivation step or a linked snippet."""

    kind: CheckKind
    status: Status
    loc: SourceLoc
    """For a step, the line of its right-hand side; for a snippet, the card's line."""
    message: str


@dataclass(frozen=True, slots=True)
class CardResult:
    """A card's verdict: the worst of its checks (error > fail > pass), or `unchecked`
    with the reason when nothing could be checked."""

    card: Card
    status: Status
    message: str
    checks: tuple[CheckResult, ...]

    @property
    def loc(self) -> SourceLoc:
        """Where to point a reader: the first check with the card's status, else the card."""
        for check in self.checks:
            if check.status == self.status and self.status in ("fail", "error"):
                return check.loc
        return self.card.loc


# --------------------------------------------------------------------------- domain

@dataclass(frozen=True, slots=True)
class Interval:
    low: float = -math.inf
    high: float = math.inf
    integer: bool = False


DEFAULT_INTERVAL = Interval(-3.0, 3.0)
"""Where undeclared symbols are sampled: every sign, mostly in [-3, 3], with some points
near 0 and some of larger magnitude (`_sample`), so that `|x| = x` or `\\max(0, x) = x`
fail as a reader expects. Points where a side is not real (a `log` or a root of a
negative number, even when the result comes out real) are skipped."""
POSITIVE_INTERVAL = Interval(0.1, 0.9)
"""The fallback for a step whose sides are undefined at most real points (`log x`,
`\\sqrt{x}`, `log(1 - p)` of a probability): positive and below 1, so that `1 - p` and
`log(1 - p)` stay valid too."""
INTEGER_INTERVAL = Interval(1, 5, integer=True)
"""Summation bounds and declared integers."""
SCALE_INTERVAL = Interval(0.2, 3.0)
_SCALES = re.compile(r"sigma(_\w+)?")
"""`\\sigma`, `\\sigma_1`: a standard deviation in notes, positive unless `assume:` says
otherwise (`\\sqrt{2\\pi\\sigma^2} = \\sqrt{2\\pi}\\sigma` is right as the notes mean it)."""


@dataclass(frozen=True, slots=True)
class Domain:
    """The sampling interval of each symbol named in `assume:` (by its Python name);
    `default` for the others."""

    intervals: Mapping[str, Interval] = field(default_factory=dict)
    default: Interval = DEFAULT_INTERVAL

    def interval(self, name: str, *, integer: bool = False) -> Interval:
        found = self.intervals.get(name)
        if found is not None:
            return replace(found, integer=True) if integer else found
        if integer:
            return INTEGER_INTERVAL
        if self.default is DEFAULT_INTERVAL and _SCALES.fullmatch(name):
            return SCALE_INTERVAL
        return self.default

    def positive(self) -> Domain:
        """The same declarations, undeclared symbols positive (the fallback)."""
        return replace(self, default=POSITIVE_INTERVAL)


_RELATION = re.compile(r"(<=|>=|\\leq?|\\geq?|\\lt|\\gt|≤|≥|<|>)")
_IN_SET = re.compile(r"^(?P<names>.+?)\s*(?:\\in|∈)\s*(?P<set>.+)$")
_SETS = {"r": Interval(-2.0, 2.0), "n": Interval(1, 5, integer=True),
         "z": Interval(-3, 3, integer=True), "r^+": Interval(0, math.inf),
         "r_+": Interval(0, math.inf), "r_{+}": Interval(0, math.inf),
         "r_{>0}": Interval(0, math.inf), "r^{+}": Interval(0, math.inf)}


def _number(text: str) -> float | None:
    text = text.strip().replace("\\infty", "inf").replace("∞", "inf")
    text = re.sub(r"^\\frac\{(.+)\}\{(.+)\}$", r"\1/\2", text)
    try:
        if "/" in text:
            top, bottom = text.split("/", 1)
            return float(top) / float(bottom)
        return float(text)
    except ValueError:
        return None


def parse_domain(assume: Sequence[str]) -> Domain:
    """`("0 < p < 1", "x > 0", "n \\in \\mathbb{N}")` → intervals for p, x and n. What it
    cannot read it ignores: the defaults then apply (never a wrong bound);
    `assume_problems` says what that was."""
    return _read_domain(assume)[0]


def assume_problems(assume: Sequence[str]) -> tuple[str, ...]:
    """Why each part of `assume:` that `parse_domain` cannot use is ignored, one message
    per part (`` `x => 0`: not a bound (write x >= 0) ``)."""
    return tuple(_read_domain(assume)[1])


_NAME = re.compile(r"[A-Za-z]\w*")
_HOW = "write e.g. `0 < p < 1`, `x > 0`, `x, y \\ge 0`, `n \\in \\mathbb{N}`"


def _names_of(text: str) -> list[str] | None:
    """`x, y` → ["x", "y"]; None when a part is not a symbol name (`x + y`, ``)."""
    names = [python_name(name) for name in text.split(",")]
    return names if all(_NAME.fullmatch(name) for name in names) else None


def _read_domain(assume: Sequence[str]) -> tuple[Domain, list[str]]:
    intervals: dict[str, Interval] = {}
    problems: list[str] = []
    waiting: list[str] = []  # `x, y > 0` arrives split as `x` and `y > 0`
    waiting_text: list[str] = []

    def bound(names: list[str], low: float | None = None, high: float | None = None,
              interval: Interval | None = None) -> None:
        for name in names:
            current = intervals.get(name, Interval())
            if interval is not None:
                current = Interval(max(current.low, interval.low),
                                   min(current.high, interval.high), interval.integer
                                   or current.integer)
            if low is not None:
                current = replace(current, low=max(current.low, low))
            if high is not None:
                current = replace(current, high=min(current.high, high))
            intervals[name] = current

    def unused_names() -> None:
        for text in waiting_text:
            problems.append(f"`{text}`: a name without a condition ({_HOW})")

    for condition in assume:
        text = condition.strip().rstrip(".")
        if re.fullmatch(r"\\?[A-Za-z][\w{}\\]*", text):
            waiting.append(python_name(text))
            waiting_text.append(text)
            continue
        in_set = _IN_SET.match(text)
        if in_set:
            found = _names_of(in_set.group("names"))
            kind = re.sub(r"\\mathbb\s*\{?(\w)\}?", r"\1", in_set.group("set")).strip().lower()
            kind = kind.replace(" ", "")
            pair = re.fullmatch(r"([(\[])(.+),(.+)([)\]])", kind)
            if found is None:
                problems.append(f"`{text}`: not a list of names before \\in")
                unused_names()
            elif kind in _SETS:
                bound(found + waiting, interval=_SETS[kind])
            elif pair and _number(pair.group(2)) is not None \
                    and _number(pair.group(3)) is not None:
                bound(found + waiting, low=_number(pair.group(2)),
                      high=_number(pair.group(3)))
            else:
                problems.append(f"`{text}`: unknown set (known: \\mathbb{{R}}, \\mathbb{{N}}, "
                                f"\\mathbb{{Z}}, \\mathbb{{R}}^+, [a, b], (a, b))")
                unused_names()
            waiting, waiting_text = [], []
            continue
        parts = [part.strip() for part in _RELATION.split(text)]
        if len(parts) < 3:
            if not re.search(r"\\neq?\b|≠", text):  # `x \ne 0`: true, just not a bound
                problems.append(f"`{text}`: not a bound ({_HOW})")
                unused_names()
            waiting, waiting_text = [], []
            continue
        terms, relations = parts[::2], parts[1::2]
        used = False
        for left, relation, right in zip(terms, relations, terms[1:], strict=False):
            less = relation in ("<", "<=", "\\le", "\\leq", "\\lt", "≤")
            left_value, right_value = _number(left), _number(right)
            left_names, right_names = _names_of(left), _names_of(right)
            if left_value is None and right_value is not None and left_names is not None:
                names = left_names + waiting
                bound(names, high=right_value) if less else bound(names, low=right_value)
                used = True
            elif right_value is None and left_value is not None and right_names is not None:
                names = right_names + waiting
                bound(names, low=left_value) if less else bound(names, high=left_value)
                used = True
            elif left_value is None and right_value is None and left_names is not None \
                    and right_names is not None:
                used = True  # `c < r`: true of the notes, though sampling cannot use it
                break
        if not used and any(not term or "=" in term for term in terms):
            # `x >`, `x => 0`: a slip of the pen. A condition on an expression
            # (`f(a, b) > 0`, `x + y < 1`) is fine notes; sampling just cannot use it.
            hint = " (write >= or <=)" if "=>" in text or "=<" in text else f" ({_HOW})"
            problems.append(f"`{text}`: not a bound{hint}")
            unused_names()
        waiting, waiting_text = [], []
    unused_names()
    return Domain(intervals), problems


def _sample(interval: Interval, rng: random.Random) -> float:
    """A readable value well inside the interval (two decimals: `z=0.73`)."""
    if interval.integer:
        # Whole numbers from 1 (a sum's bound, a count) unless the domain says otherwise.
        first = max(math.ceil(interval.low), 1) if math.isfinite(interval.low) else -3
        if interval.low < 0:
            first = math.ceil(interval.low) if math.isfinite(interval.low) else -3
        last = math.floor(interval.high) if math.isfinite(interval.high) else first + 5
        return float(rng.randint(first, max(first, min(last, first + 6))))
    if interval is DEFAULT_INTERVAL:
        # Both signs; one draw in four near 0 and one in six of larger magnitude, where
        # `x^3 = x` or a cut-off (`\\max`, `|x|`) would still agree by chance.
        kind = rng.random()
        sign = rng.choice((-1.0, 1.0))
        if kind < 0.25:
            return sign * round(rng.uniform(0.01, 0.3), 2)
        if kind < 0.4:
            return sign * round(rng.uniform(3.0, 10.0), 2)
        value = round(rng.uniform(-3.0, 3.0), 2)
        return value if value != 0 else 0.5
    low, high = interval.low, interval.high
    if math.isfinite(low) and math.isfinite(high):
        margin = 0.1 * (high - low)
        low, high = low + margin, high - margin
    elif math.isfinite(low):
        low, high = low + 0.1, low + 2.1
    elif math.isfinite(high):
        low, high = high - 2.1, high - 0.1
    else:
        low, high = -2.0, 2.0
    value = round(rng.uniform(low, high), 2)
    if not low <= value <= high or value == 0:
        value = rng.uniform(low, high)
    return value


# --------------------------------------------------------------------------- time limit

class _OutOfTime(BaseException):
    """BaseException: sympy catches `Exception` in places, and must not swallow this."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Interrupt pure-Python work (sympy) after `seconds`. Only the main thread can take
    signals; elsewhere (a server thread) the work runs unbounded."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise _OutOfTime

    previous_handler = signal.signal(signal.SIGALRM, interrupt)
    previous_timer = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_timer[0] > 0:  # an outer limit keeps running, minus what we used
            signal.setitimer(signal.ITIMER_REAL, max(previous_timer[0] - seconds, 0.001))


# --------------------------------------------------------------------------- one step

@dataclass(frozen=True, slots=True)
class StepVerdict:
    status: Status
    message: str
    """For `fail`: `a ≠ b at z=0.7 (-0.604 vs 0.604)`; for `unchecked`: the reason."""
    where: str = ""
    """For `fail`: the point, `z=0.7` (empty when the sides have no symbols)."""
    values: str = ""
    """For `fail`: the two values, `-0.604 vs 0.604`."""


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
    or a substitution, SPEC.md §1)."""
    for name_side, other in ((lhs, rhs), (rhs, lhs)):
        if _is_name(name_side) and not (_defined_name(name_side) & _names(other)):
            return "definition"
    left, right = _names(lhs), _names(rhs)
    if left - right and right - left:
        return "substitution"
    return None


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
        self.numeric: Any = None
        self.not_numeric: type[Exception] = ImportError  # until compile is imported
        try:
            from builder.formula import NotNumeric, numeric_function

            self.not_numeric = NotNumeric
            self.numeric = numeric_function(expr)
            self.expr = self.numeric.expr
        except (ImportError, self.not_numeric):
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
                    extra[key] = _sample(self.domain.interval(label), rng)
                return extra[key]

            with contextlib.suppress(self.not_numeric):
                return self.numeric(point, entry)  # type: ignore[no-any-return]
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
                extra[key] = _sample(self.domain.interval(str(item.base.label)), rng)
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


def compare_sides(lhs: sympy.Expr, rhs: sympy.Expr, domain: Domain, *,
                  seed: int = 0) -> StepVerdict:
    """Compare a claim numerically at random points, then try to prove it. Undeclared
    symbols take every sign; a step whose sides are not real at most such points (`log x`,
    a probability's `log(1 - p)`) is compared at positive points below 1 instead."""
    unsure = _unsure(lhs, rhs)
    if unsure:
        return StepVerdict("unchecked", unsure)
    try:
        with _time_limit(_NUMERIC_SECONDS):
            verdict = _compare_numerically(lhs, rhs, domain, seed)
        if verdict.status == "unchecked" and verdict.message in _TOO_FEW \
                and domain.default is not POSITIVE_INTERVAL:
            positive = domain.positive()
            with _time_limit(_NUMERIC_SECONDS):
                retry = _compare_numerically(lhs, rhs, positive, seed)
            # Positive points only when they give numbers: sides that give none anywhere
            # (unknown functions) are left to a proof over the reals.
            if not (retry.status == "unchecked" and retry.message in _TOO_FEW):
                domain, verdict = positive, retry
    except _OutOfTime:
        verdict = StepVerdict("unchecked", "evaluating the sides took too long")
    except Exception as error:  # noqa: BLE001 - sympy raises many kinds on odd input; none is a verdict
        verdict = StepVerdict("unchecked", f"cannot evaluate: {type(error).__name__}")
    if verdict.status == "unchecked" and verdict.message.startswith("cannot evaluate"):
        # No numbers (unknown functions): only a proof can decide, and only as a pass.
        if _proved_equal(lhs, rhs, domain):
            return StepVerdict("pass", "proved")
        return verdict
    if verdict.status == "fail" and _proved_equal(lhs, rhs, domain, seconds=_REFUTE_SECONDS,
                                                  kind="refute"):
        return StepVerdict("pass", "proved (the numbers disagreed)")
    if verdict.status == "pass" and _proved_equal(lhs, rhs, domain, seconds=_CONFIRM_SECONDS,
                                                  kind="confirm"):
        return StepVerdict("pass", "proved")
    return verdict


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
    left, right = _Evaluator(lhs, domain, integers), _Evaluator(rhs, domain, integers)
    names = sorted(set(left.symbols) | set(right.symbols))
    rng = random.Random(seed)
    agreed = unusable = 0
    constant_side = not left.symbols and not (lhs.atoms(sympy.Indexed))
    constant_other = not right.symbols and not (rhs.atoms(sympy.Indexed))
    left_values: list[complex] = []
    right_values: list[complex] = []
    first_difference: tuple[dict[str, float], complex, complex] | None = None
    for _attempt in range(_ATTEMPTS):
        point = {name: _sample(domain.interval(name, integer=name in integers), rng)
                 for name in names}
        extra: dict[str, float] = {}
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
            first_difference = (point, a, b)
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
        point, a, b = first_difference
        where = ", ".join(f"{name}={_plain_number(value)}" for name, value in point.items())
        at = f" at {where}" if where else ""
        values = f"{_format(a)} vs {_format(b)}"
        return StepVerdict("fail", f"{_plain(lhs)} ≠ {_plain(rhs)}{at} ({values})",
                           where=where, values=values)
    if agreed < min(3, POINTS) and names:
        return StepVerdict("unchecked", _FEW_POINTS)
    return StepVerdict("pass", f"equal at {agreed} points")


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
    bound on), and sums and products taken apart term by term (`_split_sums`: simplify()
    spent seconds on those and rarely finished). Only a step without numbers, which
    nothing else can pass, gets simplify() after them: over the seeds and sheets it
    proved nothing the normal forms do not, at 0.1-0.5 s a try. Laws that hold only where
    the logs are real (`log(ab) = log a + log b`, `log prod = sum log`) are used only to
    `confirm` numbers that agree at points where both sides are real."""
    import sympy

    try:
        with _time_limit(seconds):
            replacements = {}
            for symbol in (lhs - rhs).free_symbols:
                if not isinstance(symbol, sympy.Symbol):
                    continue
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
            # closed form, 0.4 s on a likelihood's sum of logs, and `_split_sums`
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
    except _OutOfTime:
        return False
    except Exception:  # noqa: BLE001 - a proof that errors is no proof
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
            made["split"] = _split_sums(difference, force_logs=force_logs)
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
        except Exception:  # noqa: BLE001, S112 - sympy raises many kinds; try the next
            continue


def _split_sums(expr: sympy.Expr, *, force_logs: bool) -> sympy.Expr:
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
    """One sum (or product) over `limit` = (index, low, high) of `body`, split (`_split_sums`)."""
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


# --------------------------------------------------------------------------- chains

@dataclass(frozen=True, slots=True)
class _Side:
    tex: str
    line: int
    expr: Any  # sympy.Expr, or None when refused
    reason: str | None


def _chains(compiled: Any) -> list[tuple[list[_Side], list[str]]]:
    """The compiled equation's relation chains as (sides, relations between them)."""
    chains = getattr(compiled, "chains", None)
    if chains is None:
        chains = [compiled]
    result = []
    for chain in chains:
        sides = [_Side(tex=str(getattr(side, "tex", "")), line=int(side.line),
                       expr=getattr(side, "expr", None),
                       reason=getattr(side, "reason", None))
                 for side in chain.sides]
        result.append((sides, [str(relation) for relation in chain.relations]))
    return result


_EQUALS = frozenset({"=", "==", "\\eq"})


def _step_seed(card: Card, left: _Side, right: _Side) -> int:
    digest = hashlib.blake2b(f"{card.title}\0{left.tex}\0{right.tex}".encode(),
                             digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _as_written(left: _Side, right: _Side, verdict: StepVerdict) -> str:
    """A failure in the sheet's own LaTeX, `\\frac{e^{-z}-e^z}{…} ≠ \\frac{…}{…} at z=0.7
    (-0.604 vs 0.604)`: the reader finds it in the source, where sympy's reading
    (`(-e^z + e^-z)/(e^z + e^-z)`) would have to be translated back. sympy's form only when
    the LaTeX of a side is not known."""
    left_tex, right_tex = " ".join(left.tex.split()), " ".join(right.tex.split())
    if verdict.status != "fail" or not verdict.values or not left_tex or not right_tex:
        return verdict.message
    at = f" at {verdict.where}" if verdict.where else ""
    return f"{left_tex} ≠ {right_tex}{at} ({verdict.values})"


def _declarations(compiler: Any, card: Card) -> Any:
    return compiler.declarations_for(card)


@dataclass(frozen=True, slots=True)
class _Step:
    """A claim of a card still to be compared (`compare_sides`)."""

    loc: SourceLoc
    label: str
    left: _Side
    right: _Side
    domain: Domain
    seed: int

    def verdict(self) -> StepVerdict:
        return compare_sides(self.left.expr, self.right.expr, self.domain, seed=self.seed)


def _derivation_plan(card: Card) -> list[_Step | str]:
    """The card's claims to compare and, in order among them, the reasons why parts
    cannot be checked: compiling is done here, comparing is left (`_finish`)."""
    import builder.formula as compiler

    declarations = _declarations(compiler, card)
    domain = parse_domain(card.assume)
    plan: list[_Step | str] = []
    for equation in card.equations:
        try:
            with _time_limit(5.0):
                compiled = compiler.compile_equation(equation, declarations)
        except _OutOfTime:
            plan.append(f"line {equation.loc.line}: compiling took too long")
            continue
        step = 0
        for sides, relations in _chains(compiled):
            for left, relation, right in zip(sides, relations, sides[1:], strict=False):
                step += 1
                if relation.strip() not in _EQUALS:
                    continue
                if left.expr is None or right.expr is None:
                    reason = left.reason if left.expr is None else right.reason
                    plan.append(f"line {right.line}: {reason or 'not compiled'}")
                    continue
                kind = is_claim(left.expr, right.expr)
                if kind is not None:
                    continue
                plan.append(_Step(SourceLoc(equation.loc.path, right.line), f"step {step}",
                                  left, right, domain, _step_seed(card, left, right)))
        refusals = getattr(compiled, "reason", None)
        if refusals and not _chains(compiled):
            plan.append(f"line {equation.loc.line}: {refusals}")
    return plan


def _finish(plan: Sequence[_Step | str], verdicts: Sequence[StepVerdict | CheckResult]
            ) -> tuple[list[CheckResult], list[str]]:
    """(checks, reasons) from a plan and the verdicts of its steps, in order; a
    CheckResult in place of a verdict is taken as it is (a step whose process died)."""
    checks: list[CheckResult] = []
    reasons: list[str] = []
    found = iter(verdicts)
    for item in plan:
        if isinstance(item, str):
            reasons.append(item)
            continue
        verdict = next(found)
        if isinstance(verdict, CheckResult):
            checks.append(verdict)
            continue
        if verdict.status == "unchecked":
            reasons.append(f"line {item.right.line}: {item.label}: {verdict.message}")
        checks.append(CheckResult("derivation", verdict.status, item.loc,
                                  f"{item.label}: {_as_written(item.left, item.right, verdict)}"))
    return checks, reasons


def _derivation_checks(card: Card) -> tuple[list[CheckResult], list[str]]:
    """(checks of the card's claims, reasons why parts could not be checked)."""
    plan = _derivation_plan(card)
    return _finish(plan, [item.verdict() for item in plan if isinstance(item, _Step)])


# --------------------------------------------------------------------------- cards

def _card_result(card: Card, checks: Sequence[CheckResult], reasons: Sequence[str]
                 ) -> CardResult:
    decided = [check for check in checks if check.status != "unchecked"]
    if not decided:
        reason = reasons[0] if reasons else "nothing to check (definitions only)"
        return CardResult(card, "unchecked", reason, tuple(checks))
    worst = max(decided, key=lambda check: _SEVERITY[check.status])
    message = worst.message if worst.status in ("fail", "error") else ""
    return CardResult(card, worst.status, message, tuple(checks))


def _derivations(card: Card) -> tuple[list[CheckResult], list[str]]:
    """`_derivation_checks`, with our own bugs as a reason rather than a crash."""
    if not card.equations:
        return [], []
    try:
        return _derivation_checks(card)
    except Exception as error:  # noqa: BLE001 - our bug, but one card must not stop the others
        return [], [_internal(error)]


def check_card(card: Card, *, snippets_dir: Path | None, timeout: float,
               pool: Any = None,
               derived: tuple[Sequence[CheckResult], Sequence[str]] | None = None
               ) -> CardResult:
    """One card; `pool` is a started `SnippetPool` when the card links snippets;
    `derived`: its derivation checks and reasons, when already worked out elsewhere."""
    if card.nocheck is not None:
        return CardResult(card, "unchecked", f"nocheck: {card.nocheck}" if card.nocheck
                          else "nocheck", ())
    checks, reasons = _derivations(card) if derived is None else derived
    checks = list(checks)
    for target in card.checks:
        checks.append(_run_snippet(card, target, snippets_dir, timeout, pool))
    return _card_result(card, checks, reasons)


def _run_snippet(card: Card, target: str, snippets_dir: Path | None, timeout: float,
                 pool: Any) -> CheckResult:
    if snippets_dir is None:
        return CheckResult("snippet", "error", card.loc,
                           f"{target}: no snippets/ directory next to the sheet or above it")
    if pool is None:
        return CheckResult("snippet", "error", card.loc, f"{target}: no snippet worker")
    result: CheckResult = pool.run(card, target, snippets_dir, timeout)
    return result


def check_cards(cards: Sequence[Card], *, snippets_dir: Path | None, timeout: float,
                cache: CheckCache | None = None, processes: int | None = None
                ) -> tuple[CardResult, ...]:
    """Every card's result, in order. With a cache, unchanged cards are not re-checked.
    The derivations of many cards are checked in `processes` forked children (default:
    one per core; 1: serially here), with the same results as serially."""
    results: list[CardResult | None] = []
    keys: list[str | None] = []
    for card in cards:
        key = cache.key(card, snippets_dir) if cache is not None else None
        keys.append(key)
        results.append(cache.get(key, card) if cache is not None and key else None)
    todo = [index for index, result in enumerate(results) if result is None]
    if todo:
        derive = [index for index in todo
                  if cards[index].equations and cards[index].nocheck is None]
        with _Derivers(cards, derive, processes) as derivers:
            pool_context: Any = contextlib.nullcontext(None)
            if any(cards[index].checks and cards[index].nocheck is None for index in todo) \
                    and snippets_dir is not None:
                from builder.runner.pool import SnippetPool

                pool_context = SnippetPool()
            # The snippets run here while the children work out the derivations.
            with pool_context as pool:
                snippet_results = {
                    index: [_run_snippet(cards[index], target, snippets_dir, timeout, pool)
                            for target in cards[index].checks]
                    for index in todo if cards[index].nocheck is None and cards[index].checks}
            derived = derivers.results()
        for index in todo:
            card = cards[index]
            if card.nocheck is not None:
                result = check_card(card, snippets_dir=snippets_dir, timeout=timeout)
            else:
                checks, reasons = derived.get(index) or _derivations(card)
                result = _card_result(card, [*checks, *snippet_results.get(index, ())],
                                      reasons)
            results[index] = result
            key = keys[index]
            if cache is not None and key is not None and not any(
                    check.message.startswith(_LOST) for check in result.checks):
                cache.put(key, result)
    return tuple(result for result in results if result is not None)


PARALLEL_CARDS = 8
"""Cards with derivations below which forking children costs more than it saves."""
_LOST = "not checked: the process checking this card ended"
_HEADER = struct.Struct("!I")


def _parallel_processes(count: int, processes: int | None) -> int:
    """How many children should check `count` cards' derivations: none (serial) for few
    cards, one core, no `fork`, or outside the main thread or beside other threads
    (SIGALRM bounds each step only in a main thread, and a fork copies the locks other
    threads hold, never their owners)."""
    wanted = processes if processes is not None else (os.cpu_count() or 1)
    if count < PARALLEL_CARDS or wanted < 2 or not hasattr(os, "fork") \
            or threading.current_thread() is not threading.main_thread() \
            or threading.active_count() > 1:
        return 0
    return min(wanted, count)


class _Derivers:
    """The derivation checks of the cards `indices` (into `cards`). With enough of them,
    forked children (one per core) take the next card from a shared pipe, compile it and
    compare its claims, sending back `(card, key, payload)` frames: `"take"` when they
    start on it, `"plan"` (its plan, without sympy's expressions: they do not pickle),
    `"failed"` (why compiling raised), and for each step `"start"`, then its verdict (or
    why it raised). Compiling is thus shared out as the comparing is (done here before
    forking, it was a quarter of a cold check, serially). sympy and the compiler are
    imported before the fork: the children start warm. A step whose child died on it is
    an `error`, as is a card whose compiling it died on; steps of a card a child died in
    that were not started are compared here, cards no child took are left to the
    caller. Children are killed on the way out (Ctrl-C, an error here), never left
    behind. Serial: `results()` is empty and the caller checks each card itself."""

    def __init__(self, cards: Sequence[Card], indices: Sequence[int],
                 processes: int | None) -> None:
        self.cards = cards
        self.indices = list(indices)
        self.count = _parallel_processes(len(self.indices), processes)
        self.children: dict[int, int] = {}  # pid → read end of its result pipe

    def __enter__(self) -> Self:
        if not self.count:
            return self
        # Imported before the fork, so the children start warm (the compiler imports
        # sympy only when first used). Not sympy's units, which simplify() imports on its
        # first call (~0.13 s): proofs rarely get that far (`_proved_equal`), and a child
        # that does imports them itself.
        import sympy  # noqa: F401

        import builder.formula  # noqa: F401

        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        queue_read, queue_write = os.pipe()
        # Every job up front, 4 bytes each: a pipe read of 4 bytes is atomic, so each
        # child takes whole jobs, the next free one when it is ready.
        queue = b"".join(_HEADER.pack(index) for index in self.indices)
        os.set_blocking(queue_write, False)
        try:
            written = os.write(queue_write, queue)
        except OSError:
            written = 0
        os.close(queue_write)
        if written != len(queue):  # more than a pipe holds: checked by the caller
            os.close(queue_read)
            return self
        try:
            for _ in range(self.count):
                result_read, result_write = os.pipe()
                _widen(result_write)
                pid = os.fork()
                if pid == 0:  # the child: never returns
                    os.close(result_read)
                    for other in self.children.values():
                        os.close(other)
                    _derive_in_child(self.cards, queue_read, result_write)
                os.close(result_write)
                self.children[pid] = result_read
        except BaseException:
            self._kill()
            raise
        finally:
            os.close(queue_read)
        return self

    def results(self) -> dict[int, tuple[list[CheckResult], list[str]]]:
        """Each card's (checks, reasons), once every child is done; cards no child took
        are missing."""
        if not self.children:
            return {}
        taken: set[int] = set()
        plans: dict[int, list[_Step | str]] = {}
        failed: dict[int, str] = {}  # card → why compiling it or a step raised
        verdicts: dict[tuple[int, int], StepVerdict | str] = {}
        started: set[tuple[int, int]] = set()
        for index, key, payload in self._frames():
            if key == "take":
                taken.add(index)
            elif key == "plan":
                plans[index] = payload
            elif key == "failed":
                failed[index] = payload
            elif payload == "start":
                started.add((index, key))
            else:
                verdicts[index, key] = payload
        ending = ", ".join(sorted(set(self._reap()))) or "unexpectedly"
        done: dict[int, tuple[list[CheckResult], list[str]]] = {}
        for index in self.indices:
            card = self.cards[index]
            if index in failed:
                done[index] = [], [failed[index]]
            elif index in plans:
                done[index] = self._finish_card(index, plans[index], verdicts, started,
                                                ending)
            elif index in taken:  # its child died compiling it
                done[index] = [CheckResult("derivation", "error", card.loc,
                                           f"{_LOST} ({ending})")], []
        return done

    def _finish_card(self, index: int, plan: list[_Step | str],
                     verdicts: Mapping[tuple[int, int], StepVerdict | str],
                     started: set[tuple[int, int]], ending: str
                     ) -> tuple[list[CheckResult], list[str]]:
        found: list[StepVerdict | CheckResult] = []
        here: list[_Step] | None = None  # the plan compiled here, for steps no child took
        for number, step in enumerate(item for item in plan if isinstance(item, _Step)):
            verdict = verdicts.get((index, number))
            if verdict is None and (index, number) in started:
                found.append(CheckResult("derivation", "error", step.loc,
                                         f"{step.label}: {_LOST} ({ending})"))
                continue
            if verdict is None:
                try:
                    if here is None:
                        here = [item for item in _derivation_plan(self.cards[index])
                                if isinstance(item, _Step)]
                    verdict = here[number].verdict()
                except Exception as error:  # noqa: BLE001 - as in `_derivations`
                    verdict = _internal(error)
            if isinstance(verdict, str):
                return [], [verdict]
            found.append(verdict)
        return _finish(plan, found)

    def _frames(self) -> Iterator[tuple[int, Any, Any]]:
        """Every frame the children send, until each has closed its pipe."""
        buffers = {fd: bytearray() for fd in self.children.values()}
        open_fds = set(buffers)
        while open_fds:
            ready, _, _ = select.select(list(open_fds), [], [])
            for fd in ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    open_fds.discard(fd)
                    continue
                buffer = buffers[fd]
                buffer += chunk
                while len(buffer) >= _HEADER.size:
                    (size,) = _HEADER.unpack_from(buffer)
                    if len(buffer) < _HEADER.size + size:
                        break
                    frame = pickle.loads(bytes(buffer[_HEADER.size:_HEADER.size + size]))
                    del buffer[:_HEADER.size + size]
                    yield frame

    def _reap(self) -> list[str]:
        """Wait for every child; how those that did not end normally ended."""
        endings = []
        for pid, fd in list(self.children.items()):
            with contextlib.suppress(OSError):
                os.close(fd)
            _, status = os.waitpid(pid, 0)
            if os.WIFSIGNALED(status):
                endings.append(f"signal {os.WTERMSIG(status)}")
            elif os.WEXITSTATUS(status) != 0:
                endings.append(f"exit status {os.WEXITSTATUS(status)}")
            del self.children[pid]
        return endings

    def _kill(self) -> None:
        for pid in self.children:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self._reap()

    def __exit__(self, *exc: object) -> None:
        self._kill()


def _widen(pipe: int) -> None:
    """Room in a result pipe for the frames a child sends while the parent runs the
    snippets (Linux; elsewhere the child waits for the parent to read)."""
    with contextlib.suppress(ImportError, AttributeError, OSError):
        import fcntl

        fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, 1 << 20)


def _internal(error: Exception) -> str:
    return f"internal error while checking: {type(error).__name__}: {error}"


def _without_expressions(item: _Step | str) -> _Step | str:
    """A plan item as a child sends it: sympy's expressions (which may hold classes made
    at run time, and do not pickle) are left out; the parent reports from the LaTeX."""
    if isinstance(item, str):
        return item
    return replace(item, left=replace(item.left, expr=None),
                   right=replace(item.right, expr=None))


def _derive_in_child(cards: Sequence[Card], queue: int, out: int) -> None:
    """A forked child's whole life: compile the cards it takes from `queue` and compare
    their claims, sending each plan and verdict (or why it raised) to `out`
    (`_Derivers`), and leave with os._exit (never back into the parent's code, its
    `finally` blocks or atexit handlers)."""
    code = 1
    try:
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: just gone

        def send(index: int, key: str | int, payload: object) -> None:
            data = pickle.dumps((index, key, payload), protocol=pickle.HIGHEST_PROTOCOL)
            view = memoryview(_HEADER.pack(len(data)) + data)
            while view:
                view = view[os.write(out, view):]

        while True:
            taken = os.read(queue, _HEADER.size)
            if len(taken) < _HEADER.size:
                break
            (index,) = _HEADER.unpack(taken)
            send(index, "take", None)
            try:
                plan = _derivation_plan(cards[index])
            except Exception as error:  # noqa: BLE001 - the card's reason, as serially
                send(index, "failed", _internal(error))
                continue
            send(index, "plan", [_without_expressions(item) for item in plan])
            for number, step in enumerate(item for item in plan if isinstance(item, _Step)):
                send(index, number, "start")
                try:
                    verdict: StepVerdict | str = step.verdict()
                except Exception as error:  # noqa: BLE001 - the card's reason, as serially
                    verdict = _internal(error)
                send(index, number, verdict)
        code = 0
    finally:
        os._exit(code)


# --------------------------------------------------------------------------- cache

_BUILDER = PACKAGE
_BUILDER_FILES = ("check/core.py", "formula/core.py", "runner/pool.py", "runner/card.py",
                  "model.py")


class CheckCache:
    """Card results on disk under `directory` (`.cache/check/`), one file per card, keyed
    by what decides the result: the card's content (not its position: lines are stored
    relative to the card, so an edit above it does not re-check it), the builder's check
    code, and the linked snippet modules. Written atomically; a damaged entry is a miss."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        digest = hashlib.blake2b(digest_size=16)
        for name in _BUILDER_FILES:
            with contextlib.suppress(OSError):
                digest.update(name.encode() + (_BUILDER / name).read_bytes())
        self._builder_version = digest.hexdigest()
        self._snippet_versions: dict[Path, bytes] = {}

    def _snippet_version(self, path: Path) -> bytes:
        if path not in self._snippet_versions:
            try:
                self._snippet_versions[path] = path.read_bytes()
            except OSError:
                self._snippet_versions[path] = b"\1missing"
        return self._snippet_versions[path]

    def key(self, card: Card, snippets_dir: Path | None) -> str:
        digest = hashlib.blake2b(digest_size=20)
        origin = card.loc.line
        what = (card.title, [(eq.tex, eq.loc.line - origin) for eq in card.equations],
                card.checks, card.assume, card.nocheck, card.declarations, card.code,
                self._builder_version, str(snippets_dir))
        digest.update(repr(what).encode())
        if snippets_dir is not None:
            for target in card.checks:
                module = target.rsplit(".", 1)[0].replace(".", "/")
                digest.update(self._snippet_version(snippets_dir / f"{module}.py"))
        return digest.hexdigest()

    def get(self, key: str, card: Card) -> CardResult | None:
        try:
            data = json.loads((self.directory / f"{key}.json").read_text(encoding="utf-8"))
            checks = tuple(
                CheckResult(item["kind"], item["status"],
                            SourceLoc(card.loc.path, card.loc.line + item["offset"]),
                            item["message"])
                for item in data["checks"])
            return CardResult(card, data["status"], data["message"], checks)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, result: CardResult) -> None:
        if any(check.status == "error" and check.kind == "snippet" for check in result.checks):
            return  # a timeout may be the machine's load, not the snippet: run it again
        data = {"status": result.status, "message": result.message,
                "checks": [{"kind": check.kind, "status": check.status,
                            "offset": check.loc.line - result.card.loc.line,
                            "message": check.message} for check in result.checks]}
        with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
            write_text_atomically(self.directory / f"{key}.json", json.dumps(data))


# --------------------------------------------------------------------------- reporting

STATUSES: tuple[Status, ...] = ("pass", "fail", "error", "unchecked")


def find_snippets_dir(sheet: Path) -> Path | None:
    """The nearest `snippets/` in the sheet's directory or an ancestor (SPEC.md §1), as
    pytest finds `conftest.py`."""
    folder = sheet.absolute().parent
    for directory in (folder, *folder.parents):
        if (directory / "snippets").is_dir():
            return directory / "snippets"
    return None


def failing_checks(result: CardResult) -> list[tuple[SourceLoc, str]]:
    """(where, `title: message`) for each failing or erroring check of the card, in order
    (a wrong step and a missing snippet module are both shown); the card's own location
    and message when it failed without such a check."""
    title = f"{result.card.title}: " if result.card.title else ""
    found = [(check.loc, f"{title}{check.message}") for check in result.checks
             if check.status in ("fail", "error")]
    if not found and result.status in ("fail", "error"):
        found = [(result.loc, f"{title}{result.message}")]
    return found


def report_lines(result: CardResult) -> list[str]:
    """`path:line: title: message`, one per failing check (`failing_checks`)."""
    return [f"{loc}: {text}" for loc, text in failing_checks(result)]


def _escape(text: str, *, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def github_annotation(result: CardResult) -> str:
    """A GitHub Actions workflow command that marks the line in the pull request."""
    return _github(result.loc, result.card.title, result.message)


def github_annotations(result: CardResult) -> list[str]:
    """One `github_annotation` per failing check (`failing_checks`)."""
    title = f"{result.card.title}: " if result.card.title else ""
    return [_github(loc, result.card.title, text.removeprefix(title))
            for loc, text in failing_checks(result)]


def _github(loc: SourceLoc, title: str, message: str) -> str:
    return (f"::error file={_escape(str(loc.path), property_value=True)},line={loc.line},"
            f"title={_escape(title or 'formula', property_value=True)}::{_escape(message)}")


def summary(results: Sequence[CardResult]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for result in results:
        counts[result.status] += 1
    return counts


def summary_line(results: Sequence[CardResult]) -> str:
    counts = summary(results)
    return (f"{counts['pass']} passed, {counts['fail']} failed, "
            f"{counts['error']} error{'' if counts['error'] == 1 else 's'}, "
            f"{counts['unchecked']} unchecked")


def results_json(results: Sequence[CardResult]) -> dict[str, Any]:
    """The `--json` document of SPEC.md §2."""
    return {
        "cards": [{
            "file": str(result.card.loc.path),
            "line": result.card.loc.line,
            "title": result.card.title,
            "status": result.status,
            "message": result.message,
            "checks": [{"kind": check.kind, "status": check.status, "line": check.loc.line,
                        "message": check.message} for check in result.checks],
        } for result in results],
        "summary": summary(results),
    }


@dataclass(frozen=True, slots=True)
class Coverage:
    """How many display equations compiled, and where the others are, by reason (most
    frequent first; locations in document order)."""

    total: int
    compiled: int
    reasons: tuple[tuple[str, tuple[SourceLoc, ...]], ...]

    def to_json(self) -> dict[str, Any]:
        """The `coverage` key of `sheets check --coverage --json`."""
        return {"total": self.total, "compiled": self.compiled,
                "reasons": [{"reason": reason, "count": len(locs),
                             "locations": [{"file": str(loc.path), "line": loc.line}
                                           for loc in locs]}
                            for reason, locs in self.reasons]}


COVERAGE_EXAMPLES = 3
"""Locations printed per reason by `--coverage` (all of them with `--verbose`)."""


def coverage(cards: Sequence[Card]) -> Coverage:
    """Compile every display equation of `cards` and group the refusals by reason."""
    import builder.formula as compiler

    total = compiled_count = 0
    reasons: dict[str, list[SourceLoc]] = {}
    for card in cards:
        declarations = _declarations(compiler, card)
        for equation in card.equations:
            total += 1
            try:
                with _time_limit(5.0):
                    compiled = compiler.compile_equation(equation, declarations)
            except _OutOfTime:
                reasons.setdefault("compiling took too long", []).append(equation.loc)
                continue
            refused = [(side.reason or "not compiled", side.line)
                       for sides, _ in _chains(compiled) for side in sides if side.expr is None]
            whole = getattr(compiled, "reason", None)
            if whole and not refused:
                refused = [(str(whole), equation.loc.line)]
            if refused:
                reason, line = refused[0]
                reasons.setdefault(reason, []).append(SourceLoc(equation.loc.path, line))
            else:
                compiled_count += 1
    ordered = sorted(reasons.items(), key=lambda item: -len(item[1]))  # stable: first seen
    return Coverage(total, compiled_count,
                    tuple((reason, tuple(locs)) for reason, locs in ordered))


def coverage_report(cards: Sequence[Card] | Coverage, *, places: int | None = 0) -> str:
    """`sheets check --coverage`: how many display equations compiled, and the reasons
    for the others, grouped (most frequent first), each followed by where it happened:
    the first `places` locations (`COVERAGE_EXAMPLES` from the command line; None: all
    of them, `--verbose`)."""
    found = cards if isinstance(cards, Coverage) else coverage(cards)
    share = 100 * found.compiled / found.total if found.total else 100.0
    lines = [(f"coverage: {found.compiled} of {found.total} display equations compiled "
              f"({share:.0f} %)")]
    for reason, locs in found.reasons:
        lines.append(f"  {len(locs):4d}  {reason}")
        shown = locs if places is None else locs[:places]
        more = len(locs) - len(shown)
        lines += [f"          {loc}" for loc in shown]
        if more and shown:
            lines.append(f"          … {more} more (--verbose lists all)")
    return "\n".join(lines)
