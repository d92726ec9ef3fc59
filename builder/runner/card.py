"""The `card` a linked snippet receives (docs/format.md, "The card a snippet
receives").

Built in the worker process from the plain `Card` (which is what crosses the pipe); the
equations are compiled there, on first use, by builder/formula/, so a snippet that only
reads `card.code` does not wait for sympy, and an equation that does not compile is an
error only for the snippet that asks for it (docs/format.md: "LaTeX that cannot be compiled
leaves the card unchecked with the reason, unless a snippet needs it: then the card is
error").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

from builder.formula import Declarations, Formula, declarations_for, formula
from builder.model import Card, Equation, SourceLoc

__all__ = ["EquationError", "SnippetCard", "compiled_card"]


class EquationError(Exception):
    """A snippet used an equation of its card that does not compile; says which one
    (sheet and line) and why. `str()` is `sheets/01.md:99: the equation does not
    compile: unbalanced braces`; the worker reports it at that line, as the sheet's
    error rather than the snippet's."""

    def __init__(self, loc: SourceLoc | None, reason: str) -> None:
        super().__init__(f"{loc}: {reason}" if loc else reason)
        self.loc = loc
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.loc, self.reason))


class _Equations(Sequence[Formula]):
    """`card.eqs`: every display equation of the card, compiled when first indexed."""

    def __init__(self, card: Card) -> None:
        self._card = card
        self._compiled: dict[int, Formula] = {}
        self._failed: dict[int, tuple[SourceLoc | None, str]] = {}
        self._declarations: Declarations | None = None

    def compile_all(self) -> None:
        """Compile every equation now, keeping why one does not compile for the
        snippet that asks for it (a fresh `EquationError` then)."""
        for position in range(len(self)):
            try:
                self[position]
            except EquationError as error:
                self._failed[position] = (error.loc, error.reason)

    def __len__(self) -> int:
        return len(self._card.equations)

    @overload
    def __getitem__(self, index: int) -> Formula: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Formula]: ...

    def __getitem__(self, index: int | slice) -> Formula | Sequence[Formula]:
        if isinstance(index, slice):
            return tuple(self[position] for position in range(len(self))[index])
        position = range(len(self))[index]  # IndexError as for a tuple
        if position in self._failed:
            raise EquationError(*self._failed[position])
        if position not in self._compiled:
            self._compiled[position] = self._compile(self._card.equations[position])
        return self._compiled[position]

    def __iter__(self) -> Iterator[Formula]:
        return (self[position] for position in range(len(self)))

    def __repr__(self) -> str:
        return f"<{len(self)} equations of card {self._card.title!r}>"

    def _compile(self, equation: Equation) -> Formula:
        try:
            if self._declarations is None:
                self._declarations = declarations_for(self._card)
            return formula(equation, self._declarations)
        except Exception as error:
            raise EquationError(equation.loc,
                                f"the equation does not compile: {error}") from error


class SnippetCard:
    """What `function(card)` receives: where the card is, its equations as numpy
    callables (`card.eq(**values)`), and its fenced code blocks."""

    __slots__ = ("_card", "eqs")

    def __init__(self, card: Card) -> None:
        self._card = card
        self.eqs: Sequence[Formula] = _Equations(card)
        """Every display equation of the card, in order, each a `Formula`."""

    @property
    def title(self) -> str:
        return self._card.title

    @property
    def path(self) -> Path:
        """The sheet's path, as given to `sheets check`."""
        return Path(self._card.loc.path)

    @property
    def line(self) -> int:
        """The card's line in the sheet (1-based): its heading's."""
        return self._card.loc.line

    @property
    def code(self) -> tuple[str, ...]:
        """The card's fenced code blocks, as strings."""
        return self._card.code

    @property
    def eq(self) -> Formula:
        """The card's first display equation, compiled (a `Formula`)."""
        if not len(self.eqs):
            raise EquationError(self._card.loc, f"card {self._card.title!r} has no "
                                "display equation")
        return self.eqs[0]

    @property
    def card(self) -> Card:
        """The plain `Card` this was built from (annotations, `assume:`, slide)."""
        return self._card

    def __repr__(self) -> str:
        return f"<card {self._card.title!r} at {self._card.loc}>"


def compiled_card(card: Card) -> SnippetCard:
    """The `card` for a snippet, every equation compiled already (by the fork server,
    whose compiler caches stay warm from card to card, so that each call's child only
    evaluates)."""
    prepared = SnippetCard(card)
    equations = prepared.eqs
    assert isinstance(equations, _Equations)
    equations.compile_all()
    return prepared
