"""A sheet laid out as a document (docs/format.md §1, "Slides or a document"): its
slides flow one after the other over as many pages as they need, in the theme's
typography, instead of one page each.

The slides are rendered as for a deck (the same `<section>`s, so the theme styles
their content as it does a slide's); each heading section of a slide (a heading and
what follows it up to the next heading: a card) is wrapped in a
`<div class="sheets-card" id="sheets-line-N" data-level="L">` (N: the heading's line,
L its level), which printing keeps on one page when it fits, and on the page of the
card before it when that one is its parent section's (builder/js/flow.js marks the
cards taller than a page `sheets-card-long`: those flow, rather than leave the rest of
a page empty before them). `flow_css` comes after the theme's CSS and undoes what
makes a section a page: its fixed size, its padding (the page's margins take it), its
hidden overflow, the page break before each, the slide's own header, footer and page
number (the page's margin boxes print a running head and "n / N" instead).

`destinations` lists the cards as links, hidden: Chromium writes a PDF named
destination for each element a link of the page points at, which is how the pdf stage
learns on which page each card (and so each heading of the outline) was printed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # (the pdf stage reads `CARD_ID` without loading the parser)
    from builder.marp import Deck

CARD_ID = "sheets-line-{line}"
"""The id of the card whose heading is at `line` (1-based)."""
_CARD_IDS = re.compile(r'<div class="sheets-card" id="(sheets-line-\d+)"')

# The page's margins: the theme's padding of a slide at the sides (portrait_A4_note's),
# a little less above and below, where a page of a document holds only its running head
# and number.
MARGINS = ("56px", "62px", "52px", "62px")
"""top, right, bottom, left."""

# The page's container of a document: `sheets build`'s, and the preview's (whose page
# has this CSS only while it shows a document).
_DOCUMENT = "div.marpit:is(.sheets-document, #sheets-slides)"

# A card right after a card whose heading is of a lower level (a section's subsection).
_DEEPER = ",\n".join(
    f'{_DOCUMENT} .sheets-card[data-level="{level}"] + .sheets-card:is('
    + ", ".join(f'[data-level="{deeper}"]' for deeper in range(level + 1, 7)) + ")"
    for level in range(1, 6))

_RUNNING_TEXT = ('font: 700 11px/1.4 "Noto Sans CJK JP", "Noto Sans JP", "DejaVu Sans", '
                 "sans-serif; color: #59636e; letter-spacing: 0.05em;")

_FLOW_CSS = """
@media print {
  html, body { break-inside: auto !important; page-break-inside: auto !important; }
  %(document)s > section {
    break-before: auto !important; page-break-before: auto !important; }
}
html, body { margin: 0; }
%(document)s { width: calc(%(width)s - %(horizontal)s); margin: 0;
  --sheets-page-height: calc(%(height)s - %(vertical)s);
  line-break: strict; word-break: normal; }
%(document)s > section {
  width: auto !important; height: auto !important; min-height: 0 !important;
  padding: 0 !important; margin: 0 !important; overflow: visible !important;
  display: block !important; box-shadow: none !important; }
%(document)s > section + section:not(.sheets-continued) { margin-top: 1em !important; }
/* The preview shows a document in parts (builder/marp/layout.py `document_parts`): a
   part that continues a slide reads on from the one before, its first block keeping
   the margin the theme's first-child rule takes from it. */
%(document)s > section.sheets-continued > :first-child { margin-top: 0.5em !important; }
%(document)s > section.sheets-continued > :is(h1, h2, h3, h4, h5, h6):first-child {
  margin-top: 0.9em !important; }
%(document)s > section::after,
%(document)s > section > :is(header, footer) { display: none !important; }
%(document)s .sheets-card:not(.sheets-card-long) { break-inside: avoid; }
/* A card under a deeper heading right after its parent's (the ◆ポイント box under a
   formula's heading) goes on the same page as it when both fit. */
%(deeper)s { break-before: avoid; }
%(document)s :is(h1, h2, h3, h4, h5, h6) {
  break-after: avoid; break-inside: avoid; }
%(document)s :is(p, li, blockquote, pre) { orphans: 2; widows: 2; }
%(document)s :is(mjx-container, img, tr, figure, .mermaid,
  .sheets-missing-image) { break-inside: avoid; }
%(document)s img { max-width: 100%%; height: auto; }
%(document)s pre { overflow: visible; }
@media screen {
  /* A long note on screen: the sections out of view are not laid out (a patch in the
     preview then lays out one section, not the whole note). */
  %(document)s > section { content-visibility: auto; contain-intrinsic-size: auto 300px; }
  body { background: #e9ecef; padding: 24px 0; }
  %(document)s { box-sizing: content-box; margin: 0 auto;
    padding: %(margin)s; background: #fff; box-shadow: 0 1px 4px rgba(0, 0, 0, 0.25); }
}
"""


def flow_css(size: tuple[str, str], *, running_head: str, running_foot: str = "") -> str:
    """The CSS that lays a page of slides out as a document on paper of `size` (the
    theme's), with `running_head` at the top left of every page, `running_foot` at the
    bottom left and the page number as "n / N" at the bottom right."""
    width, height = size
    margin = " ".join(MARGINS)
    boxes = [f"@top-left {{ content: {_css_string(running_head)}; {_RUNNING_TEXT} "
             "vertical-align: bottom; padding-bottom: 12px; }"]
    if running_foot:
        boxes.append(f"@bottom-left {{ content: {_css_string(running_foot)}; "
                     f"{_RUNNING_TEXT} font-weight: 400; vertical-align: top; "
                     "padding-top: 16px; }")
    boxes.append('@bottom-right { content: counter(page) " / " counter(pages); '
                 f"{_RUNNING_TEXT} font-weight: 400; vertical-align: top; "
                 "padding-top: 16px; }")
    page = f"@page {{ size: {width} {height}; margin: {margin};\n  " \
        + "\n  ".join(boxes) + "\n}\n"
    return page + _FLOW_CSS % {
        "width": width, "horizontal": f"{MARGINS[1]} - {MARGINS[3]}",
        "height": height, "vertical": f"{MARGINS[0]} - {MARGINS[2]}", "margin": margin,
        "document": _DOCUMENT, "deeper": _DEEPER}


def _css_string(text: str) -> str:
    """`text` as a CSS string (on one line)."""
    flat = " ".join(text.split())
    return '"' + flat.replace("\\", "\\\\").replace('"', '\\"') + '"'


def card_ids(fragments: Sequence[str]) -> list[str]:
    """The ids of the cards in the rendered slides, in order."""
    return [match for fragment in fragments for match in _CARD_IDS.findall(fragment)]


def destinations(fragments: Sequence[str]) -> str:
    """The hidden links to every card of the slides (see the module's docstring)."""
    links = "".join(f'<a href="#{identifier}"></a>' for identifier in card_ids(fragments))
    return f'<nav class="sheets-destinations" hidden>{links}</nav>\n' if links else ""


def running_texts(deck: Deck, title: str) -> tuple[str, str]:
    """The running head (the sheet's `header` directive, else its title) and foot (its
    `footer` directive), as plain text: a margin box shows text, not markup."""
    first = deck.slides[0] if deck.slides else None
    head = (first.header if first is not None else None) or title
    foot = (first.footer if first is not None else None) or ""
    return _plain(head), _plain(foot)


def _plain(markdown: str) -> str:
    """Inline Markdown as the text it shows (emphasis and code marks, link targets and
    tags dropped)."""
    text = re.sub(r"<[^>]*>", "", markdown)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[*_`]+", "", text).strip()
