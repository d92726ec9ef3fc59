"""`sheets check --coverage`: how many display equations compile, and where the others
are, grouped by the compiler's reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from builder.check.limits import OutOfTime, time_limit
from builder.formula import compile_equation, declarations_for
from builder.model import Card, SourceLoc

__all__ = ["COVERAGE_EXAMPLES", "Coverage", "coverage", "coverage_report"]


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
    total = compiled_count = 0
    reasons: dict[str, list[SourceLoc]] = {}
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
