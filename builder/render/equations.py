"""The math of a deck: every formula of the slides to render goes to MathJax in one batch
(builder/render/typeset.py), in a thread while the rest of the deck is prepared, and the
page gets MathJax's CSS for the glyphs its formulas use."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from markdown_it.token import Token

from builder.marp import Slide

if TYPE_CHECKING:
    from builder.render.typeset import Glyphs


@dataclass(slots=True)
class PageMath:
    """The math of a page put together from several calls of `render_deck` (the
    preview's: each call renders only the slides that changed, the page keeps the
    others). The caller keeps one and hands it to every call for that page: each
    `RenderedDeck.head` then covers the math of every slide rendered through it, where
    without one it covers the math of the slides of that call only."""

    has_math: bool = False
    """Whether any slide rendered through it had math (until then the head carries no
    math CSS: a sheet without math never starts MathJax for its CSS)."""


@dataclass(frozen=True, slots=True)
class Math:
    """One formula as MathJax typeset it."""

    html: str
    error: str | None
    """MathJax's message when the LaTeX is wrong (`html` then shows it in place)."""


def math_tokens(tokens: Iterable[Token]) -> Iterable[Token]:
    """The math tokens among `tokens` and their children, in order."""
    for token in tokens:
        if token.type in ("math_inline", "math_block"):
            yield token
        if token.children:
            yield from math_tokens(token.children)


class Typesetting:
    """`typeset_all` in a thread (it mostly waits for node): `result()` joins it."""

    def __init__(self, slides: Sequence[Slide]) -> None:
        self._math: dict[tuple[str, bool], Math] = {}
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if any(has_math(slide) for slide in slides):
            self._thread = threading.Thread(target=self._run, args=(slides,), daemon=True,
                                            name="sheets-typeset")
            self._thread.start()

    def _run(self, slides: Sequence[Slide]) -> None:
        try:
            self._math = typeset_all(slides)
        except BaseException as error:
            self._error = error

    def result(self) -> dict[tuple[str, bool], Math]:
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._math


def typeset_all(slides: Iterable[Slide]) -> dict[tuple[str, bool], Math]:
    """Every equation of the slides (body, header, footer) in one call to MathJax."""
    wanted: dict[tuple[str, bool], None] = {}
    for slide in slides:
        for token in math_tokens((*slide.tokens, *slide.header_tokens, *slide.footer_tokens)):
            wanted[(token.content, token.type == "math_block")] = None
    if not wanted:
        return {}
    from builder.render.typeset import shared_typesetter

    keys = list(wanted)
    results = shared_typesetter().typeset(keys)
    return {key: Math(result.html, result.error) for key, result in zip(keys, results,
                                                                          strict=True)}


def has_math(slide: Slide) -> bool:
    """Whether the slide (body, header or footer) has a formula."""
    return any(True for _ in math_tokens(
        (*slide.tokens, *slide.header_tokens, *slide.footer_tokens)))


def note_math(fragments: Sequence[str]) -> None:
    """Slides from the disk cache hold math this process never typeset: from now on the
    typesetter's cumulative CSS (a `PageMath`'s head) covers it as well."""
    from builder.render.typeset import shared_typesetter

    shared_typesetter().note(fragments)


def math_stylesheet(glyphs: Sequence[Glyphs]) -> str:
    """MathJax's CSS for formulas that use `glyphs` (each slide's `glyphs_of`); none
    without any."""
    if not glyphs:
        return ""
    from builder.render.typeset import Glyphs, shared_typesetter

    return shared_typesetter().glyph_stylesheet(Glyphs.union(glyphs))


def page_stylesheet(page: PageMath) -> str:
    """MathJax's CSS for the math of every slide rendered through `page`: the
    typesetter's for all it has typeset or been told of (`note_math`), which covers
    them; none while the page has had no math."""
    if not page.has_math:
        return ""
    from builder.render.typeset import shared_typesetter

    return shared_typesetter().stylesheet(None)
