"""Display math that was meant to be closed and is not: Marp ends a `$$` block at the
next line ending in `$$`, however far, so a forgotten closing `$$` shows far below the
mistake, if at all. `check_display_math` says where the `$$` was meant (a warning at the
opening line); the slides stay as Marp makes them."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from markdown_it.token import Token

from builder.marp.markdown import cannot_be_latex, is_one_line_equation
from builder.marp.source import SheetSource

__all__ = ["check_display_math"]

@dataclass(frozen=True, slots=True)
class _MathBlock:
    """A display block as Marp's rule pairs `$$` lines (0-based lines)."""

    start: int
    end: int
    """Its closing line, or the last line of the sheet when it is not closed."""
    closed: bool
    markdown_lines: int
    """Lines inside that `cannot_be_latex`."""
    blank_lines: int
    """Those of them that are blank (some writers space out `align` rows so)."""
    merged: int
    """Lines inside that start with `$$`, and a one-line `$$…$$` that closes it: the
    next equation run into this one."""
    empty: bool
    first_odd: int | None
    """The first line of those three kinds, where a closing `$$` may be missing."""


# List item and quote marks before a line's content (`- $$x$$` is an equation in a list).
_CONTAINER_MARKS = re.compile(r"^(?:(?:[-*+]|\d{1,9}[.)])[ \t]+|>[ \t]?)*")


def _pair_display_math(lines: Sequence[str], first: int,
                       closers: frozenset[int] = frozenset()) -> tuple[list[_MathBlock], list[int]]:
    """Marp's pairing of `$$` lines from line `first`, line by line, with a closing
    `$$` imagined before each line in `closers`: a line starting with `$$` opens a
    block (closed on the same line when it also ends with `$$`), the next line ending
    with `$$` closes it. Code fences and comments outside math are skipped; lists and
    quotes are not followed (a close enough picture to compare readings with). Also
    returns the lines outside math that end with a closing `$$` of their own."""
    blocks: list[_MathBlock] = []
    orphans: list[int] = []
    fence = ""
    in_comment = False
    index = first
    while index < len(lines):
        line = _CONTAINER_MARKS.sub("", lines[index].strip())
        index += 1
        if fence:
            if line.startswith(fence) and not line.strip(fence[0]):
                fence = ""
        elif in_comment:
            in_comment = "-->" not in line
        elif line.startswith(("```", "~~~")):
            fence = line[:len(line) - len(line.lstrip(line[0]))]
        elif line.startswith("<!--"):
            in_comment = "-->" not in line[4:]
        elif line.startswith("$$"):
            rest = line[2:].strip()
            if rest.endswith("$$"):
                blocks.append(_MathBlock(index - 1, index - 1, True, 0, 0, 0,
                                         not rest[:-2].strip(), None))
                continue
            start, end, closed, empty = index - 1, len(lines) - 1, False, not rest
            odd = blank = merged = 0
            first_odd: int | None = None
            while index < len(lines):
                if index in closers:  # an imagined `$$` before this line
                    closed, end = True, index - 1
                    break
                inner = lines[index].strip()
                index += 1
                if inner.endswith("$$"):
                    closed, end = True, index - 1
                    empty = empty and not inner[:-2].strip()
                    if is_one_line_equation(_CONTAINER_MARKS.sub("", inner)):
                        merged += 1
                        first_odd = index - 1 if first_odd is None else first_odd
                    break
                if _CONTAINER_MARKS.sub("", inner).startswith("$$"):
                    merged += 1
                elif cannot_be_latex(inner):
                    odd += 1
                    blank += not inner
                else:
                    empty = False
                    continue
                first_odd = index - 1 if first_odd is None else first_odd
            blocks.append(_MathBlock(start, end, closed, odd, blank, merged, empty, first_odd))
        elif line.endswith("$$"):
            orphans.append(index - 1)
    return blocks, orphans


_Pairing = tuple[list[_MathBlock], list[int]]


def _misreading(pairing: _Pairing) -> int:
    """How badly a pairing reads the sheet: `_first_problem`'s signs, and each blank line
    inside math, the faintest sign (some writers space out `align` rows with them)."""
    blocks, orphans = pairing
    return 20 * len(orphans) + sum(
        20 * (not block.closed) + 5 * (block.markdown_lines - block.blank_lines + block.merged)
        + block.blank_lines + 2 * block.empty for block in blocks)


def _first_problem(pairing: _Pairing, past: AbstractSet[int] = frozenset()) -> int:
    """The first line where a pairing surely misreads the sheet, other than those `past`
    (-1 when there is none): a `$$` that closes nothing, math that never ends, or that
    holds a heading, a slide break, a fence or another equation's `$$`."""
    blocks, orphans = pairing
    lines = [block.start for block in blocks if not block.closed
             or block.markdown_lines > block.blank_lines or block.merged]
    return min((line for line in (*lines, *orphans) if line not in past), default=-1)


