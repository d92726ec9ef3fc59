"""Whether a sheet is laid out as slides or as a document (docs/format.md §1, "Slides
or a document").

A sheet whose front matter says `marp: true` is a Marp deck: one page per slide. Any
other sheet is a note, laid out as a document that flows over as many pages as it
needs. The front matter's `layout: document|slides`, and `sheets build --as`, force
either."""

from __future__ import annotations

from typing import Literal, get_args

from builder.marp.deck import Deck

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
