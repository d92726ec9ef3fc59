"""diagrams: which rendered slides hold a diagram for mermaid to draw. The one test for
it, on HTML, shared by the page (which adds the library only then) and the PDF printer
(which draws a page's diagrams apart); on a parsed deck, `Slide.has_diagram` says it."""

from __future__ import annotations

import re

__all__ = ["has_mermaid"]

_DIAGRAM = re.compile(r'<div class="[^"]*\bmermaid\b')


def has_mermaid(fragment: str) -> bool:
    """Whether a slide's rendered HTML has a diagram (from a ```` ```mermaid ```` fence,
    or written as HTML, as seed 001 does)."""
    return _DIAGRAM.search(fragment) is not None
