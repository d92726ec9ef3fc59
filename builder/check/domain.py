"""The domain a card's claims are compared on: the intervals `<!-- assume: … -->` gives
its symbols, the defaults for the others, and how points are drawn from them.

What `assume:` says that cannot be read is never a wrong bound: the defaults then apply,
and `assume_problems` says what was ignored.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from builder.formula import python_name

__all__ = ["DEFAULT_INTERVAL", "POSITIVE_INTERVAL", "SCALE_INTERVAL", "Domain", "Interval",
           "assume_problems", "parse_domain", "sample"]


@dataclass(frozen=True, slots=True)
class Interval:
    """Where a symbol's values are drawn from (`integer`: whole numbers only)."""

    low: float = -math.inf
    high: float = math.inf
    integer: bool = False


DEFAULT_INTERVAL = Interval(-3.0, 3.0)
"""Where undeclared symbols are sampled: every sign, mostly in [-3, 3], with some points
near 0 and some of larger magnitude (`sample`), so that `|x| = x` or `\\max(0, x) = x`
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
    simplex: frozenset[str] = frozenset()
    """Arrays whose entries are a probability vector (`\\sum_j y_j = 1` in `assume:`):
    drawn non-negative, summing to 1 over the sum that runs through them."""
    one_hot: frozenset[str] = frozenset()
    """Arrays that are one-hot (`y one-hot`): one entry 1, the others 0."""
    densities: frozenset[str] = frozenset()
    """Unknown functions that add up to 1 over their first argument (`\\int p(x) dx = 1`,
    `\\sum_x p(x) = 1` in `assume:`): `\\int p(x) F dx` is F where F does not use x."""

    def constrained(self, name: str) -> bool:
        """Does `assume:` say what the entries of the array `name` add up to?"""
        return name in self.simplex or name in self.one_hot

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
_SUMS_TO_ONE = re.compile(
    r"(?:\\sum|∑)\s*_\s*\{?\s*(?P<index>[A-Za-z])\s*(?:=[^}]*)?\}?"
    r"(?:\s*\^\s*(?:\{[^}]*\}|\\?\w+))?\s*(?P<name>.+?)\s*_\s*\{?\s*(?P=index)\s*\}?"
    r"\s*=\s*1")
"""`\\sum_j y_j = 1`, `\\sum_{k=1}^K \\pi_k = 1`: a probability vector."""
_SCRIPT = r"(?:\s*_\s*(?:\{[^{}]*\}|\\?\w+))?"
_FUNCTION = (r"(?P<name>\\?[A-Za-z]\w*" + _SCRIPT + r")\s*"
             r"(?:\\left\s*)?\(\s*(?P<variable>\\?[A-Za-z]\w*)\s*"
             r"(?:(?:\\mid|\||;)[^()]*)?(?:\\right\s*)?\)")
_INTEGRATES_TO_ONE = re.compile(
    r"(?:\\int|∫)(?:\s*_\s*\{\s*-\s*\\infty\s*\}\s*\^\s*\{?\s*\+?\s*\\infty\s*\}?)?"
    r"\s*" + _FUNCTION + r"\s*(?:\\[,;:!]\s*|\\ \s*)*(?:\\mathrm\{d\}|d)\s*(?P=variable)"
    r"\s*=\s*1")
"""`\\int p(x) dx = 1`, `\\int_{-\\infty}^{\\infty} p(x \\mid \\theta) \\, dx = 1`: a density."""
_ADDS_TO_ONE = re.compile(
    r"(?:\\sum|∑)\s*_\s*\{?\s*(?P<index>\\?[A-Za-z]\w*)\s*\}?\s*" + _FUNCTION + r"\s*=\s*1")
"""`\\sum_x p(x) = 1`: a distribution (a vector `\\sum_j y_j = 1` is `_SUMS_TO_ONE`)."""
_ONE_HOT = re.compile(r"(?P<name>.+?)\s*(?:\\text\{\s*one-hot\s*\}|\bone-hot)")
"""`y one-hot`, `\\mathbf{t} \\text{ one-hot}`: a one-hot vector."""
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

    simplex: set[str] = set()
    one_hot: set[str] = set()
    densities: set[str] = set()
    for condition in assume:
        text = condition.strip().rstrip(".")
        density = _INTEGRATES_TO_ONE.fullmatch(text) or _ADDS_TO_ONE.fullmatch(text)
        if density is not None and (density.re is _INTEGRATES_TO_ONE
                                    or density.group("index") == density.group("variable")):
            densities.add(python_name(density.group("name")))
            unused_names()
            waiting, waiting_text = [], []
            continue
        constraint = _SUMS_TO_ONE.fullmatch(text) or _ONE_HOT.fullmatch(text)
        if constraint is not None:
            written = constraint.group("name").strip()
            # `\\pi` alone reads as the number π, but here it can only be a vector's name
            names = [written[1:]] if re.fullmatch(r"\\[A-Za-z]+", written) \
                else _names_of(written)
            if names is None or len(names) != 1:
                problems.append(f"`{text}`: not a vector's name before the index")
            else:
                (simplex if constraint.re is _SUMS_TO_ONE else one_hot).add(names[0])
            unused_names()
            waiting, waiting_text = [], []
            continue
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
        if re.match(r"\\int|\\sum|∫|∑", text) and re.search(r"=\s*1$", text):
            problems.append(f"`{text}`: not a constraint it can use (write `\\int p(x) dx = 1` "
                            f"for a density over all x, `\\sum_x p(x) = 1`, or "
                            f"`\\sum_j y_j = 1` for a probability vector)")
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
    return Domain(intervals, simplex=frozenset(simplex), one_hot=frozenset(one_hot),
                  densities=frozenset(densities)), problems


def sample(interval: Interval, rng: random.Random) -> float:
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