def _missing_closers(lines: Sequence[str], first: int) -> list[int]:
    """The opening lines of the equations whose closing `$$` was forgotten.

    A missing `$$` shows as Markdown inside math (a blank line, a heading, a slide
    break), as two equations run into one, or as math that never ends; but where it
    shows is not where it is: Marp takes the next equation's opening `$$` as the
    closing one, and that equation's closing `$$` opens a block in turn. So the
    equations just before the first sure sign (`_first_problem`) are tried in turn with
    a closing `$$` imagined before their first odd line (or before their closing `$$`,
    which then opens the next equation as meant). The mistake is the one whose mending
    leaves the sheet read well the furthest (then: read best, then: nearest the sign);
    then the same again for the next sign (a sign that no `$$` mends is passed over).
    Blank lines alone are no sure sign: an equation spaced out with them, closed where
    the writer meant, gets no warning."""
    closers: set[int] = set()
    found: list[int] = []
    unmended: set[int] = set()
    pairing = _pair_display_math(lines, first)
    problem = _first_problem(pairing)
    for _ in range(16):  # a bound for pathological sheets; one round per sign
        if problem < 0:
            break
        blocks = pairing[0]
        sign = max((number for number, block in enumerate(blocks) if block.start <= problem),
                   default=0)
        best: tuple[float, int, int, int, int, _Pairing] | None = None
        for number in range(max(sign - 3, 0), sign + 1):
            block = blocks[number]
            if block.first_odd is not None:
                at = block.first_odd
            elif block.closed and block.end > block.start:
                at = block.end
            else:
                continue
            trial = _pair_display_math(lines, first, frozenset({*closers, at}))
            reached = _first_problem(trial, unmended)
            candidate = (-(reached if reached >= 0 else math.inf), _misreading(trial),
                         sign - number, block.start, at, trial)
            if best is None or candidate[:3] < best[:3]:
                best = candidate
        if best is None or -best[0] <= problem:
            unmended.add(problem)
        else:
            _, _, _, opener, at, pairing = best
            closers.add(at)
            found.append(opener)
        problem = _first_problem(pairing, unmended)
    return found


def check_display_math(source: SheetSource, tokens: Sequence[Token]) -> None:
    """One warning per `$$` that was meant to be closed and is not, at its own line.

    Marp ends a display block at the next line ending in `$$`, however far: a
    forgotten closing `$$` turns the text below into math up to the next equation's
    opening `$$`, whose closing `$$` then opens a block of its own, and so on, so
    that only the last `$$` of the sheet is left unclosed, far below the mistake (or
    none is, and the rest of the slide is silently math). `_missing_closers` finds
    where a closing `$$` was meant."""
    blocks = {token.map[0]: token for token in tokens
              if token.type == "math_block" and token.map}
    if all(token.meta["closed"] and not token.meta["suspect"] for token in blocks.values()):
        return  # the usual case: every equation ends where it should
    first = next((token.map[1] for token in tokens
                  if token.type == "front_matter" and token.map), 0)
    openers = _missing_closers(source.lines, first)
    for token in blocks.values():
        assert token.map is not None
        if not token.meta["closed"] and token.level > 0 and token.map[0] not in openers:
            openers.append(token.map[0])  # in a list or a quote: its end ends the math
    if not openers:  # no closing `$$` would mend it: say where Marp gives up
        openers = [line for line, token in blocks.items() if not token.meta["closed"]]
    for line in sorted(openers):
        opened = blocks.get(line)
        if opened is not None:
            extent = _math_extent(source, opened, tokens)
        else:  # inside a block that an earlier mistake opened
            around = max((start for start, token in blocks.items()
                          if token.map and start < line < token.map[1]), default=None)
            extent = "" if around is None else \
                f"Marp reads this line as math from the `$$` on line {around + 1}"
        source.warn(line, "display math `$$` opened here is never closed"
                          + (f" ({extent})" if extent else ""))


def _math_extent(source: SheetSource, block: Token, tokens: Sequence[Token]) -> str:
    """How far Marp's math runs from an unclosed `$$`, for the warning."""
    assert block.map is not None
    last = block.map[1]  # 1-based: the line of the closing `$$`, or the block's last
    if block.meta["closed"]:
        return f"Marp ends it at the `$$` on line {last}"
    while last > block.map[0] + 1 and not source.lines[last - 1].strip():
        last -= 1
    index = tokens.index(block)
    container = next((token for token in reversed(tokens[:index])
                      if token.nesting == 1 and token.level < block.level), None)
    if container is None:
        return f"the math runs to the end of the sheet, line {last}"
    kind = "quote" if container.type == "blockquote_open" else "list"
    return f"the math runs to line {last}, where its {kind} ends"
