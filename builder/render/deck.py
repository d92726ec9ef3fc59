"""render: a parsed `Deck` → HTML with Marp's DOM (docs/format.md), one page, nothing
from the net.

Each slide becomes a `<section>` as Marp writes it (builder/render/slides.py), in a
`<div class="marpit">`, in a page with the theme's CSS and the scripts the slides need
(builder/render/page.py). Every formula of the deck goes to MathJax in one batch
(builder/render/equations.py).

`RenderedDeck.document` is the whole page; `.slides` are the same `<section>`
fragments, in order, for the preview to patch and for the pdf stage's page cache;
`.head` is the CSS.

With a `cache_dir` (`sheets build`) the packed theme CSS (builder/render/theme.py) and
every slide's HTML (builder/render/cache.py) are kept on disk, so a rebuild renders and
typesets only the slides that changed; what is rendered anew has its math typeset in a
thread while the theme is packed and the code highlighted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from builder.marp import Deck, Layout, ThemeSet, is_unparsed, parsed_in_full
from builder.model import Diagnostic, SourceLoc
from builder.render.cache import SlideCache
from builder.render.code import fence_language, highlight
from builder.render.equations import (
    PageMath,
    Typesetting,
    has_math,
    math_stylesheet,
    note_math,
    page_stylesheet,
)
from builder.render.flow import flow_css, running_texts
from builder.render.headings import heading_slugs
from builder.render.page import SHEETS_CSS, document, page_title
from builder.render.slides import render_slide
from builder.render.state import RenderState, badges
from builder.render.theme import auto_scaling, look_key, theme_for, theme_look
from builder.render.typeset import Glyphs, glyphs_of

if TYPE_CHECKING:
    from builder.model import CardResult


@dataclass(frozen=True, slots=True)
class RenderedDeck:
    """A deck as HTML."""

    document: str
    """One complete, self-contained HTML page (theme, math fonts, scripts inlined)."""
    slides: tuple[str, ...]
    """One `<section>` fragment per slide of the deck given, in order, exactly as they
    appear in `document`. A fragment depends on its slide alone, except for the number
    that tells repeated heading ids apart (`-1`, `-2`: counted over the slides given,
    as marp-core counts them over the deck)."""
    head: str
    """The page's CSS (theme, code colours, math: the math of these slides, or with a
    `PageMath`, of every slide rendered through it, so that it also serves slides
    rendered earlier)."""
    diagnostics: tuple[Diagnostic, ...]
    """Missing images and MathJax errors, at their lines (the parser's are on the deck)."""
    theme: str
    """The theme used."""
    size: tuple[str, str]
    """The slide (page) size as CSS lengths, from the theme."""
    rendered: tuple[int, ...] = ()
    """The indices of the slides rendered anew (the others came from the slide cache)."""
    layout: Layout = "slides"
    """How the page lays the slides out: one page each, or flowing as a document."""
    images: tuple[str, ...] = ()
    """The image files the slides inline or found missing: inputs of the page."""


def render_deck(
    deck: Deck,
    *,
    themes: ThemeSet,
    results: Mapping[int, CardResult] | Iterable[CardResult] | None = None,
    cache_dir: Path | None = None,
    standalone: bool = True,
    page_math: PageMath | None = None,
    layout: Layout = "slides",
) -> RenderedDeck:
    """Render `deck` (or the slides it was given: numbering and pagination come from each
    slide's own `index` and `page`). `results`: card verdicts to draw as badges, each on
    its card's slide (`CardResult.card.slide`); a mapping's values are taken.

    `cache_dir` (`sheets build` passes `.cache/render/`): the packed theme CSS and each
    slide's HTML are kept there, keyed by everything that decides them (see
    `SlideCache`), so a rebuild after editing one slide renders (and typesets) that
    slide only. The result is the same as without it.

    `standalone`: the diagram library is inlined, so that the page needs nothing beside
    it; else it is loaded from node_modules by a file: URL, for a page printed here (as
    the pdf stage prints it: 3.5 MB less for each build to copy, hash and scan).

    `page_math`: the page these slides go into, kept by the caller between calls (the
    preview's): `.head` then covers the math of every slide rendered through it."""
    # MathJax works in node while this thread packs the theme and highlights the code.
    # Without a slide cache yet (a first build) every slide is rendered, so it starts on
    # them before the cache keys are made.
    typesetting = None
    if cache_dir is None or not SlideCache.file(cache_dir, deck).is_file():
        deck = parsed_in_full(deck)
        typesetting = Typesetting(deck.slides)
    diagnostics: list[Diagnostic] = []
    theme = theme_for(deck, themes, diagnostics)
    theme_key = look_key(themes, theme, deck)
    if layout == "document":  # its slides' HTML has the cards marked: cached apart
        theme_key += "-document"
    deck_badges = badges(results)
    cache = SlideCache(cache_dir, deck, theme_key, deck_badges) \
        if cache_dir is not None else None
    hits = cache.lookup() if cache is not None else [None] * len(deck.slides)
    todo = [slide for slide, hit in zip(deck.slides, hits, strict=True) if hit is None]
    if any(map(is_unparsed, todo)):  # kept by `sheets build` without their tokens
        deck = parsed_in_full(deck)
        todo = [deck.slides[slide.index] for slide in todo]
        if cache is not None:
            cache.deck = deck
    if typesetting is None:
        typesetting = Typesetting(todo)
    look = theme_look(themes, theme, deck, cache_dir, theme_key)
    if deck.size is not None and not look.size_preset:
        loc = deck.directive_locs.get("size") or SourceLoc(deck.path, 1)
        sizes = [value.split()[0] for value in theme.meta.get("size", ()) if value.split()]
        diagnostics.append(Diagnostic(
            loc, f"size {deck.size!r} is not one of theme {theme.name!r}'s sizes "
                 f"({', '.join(sizes) or 'it has none'}); using its default size"))
    size = look.size
    for slide in todo:
        for token in slide.tokens:
            if token.type == "fence":
                highlight(token.content, fence_language(token))
    scaling = auto_scaling(themes, theme)  # (not once the math is in)
    math = typesetting.result()
    state = RenderState(deck=deck, math=math, badges=deck_badges, diagnostics=[],
                        size=size, padding_right=look.padding_right,
                        auto_scaling=scaling, cards=layout == "document")
    fragments: list[str] = []
    images: dict[str, None] = {}
    glyphs: list[Glyphs] = []  # of the slides with math
    cached_math: list[str] = []
    for slide, hit in zip(deck.slides, hits, strict=True):
        if hit is None:
            state.diagnostics, state.used_images = [], {}
            fragment = render_slide(slide, state)
            # In line order within the slide: its images' warnings, then its math's.
            found = [*state.diagnostics, *(
                Diagnostic(tex_loc, f"math error: {error}")
                for tex_loc, error in state.math_errors.get(slide.index, ()))]
            slide_glyphs = glyphs_of(fragment) if has_math(slide) else None
            if cache is not None:
                cache.add(slide, fragment, found, state.used_images, slide_glyphs)
            images.update(dict.fromkeys(state.used_images))
        else:
            fragment, found = hit.html, list(hit.diagnostics(slide))
            slide_glyphs = hit.glyphs
            if slide_glyphs is not None:
                cached_math.append(fragment)
            images.update(dict.fromkeys(hit.images))
            for slug in heading_slugs(slide):  # the ids this slide takes, as rendered
                count = state.slugs.get(slug)
                state.slugs[slug] = 0 if count is None else count + 1
        fragments.append(fragment)
        diagnostics.extend(found)
        if slide_glyphs is not None:
            glyphs.append(slide_glyphs)
    if cache is not None:
        cache.save()
    if cached_math and page_math is not None:
        # Never typeset in this process: the `PageMath`'s head covers them too.
        note_math(cached_math)

    common = f"{look.css}\n{SHEETS_CSS}"
    if layout == "document":
        head_text, foot_text = running_texts(deck, page_title(deck))
        common += flow_css(size, running_head=head_text, running_foot=foot_text)
    document_head = common + "\n" + math_stylesheet(glyphs)
    if page_math is not None:
        page_math.has_math = page_math.has_math or bool(glyphs)
        head = common + "\n" + page_stylesheet(page_math)
    else:
        head = document_head
    return RenderedDeck(
        document=document(deck, document_head, fragments, standalone=standalone,
                          layout=layout),
        slides=tuple(fragments),
        head=head,
        diagnostics=tuple(sorted(diagnostics, key=lambda d: d.loc.line)),
        theme=theme.name,
        size=size,
        rendered=tuple(slide.index for slide in todo),
        layout=layout,
        images=tuple(images),
    )
