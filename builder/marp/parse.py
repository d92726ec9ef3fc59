"""parse: a sheet in the Marp dialect → a `Deck` of slides, with every Marp feature resolved.

This is the only stage that reads Markdown. It follows Marp CLI 4 (marp-core 4, marpit 3),
checked against Marp CLI's own output (tests/marp_structure.py, tests/fixtures/):

- markdown-it configured as Marp's (`builder.marp.markdown.markdown()`: `commonmark`,
  `breaks`, `html`, tables, strikethrough, linkify without fuzzy links), plus Marp's own
  rules: HTML comments and `<style>` as hidden tokens, and marp-core's math (`$…$`
  inline; `$$…$$` blocks that may interrupt a paragraph or a list, so a `$$` line under a
  `- ` item leaves the list, as in Marp; `$$` inside a line is plain text).
- slides split at top-level `hr` (`---`, `***`, `___`) and, with `headingDivider`, before
  the chosen headings, nested ones included (marpit `heading_divider.js`: only once
  something visible precedes, so directive comments before the first heading give no
  empty slide, while `---` right before a divided heading does).
- directives from front matter and from comments whose whole body is YAML (marpit's
  "loose YAML": `header: a: b` works), with marpit's rules: global ones for the whole deck
  (last wins), local ones from their slide on, spot (`_x`) ones on their slide only.
  Other comments are presenter notes (annotations such as `check:` are among them).
- image keywords (`w:`, `height:`, filters) become `style` on the `img` token; `![bg]`
  images leave the tokens for `Slide.backgrounds`; paragraphs left empty are dropped;
  raw HTML is cut down to Marp CLI's default allowlist (`sanitize_html`).
- what later stages read of a slide's content as plain data: its headings (`Heading`,
  one `heading_text` rule), display math, code blocks, images, whether it has a diagram.

Later stages get plain frozen data and never look at Markdown again (the renderer alone
reads `Slide.tokens`). Unusable input raises `BuildError` (file:line); doubtful input
gives `Deck.diagnostics` warnings.

The steps, one module each: `markdown` (the parser), `directives` (front matter, global,
local and spot directives), `display_math` (unclosed `$$`), `slides` (the split and each
slide), `images` (image keywords, backgrounds), `content` (plain data of a slide),
`raw_html` (Marp's allowlist), `deck` (the types).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any

from markdown_it.token import Token

from builder.marp.deck import Deck, Slide
from builder.marp.directives import find_comments, global_directives, read_front_matter
from builder.marp.display_math import check_display_math
from builder.marp.markdown import markdown
from builder.marp.slides import build_slides, mark_fitting_headings, split_slides
from builder.marp.source import SheetSource
from builder.model import BuildError, Diagnostic, SourceLoc

__all__ = ["assemble_deck", "check_unclosed", "divided_levels", "parse_file", "parse_text",
           "paused_collection", "read_sheet"]


@contextmanager
def paused_collection() -> Iterator[None]:
    """Python's cycle collector held off while a sheet is parsed. Parsing makes tokens
    by the ten thousand, and so sets off collections, some of which walk every object
    the process holds: on a long sheet those passes cost more than the parse. What a
    parse leaves unreferenced is freed as usual (it makes no cycles); the collector
    resumes afterwards."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def parse_file(path: Path) -> Deck:
    """Read and parse a sheet (UTF-8, a BOM allowed)."""
    return parse_text(read_sheet(path), path)


def read_sheet(path: Path) -> str:
    """A sheet's text (UTF-8, a BOM allowed). A file that cannot be read is a
    `BuildError` too (no traceback for a typo in a path)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BuildError(None, f"{path}: no such file") from None
    except IsADirectoryError:
        raise BuildError(None, f"{path}: is a directory, not a sheet") from None
    except OSError as error:
        raise BuildError(None, f"{path}: cannot read: {error.strerror}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise BuildError(SourceLoc(path, line),
                         f"not UTF-8 text (byte 0x{data[error.start]:02x})") from None


def parse_text(text: str, path: Path) -> Deck:
    """Parse sheet text; `path` is only used in locations. Raises `BuildError` for
    unusable input (malformed front matter, an unclosed `<!--` or `<style>`)."""
    with paused_collection():
        return _parse_text(text, path)


def _parse_text(text: str, path: Path) -> Deck:
    source = SheetSource(text, path)
    tokens = markdown().parse(source.text, {})
    front_matter = read_front_matter(source, tokens)
    mark_fitting_headings(tokens)
    comments = find_comments(tokens)
    check_display_math(source, tokens)
    check_unclosed(source, tokens)
    globals_, global_locs = global_directives(source, front_matter, comments)
    levels = divided_levels(globals_.get("headingDivider", False))
    slides = build_slides(source, split_slides(tokens, levels), front_matter, comments)
    styles = [token.content for token in tokens if token.type == "marp_style"
              and not token.meta.get("scoped") and token.content]
    return assemble_deck(path, slides, globals_, global_locs, styles,
                         sorted(source.diagnostics, key=lambda d: d.loc.line))


def assemble_deck(path: Path, slides: tuple[Slide, ...], globals_: Mapping[str, Any],
                  global_locs: Mapping[str, SourceLoc], styles: Sequence[str],
                  diagnostics: Sequence[Diagnostic]) -> Deck:
    """The `Deck` of parsed slides, the global directives in force, the unscoped
    `<style>`s in order and the warnings (sorted)."""
    global_css = [globals_["style"]] if globals_.get("style") else []
    global_css.extend(styles)
    return Deck(
        path=path,
        slides=slides,
        theme=globals_.get("theme"),
        style=globals_.get("style"),
        size=globals_.get("size"),
        math=globals_.get("math"),
        title=globals_.get("title"),
        author=globals_.get("author"),
        description=globals_.get("description"),
        keywords=globals_.get("keywords"),
        url=globals_.get("url"),
        image=globals_.get("image"),
        lang=globals_.get("lang"),
        heading_divider=divided_levels(globals_.get("headingDivider", False)),
        global_css="\n\n".join(global_css),
        page_total=slides[-1].page if slides else 0,
        directives=MappingProxyType(dict(globals_)),
        directive_locs=MappingProxyType(dict(global_locs)),
        diagnostics=tuple(diagnostics),
    )


_UNCLOSED = {
    "marp_comment": "comment `<!--` is not closed by `-->`",
    "marp_style": "`<style>` is not closed by `</style>`",
}


def check_unclosed(source: SheetSource, tokens: Sequence[Token]) -> None:
    """An unclosed comment or `<style>`: Marp lets it run to the end of the sheet, hiding
    or mangling everything after it: unusable. Inside a list it only runs to the list's
    end: a warning."""
    for token in tokens:
        if token.type in _UNCLOSED and not token.meta.get("closed", True) and token.map:
            if token.map[1] >= len(source.lines) - (source.lines[-1] == ""):
                raise BuildError(source.loc(token.map[0]), _UNCLOSED[token.type])
            source.warn(token.map[0], f"{_UNCLOSED[token.type]} (Marp ends it at line "
                                      f"{token.map[1]}, where its list ends)")


def divided_levels(divider: Any) -> tuple[int, ...]:
    """The heading levels that start a slide, from the resolved `headingDivider`."""
    if isinstance(divider, int) and not isinstance(divider, bool):
        return tuple(range(1, divider + 1))
    if isinstance(divider, tuple):
        return divider
    return ()
