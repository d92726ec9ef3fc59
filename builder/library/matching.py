"""Is a card's formula an entry's, under some renaming of its symbols, or one of the
entry's typical mistakes?

Values are drawn for the entry's symbols (from their domains), and the card's formula is
evaluated with them handed to its symbols in every way that keeps scalars scalars and
arrays arrays (the ways whose names agree with the entry's first). The card's values,
one renaming at a time, are compared with the standard form's, each variant's and each
mistake's, which are computed once. Equal at every point where both have a value (and
at enough of them) is equal.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from builder.library.catalog import Entry, Form
from builder.library.mistakes import Mistake
from builder.library.shapes import Shape

__all__ = ["Found", "compare_with_entry"]

POINTS = 6
"""Points a card's formula is compared at."""
_ENOUGH = 4
"""Points with a value on both sides needed before two formulas are called equal."""
_RENAMINGS = 5040
"""At most this many renamings are tried (7 symbols of one kind)."""
_RELATIVE = 1e-7
_ABSOLUTE = 1e-10


@dataclass(frozen=True, slots=True)
class Found:
    """What a card's formula is: an entry's form (`mistake` None) or one of its mistakes."""

    entry: Entry
    form: Form
    renaming: tuple[tuple[str, str], ...]
    """(card symbol, entry symbol) pairs."""
    mistake: Mistake | None = None
    agreement: int = 0
    """How many of the card's symbols have a name the entry gives them (`F` for the
    filter size): between entries of one form, the one the card's names point to."""


def compare_with_entry(card: Shape, entry: Entry, *, with_mistakes: bool,
                       same_functions: bool = False,
                       fixed: Mapping[str, str] | None = None) -> Found | None:
    """The card's formula as one of the entry's forms, else (with `with_mistakes`) as
    one of their mistakes, else None. `same_functions`: only forms that use the same
    functions as the card (`floor`, `exp`, a sum…), for a card no title points to;
    `fixed`: card symbols whose entry symbol is given (`map:`)."""
    if not with_mistakes and all(form.shape.signature != card.signature
                                 for form in entry.forms):
        return None
    candidates: list[tuple[Form, Mistake | None, Shape]] = []
    for form in entry.forms:
        candidates.append((form, None, form.shape))
    if with_mistakes:
        for form in entry.forms:
            # A mistake keeps the form's symbols or drops one (`1 - \beta` for
            # `1 - \beta^t`): only forms that close to the card are worth making them for.
            scalars, arrays = form.shape.signature
            if arrays != card.signature[1] or not 0 <= scalars - card.signature[0] <= (
                    0 if same_functions else 1) \
                    or (same_functions and _functions(form.shape) != _functions(card)):
                continue
            candidates.extend((form, mistake, shape) for mistake, shape in form.mistakes)
    candidates = [item for item in candidates if item[2].signature == card.signature
                  and (not same_functions or _functions(item[2]) == _functions(card))]
    if not candidates:
        return None
    import numpy as np

    points = _points(entry)
    targets: list[tuple[Form, Mistake | None, Shape, Any]] = []
    for form, mistake, shape in candidates:
        values = _target_values(entry, shape, points)
        if values is not None:
            targets.append((form, mistake, shape, values))
    first_mistake: Found | None = None
    firsts: dict[Any, list[float]] = {}
    for _, _, shape, expected in targets:
        if np.isfinite(expected[0, 0]):
            firsts.setdefault(_symbols_of(shape), []).append(float(expected[0, 0]))
    for symbols in dict.fromkeys(_symbols_of(shape) for _, _, shape, _ in targets):
        group = [target for target in targets if _symbols_of(target[2]) == symbols]
        for renaming, agreement in _renamings(card, symbols, entry):
            if fixed and any(renaming.get(mine, theirs) != theirs
                             for mine, theirs in fixed.items()):
                continue
            renamed = [{name: point[renaming[name]] for name in renaming} for point in points]
            # One point first: most renamings differ from every target there already.
            first = card.values(renamed[0])
            if first is None or not _near_any(float(first[0]), firsts[symbols]):
                continue
            values = _values(card, renamed)
            if values is None:
                continue
            for form, mistake, _, expected in group:
                if not _equal(values, expected):
                    continue
                found = Found(entry, form, tuple(sorted(renaming.items())), mistake,
                              agreement)
                if mistake is None:
                    return found
                # (Of the mistakes the card could be, the one whose renaming keeps the
                # most names: `v - \\eta g` under a momentum title lacks α; it is not a
                # flipped sign with η for α and g for v.)
                if first_mistake is None or agreement > first_mistake.agreement:
                    first_mistake = found
                break
    return first_mistake


def _functions(shape: Shape) -> frozenset[str]:
    return _functions_of(shape.expr)


@functools.lru_cache(maxsize=8192)
def _functions_of(expr: Any) -> frozenset[str]:
    """The functions, sums and products a formula uses (`floor`, `exp`, `Sum`)."""
    import sympy

    return frozenset(type(node).__name__ for node in sympy.preorder_traversal(expr)
                     if isinstance(node, sympy.Function | sympy.Sum | sympy.Product))


