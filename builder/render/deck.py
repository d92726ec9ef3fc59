"""render: a parsed `Deck` → HTML with Marp's DOM (SPEC.md §2), one page, nothing from the net.

Each slide becomes `<section id="N" data-…="…" class="…" data-marpit-pagination="p"
data-marpit-pagination-total="t" style="…">` with `<header>`/`<footer>` inside, in a
`<div class="marpit">`, as Marp (marpit without inline SVG) writes it, so a Marp theme
styles it as Marp does once its CSS is transformed (builder/theme_css.py).

The slide bodies are the parser's markdown-it tokens rendered by markdown-it-py's renderer
with a few rules of our own:
- math: every equation of the deck goes to MathJax in one batch (builder/typeset.py);
  display math is wrapped in `<p>` as marp-core does;
- fenced code: Pygments (its CSS in the head); ```` ```mermaid ```` becomes a
  `<div class="mermaid">`, drawn in the page by the local mermaid (node_modules), which
  is inlined only when the deck has a diagram (the seed's `<div class="mermaid">` too);
- images: local files are inlined as `data:` URLs (the HTML is one self-contained
  file); a missing one is a warning at its line and a visible placeholder;
- headings get marp-core's ids, and card check badges when `results` are given;
- marp-core's auto-scaling: under a theme whose `@auto-scaling` turns them on, a fitting
  heading (`# <!-- fit --> Title`) and code blocks get marp-core's marks
  (`is="marp-h1" data-auto-scaling`, `is="marp-pre" data-auto-scaling="downscale-only"`);
  those and display math (always, as Marp's MathJax) are scaled by builder/js/fitting.js,
  inlined only in a page that has any of them (the preview serves it with its script).

`RenderedDeck.document` is the whole page (the theme's `@page` size prints one slide per
page; builder/js/viewer.js shows one slide at a time on screen); `.slides` are the same
`<section>` fragments, in order, for the preview to patch and for pdf.py's page cache;
`.head` is the CSS. Scoped styles travel inside their slide's fragment, so that any
subset of slides can be re-rendered alone (the preview does) with the same head.

Speed (`sheets build`, issue 6): with a `cache_dir` the packed theme CSS and every slide's
HTML are kept on disk (`_SlideCache`), so a rebuild renders and typesets only the slides
that changed; what is rendered anew has its math typeset in a thread while the theme is
packed and the code highlighted.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import hashlib
import html
import json
import mimetypes
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup

from builder.atomic import write_text_atomically
from builder.marp.markdown import markdown
from builder.marp.parse import Deck, Slide
from builder.marp.themes import (
    Theme,
    ThemeSet,
    load_themes,
    pack_css,
    scope_css,
    section_padding_right,
)
from builder.model import Diagnostic, SourceLoc
from builder.resources import NODE_MODULES, PACKAGE

if TYPE_CHECKING:
    import jinja2

    from builder.model import CardResult

__all__ = ["RenderedDeck", "ThemeSet", "load_themes", "render_deck"]


@functools.cache
def _template(name: str) -> jinja2.Template:
    """A page template (jinja2 is imported on first use: a build imports it while node
    typesets, a rebuild of cached slides only for the page)."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("builder", "templates"),
        autoescape=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    return environment.get_template(name)


# What sheets adds to every page, whatever the theme: only the slides print (a script's
# element beside them, such as the tooltip box mermaid adds after a flowchart, would
# print a blank page), placeholders for missing images and backgrounds (badges and
# Pygments' token colours come with the theme's CSS, below).
_SHEETS_CSS = """
@media print { body > :not(div.marpit) { display: none !important; } }
div.marpit > section .sheets-missing-image {
  display: inline-block; box-sizing: border-box; min-width: 12em; min-height: 4em;
  max-width: 100%; padding: .5em .8em; border: 2px dashed #c62828; background: #fff4f4;
  color: #c62828; font: 12px/1.4 monospace; white-space: pre-wrap; word-break: break-all;
  vertical-align: middle; }
div.marpit > section > div[data-marpit-advanced-background-container] { all: initial;
  position: absolute; top: 0; bottom: 0; left: 0; right: 0; z-index: -1; display: flex;
  flex-direction: row; overflow: hidden; pointer-events: none; }
div.marpit > section > div[data-marpit-advanced-background-direction="vertical"] {
  flex-direction: column; }
div.marpit > section > div[data-marpit-advanced-background-container] > figure {
  all: initial; background-position: center; background-repeat: no-repeat;
  background-size: cover; flex: auto; margin: 0; }
div.marpit > section > div[data-marpit-advanced-background-container] > figure > figcaption {
  position: absolute; border: 0; clip: rect(0, 0, 0, 0); height: 1px; margin: -1px;
  overflow: hidden; padding: 0; white-space: nowrap; width: 1px; }
/* A split: the slide's content keeps the theme's padding in what the picture leaves.
   Left: a transparent border takes the picture's part and the picture is drawn in it
   (clipped at the border box, not the padding box). Right: the same in the border would
   count as content running off the page (pdf.py measures scrollWidth), so the theme's
   right padding grows by the picture's width and the picture lies in it. */
div.marpit > section[data-marpit-advanced-background-split] {
  overflow: clip !important; overflow-clip-margin: border-box; }
div.marpit > section[data-marpit-advanced-background-split="left"] {
  border-left: var(--sheets-split-width) solid transparent !important; }
div.marpit > section[data-marpit-advanced-background-split="right"] {
  padding-right: calc(var(--sheets-split-width) + var(--sheets-padding-right, 0px))
    !important; }
div.marpit > section[data-marpit-advanced-background-split="right"] > :is(header, footer) {
  right: calc(var(--sheets-split-width) + var(--sheets-padding-right, 0px)); }
div.marpit > section[data-marpit-advanced-background-split="left"]
  > div[data-marpit-advanced-background-container] {
  left: calc(-1 * var(--sheets-split-width)); right: auto; width: var(--sheets-split-width); }
div.marpit > section[data-marpit-advanced-background-split="right"]
  > div[data-marpit-advanced-background-container] {
  right: 0; left: auto; width: var(--sheets-split-width); }
"""

