"""marp: the Marp dialect of Markdown read into slides (markdown-it set-up, directives,
themes). The stage's public API: `parse_file` / `parse_text` give a `Deck` of `Slide`s
whose content later stages read as plain data (`Heading`, `CodeBlock`, ...); the
renderer alone reads `Slide.tokens`, with `markdown()`'s options; themes are loaded
and their CSS transformed here."""

from builder.marp.content import heading_text, slug_text
from builder.marp.deck import (
    NOT_SLIDE_LOOK,
    Background,
    CodeBlock,
    Comment,
    Deck,
    Heading,
    Slide,
)
from builder.marp.directives import ANNOTATIONS, GLOBAL_DIRECTIVES, LOCAL_DIRECTIVES
from builder.marp.incremental import (
    Unparsed,
    is_unparsed,
    load_parse,
    parse_kept,
    parsed_in_full,
    reparse,
    save_parse,
    slug_texts,
)
from builder.marp.layout import LAYOUTS, Layout, document_parts, sheet_layout
from builder.marp.markdown import markdown
from builder.marp.parse import parse_file, parse_text, read_sheet
from builder.marp.raw_html import HTML_ALLOWLIST, sanitize_html
from builder.marp.themes import (
    CONTAINER,
    Theme,
    ThemeSet,
    load_themes,
    pack_css,
    scope_css,
    section_padding_right,
    transform_css,
)

__all__ = [
    "ANNOTATIONS",
    "CONTAINER",
    "GLOBAL_DIRECTIVES",
    "HTML_ALLOWLIST",
    "LAYOUTS",
    "LOCAL_DIRECTIVES",
    "NOT_SLIDE_LOOK",
    "Background",
    "CodeBlock",
    "Comment",
    "Deck",
    "Heading",
    "Layout",
    "Slide",
    "Theme",
    "ThemeSet",
    "Unparsed",
    "document_parts",
    "heading_text",
    "is_unparsed",
    "load_parse",
    "load_themes",
    "markdown",
    "pack_css",
    "parse_file",
    "parse_kept",
    "parse_text",
    "parsed_in_full",
    "read_sheet",
    "reparse",
    "sanitize_html",
    "save_parse",
    "scope_css",
    "section_padding_right",
    "sheet_layout",
    "slug_text",
    "slug_texts",
    "transform_css",
]
