"""Issue 23's three-slide decks, whose first slide does one odd thing with raw HTML (for
tests/test_raw_html.py and the preview's test)."""

from __future__ import annotations

from typing import Any

# The three-slide decks: the first slide does one odd thing with raw HTML.
CASES = {
    "stray-div-end": "</div>",
    "section-end-after-text": "text then </span></p></section>",
    "svg-ends-typed-by-hand": "</section></svg></foreignObject>",
    "table-left-open": "<table><tr><td>",
    "pre-left-open": "<pre>",
    "div-left-open": "<div>",
    "details-left-open": "<details>",
}
# Said at the first slide's line (5), one per tag, so that the author can tidy the source.
WARNINGS = {
    "stray-div-end": ["</div> closes nothing in this slide; ignored"],
    "section-end-after-text": ["</span> closes nothing in this slide; ignored",
                               "</section> closes nothing in this slide; ignored",
                               "</p> closes nothing in this slide; ignored"],
    "svg-ends-typed-by-hand": ["</section> closes nothing in this slide; ignored"],
    "table-left-open": [f"<{tag}> is never closed in this slide; closed at its end"
                        for tag in ("td", "tr", "tbody", "table")],
    "pre-left-open": ["<pre> is never closed in this slide; closed at its end"],
    "div-left-open": ["<div> is never closed in this slide; closed at its end"],
    "details-left-open": ["<details> is never closed in this slide; closed at its end"],
}
HEADINGS = ("One", "Two", "Three")


def three_slides(first: str) -> str:
    return f"---\nmarp: true\n---\n\n# One\n\n{first}\n\n---\n\n# Two\n\ntext\n\n" \
           "---\n\n# Three\n\nmore\n"


def case_params() -> list[Any]:
    # An open `<pre>` once ran to the end of the sheet, `---` lines included (CommonMark
    # reads it up to `</pre>`): the parser now ends a never-closed one at the next break.
    return list(CASES)