# Check badges for a theme that does not style them (the built-in theme does: its colours
# are the ones shown, so these are left out rather than overridden).
_BADGE_CSS = """
div.marpit > section .sheets-badge { display: inline-block; margin-left: .5em;
  padding: 0 .45em; border-radius: .6em; font: bold 12px/1.6 sans-serif; color: #fff;
  vertical-align: middle; cursor: help; background: #757575; }
div.marpit > section .sheets-badge-pass { background: #2e7d32; }
div.marpit > section .sheets-badge-fail { background: #c62828; }
div.marpit > section .sheets-badge-error { background: #6a1b9a; }
div.marpit > section .sheets-badge-stack { position: absolute; top: 4px; right: 4px;
  z-index: 10; }
@media print { div.marpit > section .sheets-badge,
  div.marpit > section .sheets-badge-stack { display: none; } }
"""

_MERMAID_JS = NODE_MODULES / "mermaid" / "dist" \
    / "mermaid.min.js"
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
_IMAGE_TYPES = {".webp": "image/webp", ".svg": "image/svg+xml", ".avif": "image/avif"}


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
    """The page's CSS (theme, code colours, math: for the preview, the math CSS covers
    everything typeset so far in this process, so that it also serves slides rendered
    earlier)."""
    diagnostics: tuple[Diagnostic, ...]
    """Missing images and MathJax errors, at their lines (the parser's are on the deck)."""
    theme: str
    """The theme used."""
    size: tuple[str, str]
    """The slide (page) size as CSS lengths, from the theme."""


@dataclass(frozen=True, slots=True)
class _Badge:
    status: str
    message: str
    line: int
    title: str


def render_deck(
    deck: Deck,
    *,
    themes: ThemeSet,
    results: Mapping[int, CardResult] | Iterable[CardResult] | None = None,
    cache_dir: Path | None = None,
    standalone: bool = True,
) -> RenderedDeck:
    """Render `deck` (or the slides it was given: numbering and pagination come from each
    slide's own `index` and `page`). `results`: card verdicts to draw as badges, each on
    its card's slide (`CardResult.card.slide`); a mapping's values are taken.

    `cache_dir` (`sheets build` passes `.cache/render/`): the packed theme CSS and each
    slide's HTML are kept there, keyed by everything that decides them (see
    `_SlideCache`), so a rebuild after editing one slide renders (and typesets) that
    slide only. The result is the same as without it.

    `standalone`: the diagram library is inlined, so that the page needs nothing beside
    it; else it is loaded from node_modules by a file: URL, for a page printed here (as
    pdf.py prints it: 3.5 MB less for each build to copy, hash and scan)."""
    # MathJax works in node while this thread packs the theme and highlights the code.
    # Without a slide cache yet (a first build) every slide is rendered, so it starts on
    # them before the cache keys are made (~30 ms, more beside a starting Chromium).
    typesetting = _Typesetting(deck.slides) \
        if cache_dir is None or not _SlideCache.file(cache_dir, deck).is_file() else None
    diagnostics: list[Diagnostic] = []
    theme = _theme_for(deck, themes, diagnostics)
    look_key = _look_key(themes, theme, deck)
    badges = _badges(results)
    cache = _SlideCache(cache_dir, deck, look_key, badges) if cache_dir is not None else None
    hits = cache.lookup() if cache is not None else [None] * len(deck.slides)
    todo = [slide for slide, hit in zip(deck.slides, hits, strict=True) if hit is None]
    if typesetting is None:
        typesetting = _Typesetting(todo)
    look = _theme_look(themes, theme, deck, cache_dir, look_key)
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
                _highlight(token.content, _fence_language(token))
    auto_scaling = _auto_scaling(themes, theme)  # (~30 ms: not once the math is in)
    math = typesetting.result()
    state = _RenderState(deck=deck, math=math, badges=badges, diagnostics=[],
                         size=size, padding_right=look.padding_right,
                         auto_scaling=auto_scaling)
    fragments: list[str] = []
    math_fragments: list[str] = []
    cached_math: list[str] = []
    for slide, hit in zip(deck.slides, hits, strict=True):
        if hit is None:
            state.diagnostics, state.used_images = [], {}
            fragment = _render_slide(slide, state)
            # In line order within the slide: its images' warnings, then its math's.
            found = [*state.diagnostics, *(
                Diagnostic(tex_loc, f"math: {error}")
                for tex_loc, error in state.math_errors.get(slide.index, ()))]
            has_math = _has_math(slide)
            if cache is not None:
                cache.add(slide, fragment, found, state.used_images, has_math)
        else:
            fragment, found, has_math = hit.html, list(hit.diagnostics(slide)), hit.has_math
            if has_math:
                cached_math.append(fragment)
            for slug in _heading_slugs(slide):  # the ids this slide takes, as rendered
                count = state.slugs.get(slug)
                state.slugs[slug] = 0 if count is None else count + 1
        fragments.append(fragment)
        diagnostics.extend(found)
        if has_math:
            math_fragments.append(fragment)
    if cache is not None:
        cache.save()
    if cached_math:  # never typeset in this process: `.head` must cover them too
        _note_math(cached_math)

    common = f"{look.css}\n{_SHEETS_CSS}"
    document_head = common + "\n" + _math_stylesheet(math_fragments)
    uses_mermaid = any(_has_mermaid(fragment) for fragment in fragments)
    document = _template("document.html.j2").render(
        lang=_lang(deck),
        title=deck.title or _first_title(deck) or deck.path.stem,
        author=deck.author,
        description=deck.description,
        head=Markup(_no_end_tag(document_head, "style")),
        slides=Markup("".join(fragments)),
        mermaid_js=Markup(_mermaid_js()) if uses_mermaid and standalone else None,
        mermaid_url=_mermaid_url() if uses_mermaid and not standalone else None,
        fitting_js=Markup(_fitting_js()) if any(map(_has_fitting, fragments)) else None,
        viewer_js=Markup(_viewer_js()),
    )
    return RenderedDeck(
        document=document,
        slides=tuple(fragments),
        head=common + "\n" + _math_stylesheet(None),
        diagnostics=tuple(sorted(diagnostics, key=lambda d: d.loc.line)),
        theme=theme.name,
        size=size,
    )


