"""render: a parsed deck as HTML with Marp's DOM, math typeset by MathJax.

The stage's public API: `render_deck` → `RenderedDeck`; `load_themes` → `ThemeSet` (the
themes a deck may name); `PageMath`, for a caller that builds one page from several
renders (the preview); `MERMAID_JS`, the diagram library a page with diagrams runs;
`close_fragment` → `ClosedFragment`, the step that makes a slide's HTML end inside its
own `<section>` (render_deck applies it to each slide's body, header and footer);
`CARD_ID`, the id of a document's card (builder/render/flow.py);
`has_mermaid`, whether a rendered slide has a diagram; `content_security_policy`, what a
page of slides may load and run (the HTML file's meta, the preview's header).

The names are imported on first use (PEP 562): importing `builder.render.typeset` to
start MathJax early must not wait for markdown-it and the rest of the stage.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from builder.marp import ThemeSet, load_themes
    from builder.render.closing import ClosedFragment, close_fragment
    from builder.render.deck import RenderedDeck, render_deck
    from builder.render.diagrams import has_mermaid
    from builder.render.equations import PageMath
    from builder.render.flow import CARD_ID
    from builder.render.page import MERMAID_JS, content_security_policy

__all__ = ["CARD_ID", "MERMAID_JS", "ClosedFragment", "PageMath", "RenderedDeck", "ThemeSet",
           "close_fragment", "content_security_policy", "has_mermaid", "load_themes",
           "render_deck"]

_WHERE = {
    "CARD_ID": "builder.render.flow",
    "ClosedFragment": "builder.render.closing",
    "close_fragment": "builder.render.closing",
    "MERMAID_JS": "builder.render.page",
    "has_mermaid": "builder.render.diagrams",
    "PageMath": "builder.render.equations",
    "content_security_policy": "builder.render.page",
    "RenderedDeck": "builder.render.deck",
    "render_deck": "builder.render.deck",
    "ThemeSet": "builder.marp.themes",
    "load_themes": "builder.marp.themes",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
