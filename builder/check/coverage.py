"""`sheets check --coverage`: how many display equations compile, and where the others
are, grouped by the compiler's reason."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from builder.check.limits import OutOfTime, time_limit
from builder.formula import compile_equation, declarations_for
from builder.model import Card, CardResult, SourceLoc

__all__ = ["COVERAGE_EXAMPLES", "Coverage", "coverage", "coverage_report"]


@dataclass(frozen=True, slots=True)
class Coverage:
    """How many display equations compiled, and where the others are, by reason (most
    frequent first; locations in document order)."""

    total: int
    compiled: int
    reasons: tuple[tuple[str, tuple[SourceLoc, ...]], ...]
    unevaluated: tuple[tuple[str, tuple[SourceLoc, ...]], ...] = ()
    """Equations that compiled with a step left unchecked (sides that cannot be
    evaluated, a substitution), by that step's reason."""

    @property
    def evaluated(self) -> int:
        """Equations that compiled with every step evaluated."""
        return self.compiled - sum(len(locs) for _, locs in self.unevaluated)

    def to_json(self) -> dict[str, Any]:
        """The `coverage` key of `sheets check --coverage --json`."""
        return {"total": self.total, "compiled": self.compiled, "evaluated": self.evaluated,
                "reasons": _groups_json(self.reasons),
                "unevaluated": _groups_json(self.unevaluated)}


def _groups_json(groups: tuple[tuple[str, tuple[SourceLoc, ...]], ...]
                 ) -> list[dict[str, Any]]:
    return [{"reason": reason, "count": len(locs),
             "locations": [{"file": str(loc.path), "line": loc.line} for loc in locs]}
            for reason, locs in groups]


COVERAGE_EXAMPLES = 3
"""Locations printed per reason by `--coverage` (all of them with `--verbose`)."""


def coverage(cards: Sequence[Card], results: Sequence[CardResult] = ()) -> Coverage:
    """Compile every display equation of `cards` and group the refusals by reason. With
    the cards' `results`, an equation that compiled but has a step left unchecked (its
    sides could not be evaluated, a substitution the card does not explain) is not
    counted as covered either: it is grouped under that step's reason, so that the share
    says 100 % only when every step could be evaluated."""
    total = compiled_count = 0
    reasons: dict[str, list[SourceLoc]] = {}
    unevaluated: dict[str, list[SourceLoc]] = {}
    unchecked = _unchecked_steps(results)
    for card in cards:
        declarations = declarations_for(card)
        for equation in card.equations:
            total += 1
            try:
                with time_limit(5.0):
                    compiled = compile_equation(equation, declarations)
            except OutOfTime:
                reasons.setdefault("compiling took too long", []).append(equation.loc)
                continue
            refused = [(side.reason or "not compiled", side.line)
                       for chain in compiled.chains for side in chain.sides
                       if side.expr is None]
            if compiled.reason and not refused:
                refused = [(compiled.reason, equation.loc.line)]
            if refused:
                reason, line = refused[0]
                reasons.setdefault(reason, []).append(SourceLoc(equation.loc.path, line))
                continue
            compiled_count += 1
            last = equation.loc.line + equation.tex.count("\n") + 1
            for line, why in unchecked.get(equation.loc.path, ()):
                if equation.loc.line <= line <= last:
                    unevaluated.setdefault(why, []).append(SourceLoc(equation.loc.path, line))
                    break
    return Coverage(total, compiled_count, _ordered(reasons), _ordered(unevaluated))


def _ordered(groups: dict[str, list[SourceLoc]]
             ) -> tuple[tuple[str, tuple[SourceLoc, ...]], ...]:
    """Most frequent first; stable: the first seen first among equals."""
    ordered = sorted(groups.items(), key=lambda item: -len(item[1]))
    return tuple((reason, tuple(locs)) for reason, locs in ordered)


def _unchecked_steps(results: Sequence[CardResult]) -> dict[object, list[tuple[int, str]]]:
    """(line, reason) of every derivation step left unchecked, by sheet: the reason
    without its `step 2: ` label (`cannot evaluate the sides at points of the domain`)."""
    found: dict[object, list[tuple[int, str]]] = {}
    for result in results:
        for check in result.checks:
            if check.kind == "derivation" and check.status == "unchecked":
                label, _, why = check.message.partition(": ")
                reason = why if label.startswith(("step ", "equation")) and why \
                    else check.message
                found.setdefault(check.loc.path, []).append((check.loc.line, reason))
    return found


def coverage_report(cards: Sequence[Card] | Coverage, *, places: int | None = 0) -> str:
    """`sheets check --coverage`: how many display equations compiled, and the reasons
    for the others, grouped (most frequent first), each followed by where it happened:
    the first `places` locations (`COVERAGE_EXAMPLES` from the command line; None: all
    of them, `--verbose`)."""
    found = cards if isinstance(cards, Coverage) else coverage(cards)
    head = f"coverage: {found.compiled} of {found.total} display equations compiled"
    if not found.unevaluated:
        return "\n".join([f"{head} ({_share(found.compiled, found.total)})",
                          *_groups(found.reasons, places)])
    # The share is of the equations checked whole: 100 % only when every step was.
    lines = [f"{head}, {found.evaluated} of them with every step evaluated "
             f"({_share(found.evaluated, found.total)})", *_groups(found.reasons, places),
             "compiled, with a step not evaluated:", *_groups(found.unevaluated, places)]
    return "\n".join(lines)


def _share(part: int, whole: int) -> str:
    """`66 %`, rounded down: 199 of 200 is not 100 %."""
    return f"{math.floor(100 * part / whole) if whole else 100} %"


def _groups(groups: tuple[tuple[str, tuple[SourceLoc, ...]], ...], places: int | None
            ) -> list[str]:
    lines = []
    for reason, locs in groups:
        lines.append(f"  {len(locs):4d}  {reason}")
        shown = locs if places is None else locs[:places]
        more = len(locs) - len(shown)
        lines += [f"          {loc}" for loc in shown]
        if more and shown:
            lines.append(f"          … {more} more (--verbose lists all)")
    return lines
