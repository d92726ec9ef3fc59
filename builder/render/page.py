"""The page around the slides: the document template, the CSS sheets adds to every theme,
and the scripts a page inlines (viewer, auto-scaling, the diagram library).

`RenderedDeck.document` is the whole page: the theme's `@page` size prints one slide per
page, and builder/js/viewer.js shows one slide at a time on screen. The diagram library
(mermaid, from node_modules or the files a built package carries) and the auto-scaling
script (builder/js/fitting.js) are put in only when a slide needs them.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING

from markupsafe import Markup

from builder.marp import Deck, Layout
from builder.model import BuildError
from builder.render.diagrams import has_mermaid
from builder.render.flow import destinations
from builder.resources import JAVASCRIPT

if TYPE_CHECKING:
    import jinja2

MERMAID_JS = JAVASCRIPT.mermaid_js
"""The diagram library a page with diagrams runs (the preview serves the same file)."""
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


@functools.cache
def template(name: str) -> jinja2.Template:
    """A page template (jinja2 is imported on first use: a build imports it while node
    typesets, a rebuild of cached slides only for the page)."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("builder", "templates"),
        autoescape=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        # The compiled template kept between processes (jinja2's own folder for it,
        # private to the user; keyed on the template's source): a warm build need not
        # compile it again.
        bytecode_cache=jinja2.FileSystemBytecodeCache(),
    )
    return environment.get_template(name)


# What sheets adds to every page, whatever the theme: only the slides print (a script's
# element beside them, such as the tooltip box mermaid adds after a flowchart, would
# print a blank page), placeholders for missing images and backgrounds (badges and
# Pygments' token colours come with the theme's CSS, below).
SHEETS_CSS = """
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
BADGE_CSS = """
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


# The page's own inline scripts beside the viewer, auto-scaling and diagram library.
FONTS_JS = """
// Every font the styles declare (MathJax's, inlined as data: URLs) loads now, while the
// slides are parsed, instead of once a layout finds a glyph that needs it: the page is
// then laid out once with its fonts, not laid out again as each arrives.
for (const face of document.fonts) face.load().catch(() => {});
"""
# Mermaid's own default, `securityLevel: "strict"`, is what the diagrams run under (its
# labels are sanitized, `click` cannot call script); a diagram's `%%{init}%%` cannot
# change it (mermaid's `secure` keys).
DIAGRAMS_JS = """
mermaid.initialize({ startOnLoad: false });
// pdf.py (and viewer.js) wait for this before measuring or hiding slides.
window.sheetsReady = mermaid.run({ querySelector: "div.marpit .mermaid" }).catch(
  (error) => console.error("mermaid:", error));
"""


def content_security_policy(script_sources: Sequence[str]) -> str:
    """The Content-Security-Policy of a page of slides: scripts from `script_sources`
    only (the hashes of the page's own scripts, or `'self'` for the preview), so that
    markup a sheet slips past the sanitizer cannot run script (no inline event handler,
    no `javascript:` URL, no eval); images and fonts from the page itself and `data:`
    (where local images and MathJax's fonts are), nothing fetched from elsewhere.
    Styles may be inline (`'unsafe-inline'`): Marp writes directives as `style`
    attributes, themes and scoped styles are `<style>` elements, MathJax sizes its boxes
    with `style`; a style cannot run script, and the image and font rules keep it from
    fetching anything."""
    return ("default-src 'none'; "
            f"script-src {' '.join(script_sources)}; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
            "connect-src 'self'; base-uri 'none'; form-action 'none'")


def script_hash(script: str) -> str:
    """A CSP source that allows the inline script whose text is `script`."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


@functools.cache
def _mermaid_hash() -> str:
    return script_hash(mermaid_js())


@functools.cache
def viewer_js() -> str:
    """The viewer script, ready to inline."""
    return no_end_tag((resources.files("builder") / "js" / "viewer.js").read_text(
        encoding="utf-8"), "script")


@functools.cache
def flow_js() -> str:
    """A document's script (long cards marked, wide tables scaled to the width), ready to inline."""
    return no_end_tag((resources.files("builder") / "js" / "flow.js").read_text(
        encoding="utf-8"), "script")


@functools.cache
def fitting_js() -> str:
    """The auto-scaling script (fitting headings, wide code and math), ready to inline."""
    return no_end_tag((resources.files("builder") / "js" / "fitting.js").read_text(
        encoding="utf-8"), "script")


