"""What compiling an equation gives: relation chains of sides, each a sympy expression
or the reason it was refused. `builder.check` reads these fields directly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from builder.model import Equation

if TYPE_CHECKING:
    import sympy


TEXT_ONLY = "no formula (text only)"
"""`CompiledEquation.reason` of an equation that holds words and no formula: nothing in it
to check (not a step the checker skipped)."""


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a relation chain."""

    tex: str
    line: int
    """1-based sheet line where the side starts (rows of `aligned` have their own)."""
    expr: sympy.Basic | None
    """The sympy expression (a relational or set where the side is one), or None when
    refused."""
    reason: str | None
    """Why it was refused (short and groupable: "integral not supported")."""


@dataclass(frozen=True, slots=True)
class Chain:
    """`A = B \\approx C`: sides and the relations between them (`len(sides) - 1`)."""

    sides: tuple[Side, ...]
    relations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CompiledEquation:
    """One display equation compiled: its relation chains, or why none."""

    equation: Equation
    chains: tuple[Chain, ...]
    reason: str | None
    """Why the whole equation was refused (then `chains` is empty)."""


