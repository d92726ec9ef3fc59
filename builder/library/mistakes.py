"""The typical mistakes of a standard formula: the formula changed the way notes get it
wrong (one sign, a missing factor, exponent, square or square root, a ratio upside down
inside a log, the sign in an exponent, two quantities swapped), each with what it
changed, in words a reader can find in their own LaTeX. A missing term is not one of
them: notes leave out a bias or a constant on purpose.

A card whose formula equals one of these (under a renaming of its symbols) is that
mistake, and the message says which; the mistakes are made from the entry's formula, so
every entry has them without writing them down.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Mistake", "mistakes"]


@dataclass(frozen=True, slots=True)
class Mistake:
    expr: Any
    """The standard formula with the mistake made."""
    template: str
    """What differs, with `{0}`, `{1}` for `parts`: `the sign of {0}`."""
    parts: tuple[Any, ...] = ()

    def what(self, renaming: Mapping[Any, Any] | None = None) -> str:
        """What differs, in the card's symbols when `renaming` (entry symbol → card
        symbol) is given: `the sign of 2 p_h`."""
        return self.template.format(*(_tex(part.xreplace(dict(renaming or {})))
                                      for part in self.parts))


def _tex(expr: Any) -> str:
    """LaTeX as notes write it: `q_x` for sympy's `{q}_{x}`."""
    import re

    import sympy

    text = str(sympy.latex(expr))
    # (Not the argument of a command: `\\hat{m}_{t}` stays as it is.)
    return re.sub(r"(?<![A-Za-z])\{(\w+)\}_\{(\w+)\}", r"\1_{\2}", text)


def mistakes(expr: Any) -> list[Mistake]:
    """The typical mistakes of `expr`, each once (two ways to the same formula keep the
    first description), never the formula itself."""
    import sympy

    found: list[Mistake] = []
    seen = {expr}
    for changed, template, parts in _changes(expr):
        if changed in seen or changed.has(sympy.nan, sympy.zoo):
            continue
        seen.add(changed)
        found.append(Mistake(changed, template, parts))
    return found


def _changes(expr: Any) -> Iterator[tuple[Any, str, tuple[Any, ...]]]:
    import sympy

    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.log) and node.args and _is_ratio(node.args[0]):
            inner = node.args[0]
            yield (_swap(expr, node, sympy.log(1 / inner)),
                   "the ratio inside the log upside down: log {0} where the standard has "
                   "log {1}",
                   (1 / inner, inner))
        if isinstance(node, sympy.exp):
            yield (_swap(expr, node, sympy.exp(-node.args[0])),
                   "the sign in the exponent: e^{{{0}}} where the standard has e^{{{1}}}",
                   (-node.args[0], node.args[0]))
        if isinstance(node, sympy.Add):
            for term in node.args:
                flipped = node.func(*(-arg if arg is term else arg for arg in node.args))
                yield (_swap(expr, node, flipped), "a flipped sign: {1} where the standard "
                       "has {0}", (term, -term))
        if isinstance(node, sympy.Mul):
            for factor in node.args:
                if factor == -1:
                    continue
                kept = node.func(*(arg for arg in node.args if arg is not factor))
                yield _swap(expr, node, kept), "a missing factor {0}", (factor,)
                if isinstance(factor, sympy.Pow) and factor.exp.is_negative:
                    moved = node.func(*(1 / arg if arg is factor else arg
                                        for arg in node.args))
                    yield (_swap(expr, node, moved), "{0} multiplied instead of divided",
                           (factor.base,))
        if isinstance(node, sympy.Pow):
            base, exponent = node.args
            if exponent == sympy.Rational(1, 2):
                yield _swap(expr, node, base), "a missing square root of {0}", (base,)
            elif exponent == sympy.Rational(-1, 2):
                yield _swap(expr, node, 1 / base), "a missing square root of {0}", (base,)
            elif exponent == 2:
                yield _swap(expr, node, base), "a missing square of {0}", (base,)
            elif exponent == -2:
                yield _swap(expr, node, 1 / base), "a missing square of {0}", (base,)
            elif exponent == -1:
                yield _swap(expr, node, base), "{0} multiplied instead of divided", (base,)
            else:
                yield _swap(expr, node, base), "a missing exponent {0} on {1}", (exponent,
                                                                                  base)
            if exponent.is_number and exponent.is_positive and exponent != 1:
                yield (_swap(expr, node, base ** (2 * exponent)),
                       "{0} where the standard has {1}",
                       (base ** (2 * exponent), node))
    yield -expr, "the sign of the whole formula", ()
    quantities = sorted(_quantities(expr), key=str)
    for first, second in itertools.combinations(quantities, 2):
        # (A swap the formula does not notice, `x + y`, is the formula itself: dropped.)
        if _kind(expr, first) == _kind(expr, second):
            yield (expr.xreplace({first: second, second: first}),
                   "{0} and {1} swapped", (first, second))
    for symbol in quantities:
        if isinstance(symbol, sympy.IndexedBase):
            elements = [item for item in expr.atoms(sympy.Indexed) if item.base == symbol]
            yield (expr.xreplace({item: -item for item in elements}),
                   "{1} where the standard has {0}", (elements[0], -elements[0]))
        else:
            yield expr.xreplace({symbol: -symbol}), "{1} where the standard has {0}", (
                symbol, -symbol)


def _kind(expr: Any, quantity: Any) -> int:
    """A quantity's number of indices in `expr` (0: a scalar): only quantities of one
    kind can be swapped."""
    import sympy

    if not isinstance(quantity, sympy.IndexedBase):
        return 0
    return max(len(item.indices) for item in expr.atoms(sympy.Indexed)
               if item.base == quantity)


def _quantities(expr: Any) -> set[Any]:
    """The formula's scalars and arrays (not the indices of its sums)."""
    import sympy

    bound = {limit[0] for node in expr.atoms(sympy.Sum, sympy.Product) for limit in node.limits}
    arrays = {item.base for item in expr.atoms(sympy.Indexed)}
    labels = {base.label for base in arrays}
    indices = {symbol for item in expr.atoms(sympy.Indexed) for index in item.indices
               for symbol in index.free_symbols}
    scalars = {symbol for symbol in expr.free_symbols if isinstance(symbol, sympy.Symbol)
               and symbol not in bound and symbol not in labels and symbol not in indices
               and not symbol.name.startswith("#")}
    return scalars | arrays


def _is_ratio(expr: Any) -> bool:
    """`p/q`: a quotient whose ratio a note may write upside down."""
    import sympy

    return isinstance(expr, sympy.Mul) and any(
        isinstance(arg, sympy.Pow) and arg.exp.is_negative for arg in expr.args)


def _swap(expr: Any, node: Any, new: Any) -> Any:
    """`expr` with `node` (and every copy of it) replaced by `new`."""
    return expr.xreplace({node: new})
