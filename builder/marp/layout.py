"""Whether a sheet is laid out as slides or as a document (docs/format.md §1, "Slides
or a document").

A sheet whose front matter says `marp: true` is a Marp deck: one page per slide. Any
other sheet is a note, laid out as a document that flows over as many pages as it
needs. The front matter's `layout: document|slides`, and `sheets build --as`, force
either."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal, get_args

from markdown_it.token import Token

from builder.marp.deck import Deck, Slide
from builder.model import SourceLoc

Layout = Literal["document", "slides"]
LAYOUTS: tuple[Layout, ...] = get_args(Layout)


def sheet_layout(deck: Deck, forced: Layout | None = None) -> Layout:
    """How `deck` is laid out: `forced` (the command line's `--as`), else the front
    matter's `layout`, else slides for a Marp deck (`marp: true`) and a document for any
    other sheet."""
    if forced is not None:
        return forced
    chosen = deck.directives.get("layout")
    if chosen in LAYOUTS:
        return "document" if chosen == "document" else "slides"
    return "slides" if str(deck.directives.get("marp", "")).lower() == "true" \
        else "document"


# A document's part starts at each of these top-level blocks: kinds of block, not their
# text, so that typing in a note never moves a part's boundary (which would shift the
# parts after it, and redraw them).
_PART_STARTS = frozenset({"heading_open", "fence", "code_block", "math_block", "table_open"})


def document_parts(deck: Deck, text: str) -> Deck:
    """`deck` with each slide cut into parts (at headings, code, display math and
    tables), each part a slide of its own, for the preview: a save then redraws the
    part it changed, not the whole note. `text` is the sheet's (for the parts'
    `source`, which tells them apart). The first part of a slide keeps the slide's
    classes, backgrounds and notes; the others carry the class `sheets-continued`,
    which the document's CSS joins to the part before."""
    lines = text.split("\n")
    parts: list[Slide] = []
    for slide in deck.slides:
        cuts = _cuts(slide.tokens)
        for position, (start, end) in enumerate(zip(cuts, [*cuts[1:], None], strict=True)):
            first = _first_line(slide.tokens[start:end], slide.loc.line) if position \
                else slide.loc.line
            last = (_first_line(slide.tokens[end:], slide.end_line + 1) - 1
                    if end is not None else slide.end_line)
            part = replace(
                slide,
                index=len(parts),
                loc=SourceLoc(slide.loc.path, first),
                source="\n".join(lines[first - 1:last]),
                tokens=slide.tokens[start:end],
                end_line=last,
                headings=tuple(h for h in slide.headings if first <= h.loc.line <= last),
                equations=tuple(e for e in slide.equations if first <= e.loc.line <= last),
                code_blocks=tuple(c for c in slide.code_blocks
                                  if first <= c.loc.line <= last),
                comments=tuple(c for c in slide.comments if first <= c.loc.line <= last),
            )
            if position:
                part = replace(part, classes=("sheets-continued",), backgrounds=(),
                               notes=())
            parts.append(part)
    return replace(deck, slides=tuple(parts))


def _cuts(tokens: Sequence[Token]) -> list[int]:
    """Where the parts of a slide's tokens start: 0, and before each top-level block of
    a kind in `_PART_STARTS`."""
    return [0, *(index for index, token in enumerate(tokens)
                 if index and token.level == 0 and token.type in _PART_STARTS)]


def _first_line(tokens: Sequence[Token], default: int) -> int:
    """The 1-based line of the first token that has one."""
    return next((token.map[0] + 1 for token in tokens if token.map), default)
