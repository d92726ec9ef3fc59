"""The parsed deck as plain frozen data: what `builder.marp.parse` gives later stages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from markdown_it.token import Token

from builder.model import Diagnostic, Equation, SourceLoc

__all__ = ["NOT_SLIDE_LOOK", "Background", "CodeBlock", "Comment", "Deck", "Heading", "Slide"]


@dataclass(frozen=True, slots=True)
class Heading:
    """A heading of a slide, as plain data (any level, also one inside a list or a quote)."""

    level: int
    """1 for `#` … 6 for `######`."""
    text: str
    """What a reader sees of it, inline math kept as its TeX between `$` (`Softmax
    $\\sigma(z)$`): what a card is called. From `heading_text`."""
    plain: str
    """The same with the TeX of math bare (`Softmax \\sigma(z)`), for what shows no math:
    a PDF bookmark, a window title."""
    loc: SourceLoc


@dataclass(frozen=True, slots=True)
class CodeBlock:
    """A fenced code block of a slide (```` ```python ````)."""

    language: str
    """The first word of the fence's info string (`mermaid`, `python`), "" without one."""
    text: str
    loc: SourceLoc

@dataclass(frozen=True, slots=True)
class Comment:
    """An HTML comment of the slide (removed from `Slide.tokens`)."""

    loc: SourceLoc
    text: str
    """The body between `<!--` and `-->`, stripped."""
    fields: Mapping[str, Any] | None
    """The body parsed as YAML when it is a mapping (`check: a.b` → `{"check": "a.b"}`)."""
    directive: bool
    """True when Marp took it as directives (so it is not a presenter note)."""


@dataclass(frozen=True, slots=True)
class Background:
    """An `![bg …](src)` image of a slide (marpit `background_image/parse.js`)."""

    src: str
    alt: str
    """The alt text words that were not Marp keywords."""
    size: str | None
    """The CSS `background-size` as marpit computes it: `contain` (`fit`), `cover`,
    `auto`, a percentage, `<w> <h>` from `w:`/`h:`; None for the default (cover)."""
    split: str | None
    """`left` / `right` for a split background, else None."""
    split_size: str | None
    direction: str | None
    """`vertical` / `horizontal` when given."""
    width: str | None
    height: str | None
    filters: tuple[tuple[str, str], ...]
    loc: SourceLoc


@dataclass(frozen=True, slots=True)
class Slide:
    """One Marp slide (a `<section>`): its tokens, for the renderer, its resolved
    directives, and what later stages read of its content as plain data (`headings`,
    `equations`, `code_blocks`, `images`, `has_diagram`), so that none walks tokens."""

    index: int
    """0-based position in the deck."""
    loc: SourceLoc
    """The first line of the slide's content (its break line when it is empty)."""
    source: str
    """The slide's raw Markdown, from after its break to the next one."""
    tokens: tuple[Token, ...]
    """markdown-it tokens of the body (render them with `markdown()`'s options), Marp
    syntax resolved:
    - comments and `<style>` gone (see `comments`, `notes`, `scoped_css`);
    - `![bg]` images gone (see `backgrounds`); other images with marpit's `style`
      (sizes, filters), keywords removed from the alt text, `meta["line"]` their line;
    - `heading_open` with `meta["fit"]` for marp-core's `# <!-- fit --> Title`;
    - raw HTML (`html_block`, `html_inline`) cut down in `content` to what Marp CLI
      outputs by default, the original in `meta["raw"]`;
    - math as `math_inline` / `math_block` tokens: `content` is the LaTeX as marp-core
      hands it to MathJax, `meta["tex"]` the text between the delimiters verbatim,
      `map` the lines of the `$$` block."""
    directives: Mapping[str, str]
    """Local and spot directives in force on this slide, Marp-spelled (`backgroundColor`)
    with Marp's values: what marpit writes as `data-*` attributes."""
    classes: tuple[str, ...]
    paginate: bool
    """Whether the page number is shown (`paginate: true` or `hold`)."""
    page: int
    """The page number (not incremented on `paginate: skip`/`hold` slides)."""
    header: str | None
    footer: str | None
    header_tokens: tuple[Token, ...]
    """`header` parsed as inline Markdown (one `inline` token), empty without a header."""
    footer_tokens: tuple[Token, ...]
    background_color: str | None
    background_image: str | None
    background_position: str | None
    background_repeat: str | None
    background_size: str | None
    color: str | None
    scoped_css: tuple[str, ...]
    """Bodies of `<style scoped>` on this slide, unscoped CSS (render scopes it)."""
    notes: tuple[str, ...]
    """Presenter notes: comments that are not directives."""
    comments: tuple[Comment, ...]
    """Every comment on the slide, notes and directives, with its line."""
    backgrounds: tuple[Background, ...]
    end_line: int
    """The last line of the slide's source (1-based, inclusive)."""
    headings: tuple[Heading, ...]
    """Every heading of the body, in order."""
    equations: tuple[Equation, ...]
    """Every display math block (`$$…$$`) of the body, in order, its TeX verbatim."""
    code_blocks: tuple[CodeBlock, ...]
    """Every fenced code block of the body, in order."""
    images: tuple[str, ...]
    """The `src` of every image of the body (`![](src)`, not the `![bg]` ones), in order."""
    has_diagram: bool
    """Whether the slide draws a mermaid diagram: a ```` ```mermaid ```` fence, or raw
    HTML `<div class="mermaid">` (as seed 001 writes them)."""
    inline_math: tuple[Equation, ...] = ()
    """Every inline math span (`$…$`) of the body, in order, each at its own line: prose
    that defines a name (`Let $\\alpha_t = 1 - \\beta_t$.`) for the cards after it."""


    @property
    def title(self) -> Heading | None:
        """The slide's title: its first heading, None when it has none."""
        return self.headings[0] if self.headings else None


NOT_SLIDE_LOOK = frozenset({"tokens", "header_tokens", "footer_tokens", "loc", "comments",
                            "end_line", "headings", "equations", "inline_math", "code_blocks",
                            "images", "has_diagram"})
"""The `Slide` fields that do not change how it looks (the caches of its HTML leave them
out of its key): where things are in the file (lines shift with every edit above them),
and tokens and what is read from them, which are parsed from `source`, `header` and
`footer`."""


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Deck:
    """A parsed sheet."""

    path: Path
    slides: tuple[Slide, ...]
    theme: str | None = None
    style: str | None = None
    """The front-matter / global `style` directive."""
    size: str | None = None
    math: str | None = None
    """`mathjax` or `katex` when the directive says so (Marp's default is MathJax)."""
    title: str | None = None
    author: str | None = None
    description: str | None = None
    keywords: str | None = None
    url: str | None = None
    image: str | None = None
    lang: str | None = None
    heading_divider: tuple[int, ...] = ()
    """Heading levels that start a new slide (`headingDivider: 2` → (1, 2))."""
    global_css: str = ""
    """The `style` directive and every unscoped `<style>`, in order, joined."""
    page_total: int = 0
    """The last page number (marpit's `data-marpit-pagination-total`)."""
    directives: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """Global directives as resolved by Marp, Marp-spelled."""
    directive_locs: Mapping[str, SourceLoc] = field(
        default_factory=lambda: MappingProxyType({}))
    """Where each global directive was (last) set, for messages such as a missing theme."""
    diagnostics: tuple[Diagnostic, ...] = ()