# --------------------------------------------------------------------------- theme

def _theme_for(deck: Deck, themes: ThemeSet, diagnostics: list[Diagnostic]) -> Theme:
    """The deck's theme; an unknown name is a warning (Marp falls back to its default
    theme too), unusable only when there is no theme at all."""
    theme = themes.get(deck.theme)
    fallback = themes.default
    if theme is None and deck.theme is not None:
        loc = deck.directive_locs.get("theme") or SourceLoc(deck.path, 1)
        known = ", ".join(sorted(themes.themes)) or "none"
        using = f"; using {fallback.name!r}" if fallback else ""
        diagnostics.append(Diagnostic(
            loc, f"theme {deck.theme!r} not found (known: {known}; add one with "
                 f"--theme-set){using}"))
    theme = theme or fallback
    if theme is None:
        from builder.model import BuildError

        raise BuildError(None, "no themes: builder/themes/ is empty and no --theme-set given")
    return theme


@dataclass(frozen=True, slots=True)
class _ThemeLook:
    """What a deck's theme (and global style) gives every page: tinycss2 work, so kept
    on disk between builds."""

    css: str
    """The packed theme CSS, then Pygments' token colours and, for a theme that does not
    style check badges itself, sheets' default badges."""
    size: tuple[str, str]
    size_preset: bool
    """Whether the deck's `size` is one of the theme's `@size` presets."""
    padding_right: str


def _look_key(themes: ThemeSet, theme: Theme, deck: Deck) -> str:
    """What decides `_theme_look`: the theme set, the theme, the deck's size and style."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (_code_version(), theme.name, deck.size or "", deck.global_css,
                 *(f"{name}\0{item.css}" for name, item in sorted(themes.themes.items()))):
        digest.update(part.encode())
        digest.update(b"\0\1")
    return digest.hexdigest()


def _theme_look(themes: ThemeSet, theme: Theme, deck: Deck, cache_dir: Path | None,
                key: str) -> _ThemeLook:
    path = None
    if cache_dir is not None:
        path = cache_dir / f"theme-{key}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return _ThemeLook(str(data["css"]), (str(data["size"][0]), str(data["size"][1])),
                              bool(data["size_preset"]), str(data["padding_right"]))
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            pass  # absent or damaged: make it again
    size = themes.size(theme, deck.size)
    size_preset = deck.size is not None and themes.has_size(theme, deck.size)
    flat = themes.flat_css(theme)
    css = pack_css(themes, theme, after=deck.global_css, size=size if size_preset else None)
    # One source of truth for badge colours: the theme's, when it has any.
    badges = "" if _THEME_BADGE.search(flat) else _BADGE_CSS
    look = _ThemeLook(f"{css}\n{_code_css()}\n{badges}", size, size_preset,
                      section_padding_right(flat))
    if path is not None:
        with contextlib.suppress(OSError):  # a read-only or full disk only costs speed
            write_text_atomically(path, json.dumps({
                "css": look.css, "size": look.size, "size_preset": look.size_preset,
                "padding_right": look.padding_right}))
    return look


_THEME_BADGE = re.compile(r"\.sheets-badge\b[^{]*\{")


@functools.cache
def _code_css() -> str:
    from pygments.formatters import HtmlFormatter

    # Token colours only: the theme decides the block's background, font and padding.
    rules = HtmlFormatter(style="default").get_style_defs(  # type: ignore[no-untyped-call]
        "div.marpit > section pre code")
    return "\n".join(line for line in rules.splitlines()
                     if re.match(r"div\.marpit > section pre code \.\w", line))


@functools.cache
def _viewer_js() -> str:
    """The viewer script, ready to inline."""
    return _no_end_tag((resources.files("builder") / "js" / "viewer.js").read_text(
        encoding="utf-8"), "script")


@functools.cache
def _fitting_js() -> str:
    """The auto-scaling script (fitting headings, wide code and math), ready to inline."""
    return _no_end_tag((resources.files("builder") / "js" / "fitting.js").read_text(
        encoding="utf-8"), "script")


def _has_fitting(fragment: str) -> bool:
    """Whether a slide has something `fitting.js` scales: a fitting heading or code block
    (marked as marp-core marks them), or display math (always scaled down to fit)."""
    return "data-auto-scaling" in fragment or 'display="true"' in fragment


def _auto_scaling(themes: ThemeSet, theme: Theme) -> str:
    """The theme's `@auto-scaling` meta (marp-core `isEnabledAutoScaling`): `true`, or
    the features it turns on (`fittingHeader`, `math`, `code`). Like marpit's
    `getThemeMeta`, the theme's own value first, else that of a theme it imports."""
    # theme_css's own walk of the imports, in marpit's order (the theme first).
    for candidate in themes._with_imports(theme):
        value = candidate.meta_value("auto-scaling")
        if value:
            return value
    return ""