def _symbols_of(shape: Shape) -> tuple[tuple[str, ...], tuple[tuple[str, int], ...]]:
    return shape.scalars, shape.arrays


_POINTS_CACHE: dict[str, list[dict[str, Any]]] = {}


def _points(entry: Entry) -> list[dict[str, Any]]:
    """`POINTS` points of the entry's symbols, drawn from their domains, the same on
    every run (seeded by the entry's id)."""
    cached = _POINTS_CACHE.get(entry.id)
    if cached is None:
        import numpy as np

        seed = int.from_bytes(hashlib.blake2b(entry.id.encode(), digest_size=8).digest(),
                              "big")
        rng = np.random.default_rng(seed)
        cached = [{name: spec.domain.draw(rng) for name, spec in entry.symbols.items()}
                  for _ in range(POINTS)]
        _POINTS_CACHE[entry.id] = cached
    return cached


def _values(shape: Shape, points: Sequence[Mapping[str, Any]]) -> Any:
    """The shape's values at each point, one row each (NaN where it has none), or None
    when it has a value at too few of them."""
    import numpy as np

    rows: list[Any] = []
    width = 0
    for point in points:
        value = shape.values(point)
        if value is not None:
            width = max(width, value.size)
        rows.append(value)
    if width == 0:
        return None
    table = np.full((len(rows), width), np.nan)
    for number, value in enumerate(rows):
        if value is not None and value.size == width:
            table[number] = value
    usable = np.all(np.isfinite(table), axis=1)
    if usable.sum() < _ENOUGH:
        return None
    return table


_TARGETS: dict[tuple[str, int], Any] = {}


def _target_values(entry: Entry, shape: Shape, points: Sequence[Mapping[str, Any]]) -> Any:
    """`_values` of an entry's form or mistake, computed once per process (the entries
    and their points never change)."""
    key = (entry.id, id(shape))
    if key not in _TARGETS:
        _TARGETS[key] = (_values(shape, points), shape)  # the shape kept: its id stays its own
    return _TARGETS[key][0]


def _near_any(value: float, expected: Sequence[float]) -> bool:
    """Whether `value` is one of `expected` (the targets' values at the first point)."""
    return any(abs(value - other) <= _ABSOLUTE + _RELATIVE * abs(other) for other in expected)


def _equal(values: Any, expected: Any) -> bool:
    import numpy as np

    if values.shape != expected.shape:
        return False
    both = np.all(np.isfinite(values), axis=1) & np.all(np.isfinite(expected), axis=1)
    if both.sum() < _ENOUGH:
        return False
    return bool(np.allclose(values[both], expected[both], rtol=_RELATIVE, atol=_ABSOLUTE))


_HEAD = re.compile(r"^(?:Derivative\((\w+),(\w+)\)|(\w+?)(?:\[.*\])?)$")


@functools.lru_cache(maxsize=4096)
def _card_name(name: str) -> str:
    """The name a card's symbol goes by: `theta` for `theta[t+1]`, `m_hat` for
    `m_hat[t]`, `grad` for a derivative."""
    match = _HEAD.match(name)
    if match is None:
        return name
    if match.group(1):
        return "grad"
    return match.group(3) or name


def _agrees(card_name: str, entry: Entry, entry_name: str) -> bool:
    spec = entry.symbols[entry_name]
    name = _card_name(card_name)
    return name == entry_name or name in spec.aliases


def _renamings(card: Shape, form_symbols: tuple[tuple[str, ...], tuple[tuple[str, int], ...]],
               entry: Entry) -> Iterator[tuple[dict[str, str], int]]:
    """Each renaming of the card's symbols to the form's (scalars to scalars, arrays to
    arrays of as many indices), with how many names agree; those whose names agree most
    come first, at most `_RENAMINGS`."""
    scalars, arrays = form_symbols
    groups: list[tuple[list[str], list[str]]] = [(list(card.scalars), list(scalars))]
    for ndim in sorted({ndim for _, ndim in arrays}):
        groups.append(([name for name, n in card.arrays if n == ndim],
                       [name for name, n in arrays if n == ndim]))
    total = 1
    for card_names, _ in groups:
        for count in range(1, len(card_names) + 1):
            total *= count
    if total > _RENAMINGS:
        return
    options: list[list[tuple[int, dict[str, str]]]] = []
    for card_names, entry_names in groups:
        choices = []
        for order in itertools.permutations(entry_names):
            pairs = dict(zip(card_names, order, strict=True))
            score = sum(_agrees(name, entry, target) for name, target in pairs.items())
            choices.append((score, pairs))
        options.append(choices)
    combined = []
    for parts in itertools.product(*options):
        renaming: dict[str, str] = {}
        score = 0
        for part_score, pairs in parts:
            renaming.update(pairs)
            score += part_score
        combined.append((score, renaming))
    combined.sort(key=lambda item: -item[0])
    for score, renaming in combined:
        yield renaming, score
