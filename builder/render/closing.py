"""Closing a slide's HTML: whatever raw HTML a slide holds, its markup ends inside its own
`<section>`, so no slide can reach another.

Raw HTML passes Marp's allowlist (builder/marp/markdown.py) as written, balanced or not.
Placed in the page as it is, a stray `</div>` closes the page's `<div class="marpit">`
(every later slide then falls outside it and is not printed), a stray `</section>` ends
the slide early (its rest prints as a page of its own), and a `<pre>` or `<table>` left
open swallows the slides after it. So each fragment (a slide's body, its header, its
footer) is parsed as a browser parses it, html5lib's HTML5 tree construction in a
`<section>`, before it goes into the page:

- an end tag the parser ignores (it closes nothing open in the fragment) is dropped;
- what is still open at the fragment's end is closed there, innermost first, and so are
  formatting elements (`<b>`, `<a>`…) a browser would otherwise reopen in the slides
  after it.

Only those tags are cut or added; every other character stays as written, so typeset
math, diagrams and code come out untouched, and a fragment with nothing to close comes
out identical. Markup that only markdown wrote (no raw HTML) is balanced by
construction: the caller need not pass it here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import html5lib
from html5lib._tokenizer import HTMLTokenizer  # (watched below; not exported elsewhere)
from html5lib.constants import tokenTypes

_END_TAG = tokenTypes["EndTag"]
_CONTEXT = "section"
"""The element the fragment goes into (it decides how the parser starts: in body)."""
_ROUNDS = 3
"""Closing passes before the parser's own serialization is used instead (one suffices
for every case found; the re-parse only confirms it)."""


@dataclass(frozen=True, slots=True)
class ClosedFragment:
    """A fragment of HTML made to end where it started, and what that took."""

    html: str
    dropped: tuple[str, ...] = ()
    """The end tags dropped because they close nothing in the fragment, in order
    (`"div"` for a `</div>`)."""
    closed: tuple[str, ...] = ()
    """The elements closed at the fragment's end, innermost first."""


def close_fragment(markup: str) -> ClosedFragment:
    """`markup` with the end tags that close nothing dropped and what it leaves open
    closed at its end (see the module's docstring); `markup` itself when it is closed
    already."""
    dropped: list[str] = []
    closed: list[str] = []
    text = markup
    for _ in range(_ROUNDS):
        parse = _Parse(text)
        if not parse.ignored and not parse.left_open:
            return ClosedFragment(text, tuple(dropped), tuple(closed))
        dropped += [name for name, _, _ in parse.ignored]
        closed += parse.left_open
        text = _without(text, [(start, end) for _, start, end in parse.ignored]) \
            + "".join(f"</{name}>" for name in parse.left_open)
    # Not reached for any input found; the parser's own serialization is closed, though
    # it rewrites every tag (attribute quoting, void elements) rather than just these.
    serialized = html5lib.serialize(_Parse(text).fragment, tree="etree",
                                    omit_optional_tags=False, quote_attr_values="always")
    return ClosedFragment(serialized, tuple(dropped), tuple(closed))


def _without(text: str, spans: list[tuple[int, int]]) -> str:
    pieces, last = [], 0
    for start, end in sorted(spans):
        pieces.append(text[last:start])
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


class _Parse:
    """One parse of a fragment: the end tags the parser ignored (name and span in the
    text) and the elements it left open at the end (innermost first)."""

    def __init__(self, text: str) -> None:
        parser = _Parser(text)
        self.fragment: Any = parser.parseFragment(text, container=_CONTEXT)
        tree = parser.tree
        self.ignored: list[tuple[str, int, int]] = parser.ignored
        open_elements = [element.name for element in reversed(tree.openElements[1:])]
        on_stack = {id(element) for element in tree.openElements}
        # Formatting elements already closed but still listed: a browser reopens them
        # at the next text, which would be in the next slide.
        reopened = [element.name for element in reversed(tree.activeFormattingElements)
                    if element is not None and id(element) not in on_stack
                    and hasattr(element, "name")]
        self.left_open: list[str] = open_elements + reopened


class _Parser(html5lib.HTMLParser):
    """html5lib's parser, watching each end tag: one after which neither the open
    elements nor the active formatting elements changed was ignored."""

    def __init__(self, text: str) -> None:
        super().__init__(namespaceHTMLElements=False)
        self.text = text
        self._line_starts = [0] + [match.end() for match in re.finditer("\n", text)]
        self.ignored: list[tuple[str, int, int]] = []

    def mainLoop(self) -> None:  # html5lib's name
        self.tokenizer = _WatchedTokenizer(self.text, self)
        super().mainLoop()

    def offset(self, line: int, column: int) -> int:
        """A stream position (1-based line, 0-based column) as an index into the text."""
        return self._line_starts[line - 1] + column

    def tree_state(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return (tuple(map(id, self.tree.openElements)),
                tuple(map(id, self.tree.activeFormattingElements)))


class _WatchedTokenizer(HTMLTokenizer):
    """html5lib's tokenizer; the parser has handled a token (and everything it implied)
    by the time it asks for the next one, so the tree is compared around each end tag."""

    def __init__(self, text: str, parser: _Parser) -> None:
        super().__init__(text, parser=parser)
        self._watcher = parser

    def __iter__(self) -> Iterator[Any]:
        parser = self._watcher
        for token in super().__iter__():
            if token["type"] != _END_TAG:
                yield token
                continue
            end = parser.offset(*self.stream.position())
            before = parser.tree_state()
            yield token
            if parser.tree_state() == before:
                start = parser.text.rfind("<", 0, end)
                if re.fullmatch(rf"</{re.escape(token['name'])}\b[^>]*>",
                                parser.text[start:end], flags=re.IGNORECASE):
                    parser.ignored.append((token["name"], start, end))