def has_fitting(fragment: str) -> bool:
    """Whether a slide has something `fitting.js` scales: a fitting heading or code block
    (marked as marp-core marks them), or display math (always scaled down to fit)."""
    return "data-auto-scaling" in fragment or 'display="true"' in fragment


@functools.cache
def mermaid_js() -> str:
    """The diagram library, ready to inline (3.5 MB: escaped once per process)."""
    try:
        return no_end_tag(MERMAID_JS.read_text(encoding="utf-8"), "script")
    except OSError:
        raise BuildError(None, f"mermaid is not installed ({MERMAID_JS} is missing): "
                               f"{JAVASCRIPT.how_to_install()}") from None


def mermaid_url() -> str:
    """The diagram library's file: URL (BuildError if it is not installed)."""
    if not MERMAID_JS.is_file():
        mermaid_js()  # says what is missing
    return MERMAID_JS.as_uri()


def no_end_tag(text: str, tag: str) -> str:
    """Inlined CSS/JS must not close its element early."""
    return re.sub(rf"</({tag})", r"<\\/\1", text, flags=re.IGNORECASE)


def page_language(deck: Deck) -> str:
    """The page language: the `lang` directive, else `ja` when the text is Japanese (so
    that Noto CJK picks Japanese glyph forms), else `en`."""
    if deck.lang:
        return deck.lang
    return "ja" if any(_JAPANESE.search(slide.source) for slide in deck.slides) else "en"


def first_title(deck: Deck) -> str | None:
    """The text of the deck's first heading (the page's title when the front matter has
    none), as the parser reads headings (`Heading.plain`)."""
    return next((heading.plain for slide in deck.slides for heading in slide.headings
                 if heading.plain), None)


def page_title(deck: Deck) -> str:
    """The page's title: the `title` directive, else the first heading, else the
    sheet's file name."""
    return deck.title or first_title(deck) or deck.path.stem


def document(deck: Deck, head: str, fragments: Sequence[str], *, standalone: bool,
             layout: Layout = "slides") -> str:
    """The whole page: `head` (CSS) and the slides' `fragments`, with the scripts they
    need. `standalone`: the diagram library is inlined, else linked by a file: URL (a
    page printed here, see `render_deck`). A document (`layout`) scrolls: it has no
    slide viewer, and has the links that mark its cards' pages in a PDF
    (builder/render/flow.py) and the script that fits its wide tables."""
    flowing = layout == "document"
    uses_mermaid = any(has_mermaid(fragment) for fragment in fragments)
    uses_fitting = any(map(has_fitting, fragments))
    # The reader's file says which scripts may run; the page printed here (its diagram
    # scripts replaced by builder/pdf's) has none.
    csp = None
    if standalone:
        hashes = [script_hash(FONTS_JS),
                  script_hash(flow_js() if flowing else viewer_js())]
        if uses_mermaid:
            hashes += [_mermaid_hash(), script_hash(DIAGRAMS_JS)]
        if uses_fitting:
            hashes.append(script_hash(fitting_js()))
        csp = content_security_policy(hashes)
    # The slides go in after the template has run: passed through it, megabytes of HTML
    # would be copied into a Markup string and out again.
    page = template("document.html.j2").render(
        csp=csp,
        fonts_js=Markup(FONTS_JS),
        diagrams_js=Markup(DIAGRAMS_JS),
        lang=page_language(deck),
        title=page_title(deck),
        author=deck.author,
        description=deck.description,
        head=Markup(no_end_tag(head, "style")),
        slides=Markup(_SLIDES),
        mermaid_js=Markup(mermaid_js()) if uses_mermaid and standalone else None,
        mermaid_url=mermaid_url() if uses_mermaid and not standalone else None,
        fitting_js=Markup(fitting_js()) if uses_fitting else None,
        viewer_js=Markup(flow_js() if flowing else viewer_js()),
        document_layout=flowing,
        destinations=Markup(destinations(fragments) if flowing else ""),
    )
    # (The last one: a theme's CSS, above, could hold the same text; nothing below does.)
    before, _, after = page.rpartition(_SLIDES)
    return "".join([before, *fragments, after])


_SLIDES = "<!--sheets:slides-->"
"""Where `document` puts the slides into the rendered template."""