def _scales(state: _RenderState, feature: str) -> bool:
    """Whether marp-core auto-scales `feature` under the deck's theme."""
    return state.auto_scaling == "true" or feature in state.auto_scaling


@functools.cache
def _mermaid_js() -> str:
    """The diagram library, ready to inline (3.5 MB: escaped once per process)."""
    try:
        return _no_end_tag(_MERMAID_JS.read_text(encoding="utf-8"), "script")
    except OSError:
        from builder.model import BuildError

        raise BuildError(None, f"mermaid is not installed ({_MERMAID_JS} is missing): "
                               "run `make` (or `npm ci`) in the sheets repository") from None


def _mermaid_url() -> str:
    """The diagram library's file: URL (BuildError if it is not installed)."""
    if not _MERMAID_JS.is_file():
        _mermaid_js()  # says what is missing
    return _MERMAID_JS.as_uri()


def _no_end_tag(text: str, tag: str) -> str:
    """Inlined CSS/JS must not close its element early."""
    return re.sub(rf"</({tag})", r"<\\/\1", text, flags=re.IGNORECASE)


def _lang(deck: Deck) -> str:
    """The page language: the `lang` directive, else `ja` when the text is Japanese (so
    that Noto CJK picks Japanese glyph forms), else `en`."""
    if deck.lang:
        return deck.lang
    return "ja" if any(_JAPANESE.search(slide.source) for slide in deck.slides) else "en"


def _first_title(deck: Deck) -> str | None:
    for slide in deck.slides:
        for position, token in enumerate(slide.tokens[:-1]):
            if token.type == "heading_open":
                text = _plain_text(slide.tokens[position + 1].children or ())
                if text:
                    return text
    return None


def _plain_text(children: Sequence[Token]) -> str:
    parts: list[str] = []
    for child in children:
        if child.type in ("text", "code_inline", "math_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.children:
            parts.append(_plain_text(child.children))
    return " ".join("".join(parts).split())


# --------------------------------------------------------------------------- math

@dataclass(frozen=True, slots=True)
class _Math:
    html: str
    error: str | None


def _math_tokens(tokens: Iterable[Token]) -> Iterable[Token]:
    for token in tokens:
        if token.type in ("math_inline", "math_block"):
            yield token
        if token.children:
            yield from _math_tokens(token.children)


class _Typesetting:
    """`_typeset_all` in a thread (it mostly waits for node): `result()` joins it."""

    def __init__(self, slides: Sequence[Slide]) -> None:
        self._math: dict[tuple[str, bool], _Math] = {}
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if any(_has_math(slide) for slide in slides):
            self._thread = threading.Thread(target=self._run, args=(slides,), daemon=True,
                                            name="sheets-typeset")
            self._thread.start()

    def _run(self, slides: Sequence[Slide]) -> None:
        try:
            self._math = _typeset_all(slides)
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            self._error = error

    def result(self) -> dict[tuple[str, bool], _Math]:
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._math


def _typeset_all(slides: Iterable[Slide]) -> dict[tuple[str, bool], _Math]:
    """Every equation of the slides (body, header, footer) in one call to MathJax."""
    wanted: dict[tuple[str, bool], None] = {}
    for slide in slides:
        for token in _math_tokens((*slide.tokens, *slide.header_tokens, *slide.footer_tokens)):
            wanted[(token.content, token.type == "math_block")] = None
    if not wanted:
        return {}
    from builder.render.typeset import shared_typesetter

    _math_seen.set()
    keys = list(wanted)
    results = shared_typesetter().typeset(keys)
    return {key: _Math(result.html, result.error) for key, result in zip(keys, results,
                                                                          strict=True)}


def _has_math(slide: Slide) -> bool:
    return any(True for _ in _math_tokens(
        (*slide.tokens, *slide.header_tokens, *slide.footer_tokens)))


def _note_math(fragments: Sequence[str]) -> None:
    """Slides from the disk cache hold math this process never typeset: from now on the
    cumulative math CSS (`.head`) covers it as well."""
    from builder.render.typeset import shared_typesetter

    _math_seen.set()
    shared_typesetter().note(fragments)


# Set once this process has typeset math: from then on the preview's head carries the
# CSS for all of it (a sheet without math never starts MathJax for its CSS).
_math_seen = threading.Event()


def _math_stylesheet(fragments: Sequence[str] | None) -> str:
    """MathJax's CSS for `fragments`, or for all typeset so far (None)."""
    if (fragments is not None and not fragments) or not _math_seen.is_set():
        return ""
    from builder.render.typeset import shared_typesetter

    return shared_typesetter().stylesheet(fragments)


# --------------------------------------------------------------------------- badges

def _badges(results: Mapping[int, CardResult] | Iterable[CardResult] | None,
            ) -> dict[int, list[_Badge]]:
    if results is None:
        return {}
    values = results.values() if isinstance(results, Mapping) else results
    by_slide: dict[int, list[_Badge]] = {}
    for result in values:
        card = result.card
        by_slide.setdefault(card.slide, []).append(
            _Badge(result.status, result.message or "", card.loc.line, card.title))
    return by_slide


def _badge_html(badge: _Badge) -> str:
    tooltip = f"line {badge.line}: {badge.status}" + (f"\n{badge.message}" if badge.message
                                                       else "")
    return (f'<span class="sheets-badge sheets-badge-{badge.status}" '
            f'data-status="{badge.status}" data-line="{badge.line}" '
            f'title="{html.escape(tooltip)}">{badge.status}</span>')


# --------------------------------------------------------------------------- slides

@dataclass(slots=True)
class _RenderState:
    deck: Deck
    math: Mapping[tuple[str, bool], _Math]
    badges: Mapping[int, list[_Badge]]
    diagnostics: list[Diagnostic]
    size: tuple[str, str]
    padding_right: str = "0px"
    """The theme's right padding of a slide (a right split background adds to it)."""
    auto_scaling: str = ""
    """The theme's `@auto-scaling` meta (`_auto_scaling`)."""
    mermaid: bool = False
    math_errors: dict[int, list[tuple[SourceLoc, str]]] = field(default_factory=dict)
    slugs: dict[str, int] = field(default_factory=dict)
    """Heading ids given so far (marp-core counts the slide ids "1", "2"… as taken)."""
    images: dict[Path, str | None] = field(default_factory=dict)
    """Each image file read: its `data:` URL, None when missing."""
    image_states: dict[Path, str] = field(default_factory=dict)
    """Each image file's state (`_file_state`) when it was read."""
    used_images: dict[str, str] = field(default_factory=dict)
    """The image files the slide being rendered uses, with their states."""

    def __post_init__(self) -> None:
        self.slugs.update((str(slide.index + 1), 0) for slide in self.deck.slides)


def _render_slide(slide: Slide, state: _RenderState) -> str:
    env: dict[str, Any] = {"state": state, "slide": slide,
                           "badges": {b.line: b for b in state.badges.get(slide.index, ())
                                      if b.title}}
    options = markdown().options
    body = _RENDERER.render(list(slide.tokens), options, env)
    untitled = [b for b in state.badges.get(slide.index, ())
                if not b.title or b.line not in env.get("placed", set())]
    if untitled:
        body = ('<div class="sheets-badge-stack">'
                + "".join(_badge_html(b) for b in untitled) + "</div>\n" + body)
    header = _RENDERER.render(list(slide.header_tokens), options, env) \
        if slide.header_tokens else None
    footer = _RENDERER.render(list(slide.footer_tokens), options, env) \
        if slide.footer_tokens else None
    scoped_css = ""
    attributes = _section_attributes(slide, state)
    if slide.scoped_css:
        css = "\n".join(slide.scoped_css)
        key = hashlib.blake2b(css.encode(), digest_size=6).hexdigest()
        attributes.append((f"data-marpit-scope-{key}", ""))
        scoped_css = _no_end_tag(scope_css(css, key), "style")
    return _template("slide.html.j2").render(
        attributes=attributes,
        header=Markup(header) if header is not None else None,
        footer=Markup(footer) if footer is not None else None,
        body=Markup(body),
        background=Markup(_background_layer(slide, state)),
        scoped_css=Markup(scoped_css),
    )


def _kebab(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", name).lower()


_GLOBAL_DATA = ("theme", "style", "headingDivider", "lang")


def _section_attributes(slide: Slide, state: _RenderState) -> list[tuple[str, str]]:
    """marpit `directives/apply.js`: data-* and CSS custom properties for directives,
    class, colours and backgrounds as inline style, pagination."""
    deck = state.deck
    values: dict[str, str] = dict(slide.directives)
    for key in _GLOBAL_DATA:
        value = deck.directives.get(key)
        if isinstance(value, tuple):
            value = ",".join(str(v) for v in value)
        if value not in (None, "", False):
            values[key] = str(value)
    attributes: list[tuple[str, str]] = [("id", str(slide.index + 1))]
    style: dict[str, str] = {}
    for key, value in values.items():
        attributes.append((f"data-{_kebab(key)}", value))
        if not re.search(r"[;{}\"\n]", value):  # a custom property must not end the style
            style[f"--{_kebab(key)}"] = value
    if slide.classes:
        attributes.append(("class", " ".join(slide.classes)))
    if slide.color:
        style["color"] = slide.color
    if slide.background_color:
        style["background-color"] = slide.background_color
        style["background-image"] = "none"
    background_image = slide.background_image
    background_size = slide.background_size
    for background in slide.backgrounds:
        if _is_color(background.src):  # `![bg](red)`: a colour, not an image
            style["background-color"] = background.src
    images = [bg for bg in slide.backgrounds if not _is_color(bg.src)]
    if images:
        # Marp CLI's advanced backgrounds (see `_background_layer`), inside the section.
        style["isolation"] = "isolate"
        split = next((bg for bg in reversed(images) if bg.split), None)
        if split is not None:
            share = split.split_size or "50%"
            attributes.append(("data-marpit-advanced-background-split", str(split.split)))
            style["--marpit-advanced-background-split"] = share
            style["--sheets-split-width"] = \
                f"calc({state.size[0]} * {float(share.rstrip('%')) / 100:g})"
            if split.split == "right":
                style["--sheets-padding-right"] = state.padding_right
    if background_image:
        style["background-image"] = _inline_css_urls(background_image, slide.loc, state)
        style["background-position"] = slide.background_position or "center"
        style["background-repeat"] = slide.background_repeat or "no-repeat"
        style["background-size"] = background_size or "cover"
    if slide.paginate:
        attributes.append(("data-marpit-pagination", str(slide.page)))
    if style:
        attributes.append(("style", "".join(f"{k}:{v};" for k, v in style.items())))
    if slide.paginate:
        attributes.append(("data-marpit-pagination-total", str(deck.page_total)))
    return attributes


def _background_layer(slide: Slide, state: _RenderState) -> str:
    """marpit `background_image/advanced.js` as Marp CLI draws `![bg]` images: figures
    side by side (or stacked, `vertical`) filling the slide, or its `left`/`right` part
    for a split. Marp puts them in a section of their own behind the slide; here they
    are a layer at the end of the slide, behind its content (`_SHEETS_CSS`), so a slide
    stays one section."""
    images = [bg for bg in slide.backgrounds if not _is_color(bg.src)]
    if not images:
        return ""
    direction = next((bg.direction for bg in reversed(images) if bg.direction), None)
    figures = []
    for background in images:
        url = _image_url(background.src, background.loc, state)
        style = f'background-image:url("{url}");' if url else ""
        if background.size:
            style += f"background-size:{background.size};"
        if background.filters:
            style += "filter:" + " ".join(f"{name}({value})"
                                          for name, value in background.filters) + ";"
        caption = f"<figcaption>{html.escape(background.alt)}</figcaption>" \
            if background.alt else ""
        figures.append(f'<figure style="{html.escape(style)}">{caption}</figure>')
    return ('<div data-marpit-advanced-background-container="true" '
            f'data-marpit-advanced-background-direction="{direction or "horizontal"}">'
            + "".join(figures) + "</div>\n")


_CSS_URL = re.compile(r"""url\(\s*(["']?)([^"')]*)\1\s*\)""")


def _inline_css_urls(value: str, loc: SourceLoc, state: _RenderState) -> str:
    """Local files in a `backgroundImage: url(…)` directive, inlined like images."""
    def inline(match: re.Match[str]) -> str:
        url = _image_url(match.group(2), loc, state)
        return f'url("{url}")' if url else match.group(0)

    return _CSS_URL.sub(inline, value)


def _is_color(src: str) -> bool:
    return bool(re.fullmatch(r"#[0-9a-fA-F]{3,8}|(rgb|hsl)a?\(.*\)|[a-zA-Z]+", src.strip()))


# --------------------------------------------------------------------------- images

def _image_url(src: str, loc: SourceLoc, state: _RenderState) -> str | None:
    """A local image as a `data:` URL; None (and a warning at `loc`) when it is missing.
    Remote and `data:` URLs are kept as written."""
    parts = urlsplit(src)
    if parts.scheme and parts.scheme != "file" and len(parts.scheme) > 1:
        return src
    path = Path(unquote(parts.path))
    if not path.is_absolute():
        path = state.deck.path.parent / path
    if path not in state.images:
        state.image_states[path] = _file_state(path)
        try:
            data = path.read_bytes()
        except OSError:
            state.images[path] = None
        else:
            kind = _IMAGE_TYPES.get(path.suffix.lower()) or \
                mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            state.images[path] = f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
    url = state.images[path]
    state.used_images[str(path)] = state.image_states[path]
    if url is None:
        state.diagnostics.append(Diagnostic(loc, f"image not found: {unquote(src)}"))
    return url


class _SlideRenderer(RendererHTML):
    """markdown-it-py's HTML renderer plus math, code, images, heading ids and badges.
    `env` carries the render state (see `_render_slide`)."""

    def math_inline(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
                    env: EnvType) -> str:
        return self._math(tokens[idx], env, display=False)

    def math_block(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
                   env: EnvType) -> str:
        return f"<p>{self._math(tokens[idx], env, display=True)}</p>\n"

    @staticmethod
    def _math(token: Token, env: EnvType, *, display: bool) -> str:
        state: _RenderState = env["state"]
        result = state.math.get((token.content, display))
        if result is None:  # not typeset (cannot happen for tokens of the deck)
            return f'<span class="sheets-tex">{html.escape(token.content)}</span>'
        slide: Slide = env["slide"]
        line = token.map[0] + 1 if token.map else env.get("line", slide.loc.line)
        if result.error:
            state.math_errors.setdefault(slide.index, []).append(
                (SourceLoc(slide.loc.path, line), result.error))
        if not token.map:  # inline math may span lines too
            env["line"] = line + token.content.count("\n")
        return result.html

    def render(self, tokens: Sequence[Token], options: OptionsDict, env: EnvType) -> str:
        out: list[str] = []
        for index, token in enumerate(tokens):
            if token.type == "inline":
                if token.map:  # the line of what follows, for warnings inside it
                    env["line"] = token.map[0] + 1
                if token.children:
                    out.append(self.renderInline(token.children, options, env))
            elif token.type in self.rules:
                out.append(self.rules[token.type](tokens, index, options, env))
            else:
                out.append(self.renderToken(tokens, index, options, env))
        return "".join(out)

    def html_block(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
                   env: EnvType) -> str:
        token = tokens[idx]
        line = token.map[0] + 1 if token.map else env["slide"].loc.line
        return _inline_html_images(token.content, line, env)

    def html_inline(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
                    env: EnvType) -> str:
        return _inline_html_images(tokens[idx].content, env.get("line", 0), env)

    # Line breaks inside a paragraph move the line that warnings point at.
    def softbreak(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
                  env: EnvType) -> str:
        env["line"] = env.get("line", 0) + 1
        return super().softbreak(tokens, idx, options, env)

    def hardbreak(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
                  env: EnvType) -> str:
        env["line"] = env.get("line", 0) + 1
        return super().hardbreak(tokens, idx, options, env)

    def fence(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
              env: EnvType) -> str:
        token = tokens[idx]
        language = _fence_language(token)
        if language.lower() == "mermaid":
            env["state"].mermaid = True
            return f'<div class="mermaid">{html.escape(token.content)}</div>\n'
        code = _highlight(token.content, language)
        attribute = f' class="language-{html.escape(language)}"' if language else ""
        return f"<pre{_code_scaling(env)}><code{attribute}>{code}</code></pre>\n"

    def code_block(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
                   env: EnvType) -> str:
        rendered = super().code_block(tokens, idx, options, env)
        return rendered.replace("<pre", f"<pre{_code_scaling(env)}", 1)

    def image(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
              env: EnvType) -> str:
        token = tokens[idx]
        state: _RenderState = env["state"]
        slide: Slide = env["slide"]
        src = str(token.attrGet("src") or "")
        line = int(token.meta.get("line") or env.get("line") or slide.loc.line)
        url = _image_url(src, SourceLoc(slide.loc.path, line), state)
        alt = self.renderInlineAsText(token.children or [], options, env)
        style = token.attrGet("style")
        if url is None:
            style_attribute = f' style="{html.escape(str(style))}"' if style else ""
            return (f'<span class="sheets-missing-image" role="img" '
                    f'aria-label="{html.escape(alt)}" data-src="{html.escape(src)}"'
                    f'{style_attribute}>image not found: {html.escape(unquote(src))}</span>')
        attributes = [("src", url), ("alt", alt)]
        attributes += [(name, str(value)) for name, value in token.attrs.items()
                       if name not in ("src", "alt")]
        return "<img" + "".join(f' {name}="{html.escape(value)}"'
                                for name, value in attributes) + " />"

    def heading_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
                     env: EnvType) -> str:
        token = tokens[idx]
        state: _RenderState = env["state"]
        inline = tokens[idx + 1] if idx + 1 < len(tokens) else None
        slug = _slug(_slug_text(inline.children or []) if inline is not None else "")
        count = state.slugs.get(slug)
        state.slugs[slug] = 0 if count is None else count + 1
        identifier = slug if count is None else f"{slug}-{count + 1}"
        if token.map:
            env["heading_line"] = token.map[0] + 1
        # marp-core's fitting header: scaled to the slide's width by fitting.js.
        fitting = f' is="marp-{token.tag}" data-auto-scaling' \
            if (token.meta or {}).get("fit") and _scales(state, "fittingHeader") else ""
        return f'<{token.tag}{fitting} id="{html.escape(identifier)}">'

    def heading_close(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
                      env: EnvType) -> str:
        badge = env["badges"].get(env.pop("heading_line", None))
        mark = ""
        if badge is not None:
            mark = _badge_html(badge)
            env.setdefault("placed", set()).add(badge.line)
        return f"{mark}</{tokens[idx].tag}>\n"


def _code_scaling(env: EnvType) -> str:
    """marp-core's code auto-scaling attributes, when the theme turns it on."""
    return ' is="marp-pre" data-auto-scaling="downscale-only"' \
        if _scales(env["state"], "code") else ""


_RENDERER = _SlideRenderer()
_HTML_IMAGE = re.compile(r'(<img\b[^>]*?\ssrc=")([^"]*)(")', re.IGNORECASE)


def _inline_html_images(html_text: str, line: int, env: EnvType) -> str:
    """`<img src>` in raw HTML (already cut down to Marp's allowlist) is a local image
    like `![](…)`: inlined, or reported when missing (the tag is then left as written)."""
    if "<img" not in html_text.lower():
        return html_text
    slide: Slide = env["slide"]

    def inline(match: re.Match[str]) -> str:
        src = html.unescape(match.group(2))
        where = SourceLoc(slide.loc.path, line + html_text.count("\n", 0, match.start()))
        url = _image_url(src, where, env["state"])
        return match.group(0) if url is None else \
            f"{match.group(1)}{html.escape(url)}{match.group(3)}"

    return _HTML_IMAGE.sub(inline, html_text)


def _slug_text(children: Sequence[Token]) -> str:
    """marp-core `slug.ts`: the text of text, code, images and raw HTML."""
    return "".join(child.content for child in children
                   if not child.hidden and child.type in ("text", "code_inline", "image",
                                                          "html_inline"))


_SLUG_DROP = re.compile(
    r"[\][!/'\"#$%&()*+,./:;<=>?@\\^{|}~`。，、；：？！…—·ˉ¨‘’“”々～‖∶＂＇｀｜〃〔〕〈〉《》「」『』．〖〗【】（）［］｛｝]")


def _slug(text: str) -> str:
    """marp-core's default slugifier (`encodeURI` of the cleaned, lower-cased text)."""
    cleaned = _SLUG_DROP.sub("", re.sub(r"\s+", "-", text.strip().lower()))
    cleaned = re.sub(r"^-+|-+$", "", cleaned, count=1)
    return quote(cleaned, safe="-_.!~*'();/?:@&=+$,#")


def _fence_language(token: Token) -> str:
    return token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""


@functools.lru_cache(maxsize=512)
def _highlight(code: str, language: str) -> str:
    if not language or language.lower() == "mermaid":
        return html.escape(code)
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(language)
    except ClassNotFound:
        return html.escape(code)
    return str(highlight(code, lexer, HtmlFormatter(nowrap=True)))


def _has_mermaid(fragment: str) -> bool:
    return bool(re.search(r'<div class="[^"]*\bmermaid\b', fragment))


def _heading_slugs(slide: Slide) -> list[str]:
    """The slug of each heading of the slide, in order, as `heading_open` makes them."""
    tokens = slide.tokens
    return [_slug(_slug_text(tokens[position + 1].children or [])
                  if position + 1 < len(tokens) else "")
            for position, token in enumerate(tokens) if token.type == "heading_open"]


# --------------------------------------------------------------------------- disk cache

def _file_state(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError:
        return "missing"
    return f"{stat.st_mtime_ns}:{stat.st_size}"


_CODE = PACKAGE
_CODE_FILES = ("render/deck.py", "marp/themes.py", "marp/parse.py", "marp/markdown.py",
               "model.py", "templates/slide.html.j2")
_LIBRARIES = ("markdown_it", "pygments", "jinja2", "tinycss2", "mdit_py_plugins")


@functools.cache
def _code_version() -> str:
    """What decides the HTML besides the sheet: this code, the parser's, MathJax's
    (typeset.py's version) and the libraries' (by their installed files)."""
    import importlib.util

    from builder.render.typeset import code_version as math_version

    digest = hashlib.blake2b(math_version().encode(), digest_size=16)
    for name in _CODE_FILES:
        with contextlib.suppress(OSError):
            digest.update((_CODE / name).read_bytes())
    for library in _LIBRARIES:
        with contextlib.suppress(ImportError, ValueError, AttributeError):
            spec = importlib.util.find_spec(library)
            if spec is not None and spec.origin:
                digest.update(f"{spec.origin}\0{_file_state(Path(spec.origin))}".encode())
    return digest.hexdigest()


# Slide fields that do not decide its HTML: the tokens come from `source` (and the
# directives), and lines only move the warnings, which are kept relative to the slide.
_NOT_SLIDE_LOOK = frozenset({"tokens", "header_tokens", "footer_tokens", "loc", "comments",
                             "end_line", "notes"})
_GLOBAL_KEYS = ("directives", "math", "page_total", "heading_divider")


@dataclass(frozen=True, slots=True)
class _Hit:
    html: str
    warnings: tuple[tuple[int, str], ...]
    """(line relative to the slide's first line, message)."""
    has_math: bool

    def diagnostics(self, slide: Slide) -> Iterable[Diagnostic]:
        for offset, message in self.warnings:
            yield Diagnostic(SourceLoc(slide.loc.path, slide.loc.line + offset), message)


class _SlideCache:
    """The slides of the last build of one sheet, by key: a JSON file per sheet under
    `cache_dir`, rewritten (atomically) with just the current slides after each build,
    so it does not grow with edits.

    A slide's key covers its fields (source, directives, page…), the deck's global
    directives, the theme (`_look_key`: size and padding come from it), its badges, the counts its heading ids
    continue from, the sheet's directory (images) and `_code_version()`. Its HTML holds
    the images it uses as `data:` URLs: their files' states are stored with it and
    checked on use."""

    def __init__(self, cache_dir: Path, deck: Deck, look_key: str,
                 badges: Mapping[int, list[_Badge]]) -> None:
        self.path = self.file(cache_dir, deck)
        self.deck = deck
        self.badges = badges
        common = repr((look_key, str(deck.path.absolute().parent),
                       [slide.index for slide in deck.slides],
                       *(getattr(deck, key) for key in _GLOBAL_KEYS)))
        self.common = hashlib.blake2b(common.encode(), digest_size=16).hexdigest()
        self.keys: dict[int, str] = {}
        self.entries: dict[str, dict[str, Any]] = {}
        self.changed = False

    @staticmethod
    def file(cache_dir: Path, deck: Deck) -> Path:
        """Where the sheet's slides are kept."""
        name = hashlib.blake2b(str(deck.path.absolute()).encode(), digest_size=16)
        return cache_dir / f"slides-{name.hexdigest()}.json"

    def lookup(self) -> list[_Hit | None]:
        """Per slide: its cached rendering, or None."""
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
            old: dict[str, dict[str, Any]] = stored["slides"] \
                if stored.get("common") == self.common else {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            old = {}
        slugs: dict[str, int] = {str(slide.index + 1): 0 for slide in self.deck.slides}
        hits: list[_Hit | None] = []
        for slide in self.deck.slides:
            taken = _heading_slugs(slide)
            key = hashlib.blake2b(repr((
                self.common,
                [(f.name, getattr(slide, f.name)) for f in dataclasses.fields(slide)
                 if f.name not in _NOT_SLIDE_LOOK],
                self.badges.get(slide.index, ()),
                [slugs.get(slug) for slug in taken],
            )).encode(), digest_size=20).hexdigest()
            for slug in taken:
                count = slugs.get(slug)
                slugs[slug] = 0 if count is None else count + 1
            self.keys[slide.index] = key
            entry = old.get(key)
            hit = None
            if isinstance(entry, dict) and all(
                    _file_state(Path(path)) == state
                    for path, state in entry.get("images", {}).items()):
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    hit = _Hit(str(entry["html"]),
                               tuple((int(line), str(message))
                                     for line, message in entry["warnings"]),
                               bool(entry["math"]))
                    self.entries[key] = entry
            self.changed = self.changed or hit is None
            hits.append(hit)
        self.changed = self.changed or len(old) != len(self.entries)
        return hits

    def add(self, slide: Slide, html_text: str, found: Sequence[Diagnostic],
            images: Mapping[str, str], has_math: bool) -> None:
        self.entries[self.keys[slide.index]] = {
            "html": html_text, "math": has_math, "images": dict(images),
            "warnings": [(d.loc.line - slide.loc.line, d.message) for d in found],
        }

    def save(self) -> None:
        if not self.changed:
            return
        with contextlib.suppress(OSError):  # a read-only or full disk only costs speed
            write_text_atomically(self.path, json.dumps(
                {"common": self.common, "slides": self.entries}, ensure_ascii=False))

