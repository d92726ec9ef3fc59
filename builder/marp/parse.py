"""parse: a sheet in the Marp dialect → a `Deck` of slides, with every Marp feature resolved.

This is the only stage that reads Markdown. It follows Marp CLI 4 (marp-core 4, marpit 3),
checked against Marp CLI's own output (tests/marp_structure.py, tests/fixtures/):

- markdown-it configured as Marp's (`builder.marp_markdown.markdown()`: `commonmark`,
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

Later stages get plain frozen data and never look at Markdown again. Unusable input
raises `BuildError` (file:line); doubtful input gives `Deck.diagnostics` warnings.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from markdown_it.token import Token

from builder.marp.markdown import (
    HTML_ALLOWLIST,
    cannot_be_latex,
    is_one_line_equation,
    markdown,
    sanitize_html,
)
from builder.model import BuildError, Diagnostic, SourceLoc

__all__ = [
    "ANNOTATIONS",
    "GLOBAL_DIRECTIVES",
    "HTML_ALLOWLIST",
    "LOCAL_DIRECTIVES",
    "Background",
    "Comment",
    "Deck",
    "Slide",
    "markdown",
    "parse_file",
    "parse_text",
    "sanitize_html",
]

# marpit `directives.js` + marp-core (`math`, `size`) + Marp CLI's metadata directives.
GLOBAL_DIRECTIVES = frozenset({
    "headingDivider", "style", "theme", "lang", "math", "size",
    "title", "author", "description", "keywords", "url", "image",
})
_MARPIT_GLOBALS = frozenset({"headingDivider", "style", "theme", "lang"})
LOCAL_DIRECTIVES = frozenset({
    "backgroundColor", "backgroundImage", "backgroundPosition", "backgroundRepeat",
    "backgroundSize", "class", "color", "footer", "header", "paginate",
})
# Keys of our own annotation comments (cards.py): never reported as unknown directives.
ANNOTATIONS = frozenset({"check", "assume", "nocheck", "let"})
# Front-matter keys that Marp tools read but that are not directives.
_FRONT_MATTER_EXTRAS = frozenset({"marp"})
# marpit `comment.js`: comments that tools write for themselves are not presenter notes.
_MAGIC_COMMENTS = (
    re.compile(r"^prettier-ignore(-(start|end))?$"),
    re.compile(r"^markdownlint-((disable|enable).*|capture|restore)$"),
    re.compile(r"^lint (disable|enable|ignore).*$"),
)


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
    """One Marp slide (a `<section>`): its tokens and its resolved directives."""

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


@dataclass(frozen=True, slots=True)
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


def parse_file(path: Path) -> Deck:
    """Read and parse a sheet (UTF-8, a BOM allowed). A file that cannot be read is a
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
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise BuildError(SourceLoc(path, line),
                         f"not UTF-8 text (byte 0x{data[error.start]:02x})") from None
    return parse_text(text, path)


def parse_text(text: str, path: Path) -> Deck:
    """Parse sheet text; `path` is only used in locations. Raises `BuildError` for
    unusable input (malformed front matter, an unclosed `<!--` or `<style>`)."""
    return _DeckParser(text, path).parse()


# --------------------------------------------------------------------------- YAML

_YAML_SPECIAL = "[\"'{|>~&*"


# Marp CLI adds its metadata directives as plain (enumerable) properties, so marpit's
# loose parsing covers them in the front matter; marp-core defines `math` and `size`
# non-enumerable, so they are never loose (`math: mathjax # comment` stays YAML).
_CLI_METADATA = frozenset({"author", "description", "image", "keywords", "title", "url"})


@cache
def _loose_matcher(front_matter: bool) -> re.Pattern[str]:
    names = _MARPIT_GLOBALS | LOCAL_DIRECTIVES | (_CLI_METADATA if front_matter else set())
    keys = "|".join(re.escape(key) for key in sorted(names))
    key = f"_?(?:{keys})"
    return re.compile(rf"^((?:{key}|\"{key}\"|'{key}')\s*:)(.+)$")


def _loosen(text: str, *, front_matter: bool = False) -> str:
    """marpit `yaml.js` `convertLoose`: quote directive values that plain YAML would
    misread (`header: a: b`, `footer: #1`)."""
    matcher = _loose_matcher(front_matter)

    def quote(match: re.Match[str]) -> str:
        prop, value = match.group(1), match.group(2)
        trimmed = value.strip()
        if not trimmed or trimmed[0] in _YAML_SPECIAL:
            return match.group(0)
        spaces = value[:len(value) - len(value.lstrip())]
        escaped = trimmed.replace('"', '\\"')
        return f'{prop}{spaces}"{escaped}"'

    return "\n".join(matcher.sub(quote, line) for line in re.split(r"\r?\n", text)).strip()


class _NoDuplicateKeys:
    """js-yaml refuses a mapping with a key twice (so Marp drops the whole front matter or
    comment); PyYAML would keep the last value. Mixed into a BaseLoader."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else id(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicated key {key!r}", key_node.start_mark)
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep)  # type: ignore[misc]
        return mapping


_LIBYAML_BASE_LOADER: Any = getattr(yaml, "CBaseLoader", yaml.BaseLoader)


class _FastLoader(_NoDuplicateKeys, _LIBYAML_BASE_LOADER):  # type: ignore[misc]
    """Every scalar a string, as js-yaml's FAILSAFE_SCHEMA that marpit uses; libyaml's
    parser when there is one."""


class _PlainLoader(_NoDuplicateKeys, yaml.BaseLoader):
    """The same in pure Python: its error messages do not depend on libyaml."""


def _load_yaml(text: str) -> Any:
    """Raises yaml.YAMLError."""
    return yaml.load(text, Loader=_FastLoader)


def _directive_fields(text: str) -> dict[str, Any] | None:
    """A comment body as a YAML mapping, or None (marpit `yaml()` returning false)."""
    if ":" not in text:
        return None
    try:
        value = _load_yaml(_loosen(text))
    except yaml.YAMLError:
        return None
    return value if isinstance(value, dict) else None


_DIRECTIVE_LINE = re.compile(
    rf"^\s*_?({'|'.join(sorted(GLOBAL_DIRECTIVES | LOCAL_DIRECTIVES))})\s*:", re.MULTILINE)


def _broken_directives(text: str) -> str | None:
    """Why a comment that reads like directives is no YAML (Marp then shows it as a
    presenter note and applies nothing), or None."""
    if not _DIRECTIVE_LINE.search(text):
        return None
    try:
        yaml.load(_loosen(text), Loader=_PlainLoader)
    except yaml.MarkedYAMLError as error:
        return str(error.problem)
    except yaml.YAMLError as error:
        return str(error)
    return None


# --------------------------------------------------------------------------- directives

def _global_value(key: str, value: Any) -> Any:
    """marpit/marp-core global directive normalisation; None = ignored by Marp."""
    if key == "headingDivider":
        if isinstance(value, list):
            wanted = {_int_prefix(item) for item in value}
            return tuple(level for level in range(1, 7) if level in wanted)
        if value == "false":
            return False
        level = _int_prefix(value)
        return level if level is not None and 1 <= level <= 6 else None
    if key == "math":
        return value if value in ("mathjax", "katex") else None
    if key == "keywords" and isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return value if isinstance(value, str) else None


def _int_prefix(value: Any) -> int | None:
    """JavaScript's parseInt(value, 10) for the few forms YAML can give."""
    match = re.match(r"\s*([+-]?\d+)", value) if isinstance(value, str) else None
    return int(match.group(1)) if match else None


def _local_value(key: str, value: Any) -> str | None:
    """marpit local directive normalisation; None = ignored by Marp."""
    if key == "class":
        if isinstance(value, list):
            return " ".join(str(item) for item in value)
        return value if isinstance(value, str) else None
    if key == "paginate":
        normalized = value.lower() if isinstance(value, str) else ""
        return normalized if normalized in ("hold", "skip") else str(normalized == "true").lower()
    return value if isinstance(value, str) else None


_KNOWN_KEYS = sorted(GLOBAL_DIRECTIVES | LOCAL_DIRECTIVES | {f"_{k}" for k in LOCAL_DIRECTIVES})


def _suggestion(key: str) -> str:
    close = difflib.get_close_matches(key, _KNOWN_KEYS, n=1, cutoff=0.75)
    lowered = [known for known in _KNOWN_KEYS if known.lower() == key.lower()]
    best = lowered or close
    return f" (did you mean {best[0]!r}?)" if best else ""


# --------------------------------------------------------------------------- images

_LENGTH = r"((?:\d*\.)?\d+(?:%|ch|cm|em|ex|in|mm|pc|pt|px)?|auto)"
_IMAGE_OPTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(\d*\.)?\d+%$"), "size"),
    (re.compile(rf"^w(?:idth)?:{_LENGTH}$"), "width"),
    (re.compile(rf"^h(?:eight)?:{_LENGTH}$"), "height"),
)
_FILTER_DEFAULTS = {
    "blur": "10px", "brightness": "1.5", "contrast": "2", "grayscale": "1",
    "hue-rotate": "180deg", "invert": "1", "opacity": ".5", "saturate": "2", "sepia": "1",
}
_BG_SIZES = {"auto": "auto", "contain": "contain", "cover": "cover", "fit": "contain"}
_SPLIT = re.compile(r"^(left|right)(?::((?:\d*\.)?\d+%))?$")


def _css_escape(value: str) -> str:
    return re.sub(r"[\\;:()]", lambda m: f"\\{ord(m.group(0)):x} ", value)


def _length(value: str) -> str:
    return value + "px" if re.fullmatch(r"(\d*\.)?\d+", value) else value


@dataclass(slots=True)
class _ImageOptions:
    words: list[str]
    size: str | None = None
    width: str | None = None
    height: str | None = None
    filters: list[tuple[str, str]] = field(default_factory=list)
    background: bool = False
    bg_size: str | None = None
    split: str | None = None
    split_size: str | None = None
    direction: str | None = None


def _image_options(alt: str) -> _ImageOptions:
    """marpit `image/parse.js` + `background_image/parse.js` keywords of an alt text."""
    options = _ImageOptions(words=[])
    words = alt.split()
    rest: list[str] = []
    for word in words:
        consumed = False
        for pattern, name in _IMAGE_OPTIONS:
            match = pattern.match(word)
            if match:
                value = match.group(0) if name == "size" else _length(match.group(1))
                setattr(options, name, value)
                consumed = True
                break
        if not consumed:
            name, _, argument = word.partition(":")
            if name in _FILTER_DEFAULTS:
                options.filters.append((name, _css_escape(argument or _FILTER_DEFAULTS[name])))
                consumed = True
            elif name == "drop-shadow":
                args = [_css_escape(a) for a in argument.split(",") if a] if argument else []
                options.filters.append(("drop-shadow",
                                        " ".join(args) or "0 5px 10px rgba(0,0,0,.4)"))
                consumed = True
        if not consumed:
            rest.append(word)
    if "bg" in rest:
        options.background = True
        kept = []
        for word in rest:
            split = _SPLIT.match(word)
            if word == "bg":
                continue
            if word in _BG_SIZES:
                options.bg_size = _BG_SIZES[word]
            elif split:
                options.split, options.split_size = split.group(1), split.group(2)
            elif word in ("vertical", "horizontal"):
                options.direction = word
            else:
                kept.append(word)
        rest = kept
    options.words = rest
    return options


# --------------------------------------------------------------------------- the deck

_UNCLOSED = {
    "marp_comment": "comment `<!--` is not closed by `-->`",
    "marp_style": "`<style>` is not closed by `</style>`",
}


@dataclass(frozen=True, slots=True)
class _MathBlock:
    """A display block as Marp's rule pairs `$$` lines (0-based lines)."""

    start: int
    end: int
    """Its closing line, or the last line of the sheet when it is not closed."""
    closed: bool
    markdown_lines: int
    """Lines inside that `cannot_be_latex`."""
    blank_lines: int
    """Those of them that are blank (some writers space out `align` rows so)."""
    merged: int
    """Lines inside that start with `$$`, and a one-line `$$…$$` that closes it: the
    next equation run into this one."""
    empty: bool
    first_odd: int | None
    """The first line of those three kinds, where a closing `$$` may be missing."""


# List item and quote marks before a line's content (`- $$x$$` is an equation in a list).
_CONTAINER_MARKS = re.compile(r"^(?:(?:[-*+]|\d{1,9}[.)])[ \t]+|>[ \t]?)*")


def _pair_display_math(lines: Sequence[str], first: int,
                       closers: frozenset[int] = frozenset()) -> tuple[list[_MathBlock], list[int]]:
    """Marp's pairing of `$$` lines from line `first`, line by line, with a closing
    `$$` imagined before each line in `closers`: a line starting with `$$` opens a
    block (closed on the same line when it also ends with `$$`), the next line ending
    with `$$` closes it. Code fences and comments outside math are skipped; lists and
    quotes are not followed (a close enough picture to compare readings with). Also
    returns the lines outside math that end with a closing `$$` of their own."""
    blocks: list[_MathBlock] = []
    orphans: list[int] = []
    fence = ""
    in_comment = False
    index = first
    while index < len(lines):
        line = _CONTAINER_MARKS.sub("", lines[index].strip())
        index += 1
        if fence:
            if line.startswith(fence) and not line.strip(fence[0]):
                fence = ""
        elif in_comment:
            in_comment = "-->" not in line
        elif line.startswith(("```", "~~~")):
            fence = line[:len(line) - len(line.lstrip(line[0]))]
        elif line.startswith("<!--"):
            in_comment = "-->" not in line[4:]
        elif line.startswith("$$"):
            rest = line[2:].strip()
            if rest.endswith("$$"):
                blocks.append(_MathBlock(index - 1, index - 1, True, 0, 0, 0,
                                         not rest[:-2].strip(), None))
                continue
            start, end, closed, empty = index - 1, len(lines) - 1, False, not rest
            odd = blank = merged = 0
            first_odd: int | None = None
            while index < len(lines):
                if index in closers:  # an imagined `$$` before this line
                    closed, end = True, index - 1
                    break
                inner = lines[index].strip()
                index += 1
                if inner.endswith("$$"):
                    closed, end = True, index - 1
                    empty = empty and not inner[:-2].strip()
                    if is_one_line_equation(_CONTAINER_MARKS.sub("", inner)):
                        merged += 1
                        first_odd = index - 1 if first_odd is None else first_odd
                    break
                if _CONTAINER_MARKS.sub("", inner).startswith("$$"):
                    merged += 1
                elif cannot_be_latex(inner):
                    odd += 1
                    blank += not inner
                else:
                    empty = False
                    continue
                first_odd = index - 1 if first_odd is None else first_odd
            blocks.append(_MathBlock(start, end, closed, odd, blank, merged, empty, first_odd))
        elif line.endswith("$$"):
            orphans.append(index - 1)
    return blocks, orphans


_Pairing = tuple[list[_MathBlock], list[int]]


def _misreading(pairing: _Pairing) -> int:
    """How badly a pairing reads the sheet: `_first_problem`'s signs, and each blank line
    inside math, the faintest sign (some writers space out `align` rows with them)."""
    blocks, orphans = pairing
    return 20 * len(orphans) + sum(
        20 * (not block.closed) + 5 * (block.markdown_lines - block.blank_lines + block.merged)
        + block.blank_lines + 2 * block.empty for block in blocks)


def _first_problem(pairing: _Pairing, past: AbstractSet[int] = frozenset()) -> int:
    """The first line where a pairing surely misreads the sheet, other than those `past`
    (-1 when there is none): a `$$` that closes nothing, math that never ends, or that
    holds a heading, a slide break, a fence or another equation's `$$`."""
    blocks, orphans = pairing
    lines = [block.start for block in blocks if not block.closed
             or block.markdown_lines > block.blank_lines or block.merged]
    return min((line for line in (*lines, *orphans) if line not in past), default=-1)


def _missing_closers(lines: Sequence[str], first: int) -> list[int]:
    """The opening lines of the equations whose closing `$$` was forgotten.

    A missing `$$` shows as Markdown inside math (a blank line, a heading, a slide
    break), as two equations run into one, or as math that never ends; but where it
    shows is not where it is: Marp takes the next equation's opening `$$` as the
    closing one, and that equation's closing `$$` opens a block in turn. So the
    equations just before the first sure sign (`_first_problem`) are tried in turn with
    a closing `$$` imagined before their first odd line (or before their closing `$$`,
    which then opens the next equation as meant). The mistake is the one whose mending
    leaves the sheet read well the furthest (then: read best, then: nearest the sign);
    then the same again for the next sign (a sign that no `$$` mends is passed over).
    Blank lines alone are no sure sign: an equation spaced out with them, closed where
    the writer meant, gets no warning."""
    closers: set[int] = set()
    found: list[int] = []
    unmended: set[int] = set()
    pairing = _pair_display_math(lines, first)
    problem = _first_problem(pairing)
    for _ in range(16):  # a bound for pathological sheets; one round per sign
        if problem < 0:
            break
        blocks = pairing[0]
        sign = max((number for number, block in enumerate(blocks) if block.start <= problem),
                   default=0)
        best: tuple[float, int, int, int, int, _Pairing] | None = None
        for number in range(max(sign - 3, 0), sign + 1):
            block = blocks[number]
            if block.first_odd is not None:
                at = block.first_odd
            elif block.closed and block.end > block.start:
                at = block.end
            else:
                continue
            trial = _pair_display_math(lines, first, frozenset({*closers, at}))
            reached = _first_problem(trial, unmended)
            candidate = (-(reached if reached >= 0 else math.inf), _misreading(trial),
                         sign - number, block.start, at, trial)
            if best is None or candidate[:3] < best[:3]:
                best = candidate
        if best is None or -best[0] <= problem:
            unmended.add(problem)
        else:
            _, _, _, opener, at, pairing = best
            closers.add(at)
            found.append(opener)
        problem = _first_problem(pairing, unmended)
    return found


@dataclass(slots=True)
class _RawSlide:
    start_line: int  # 0-based first line of the slide's source
    tokens: list[Token]


class _DeckParser:
    """One parse of one text: holds the text and what has been found so far."""

    def __init__(self, text: str, path: Path) -> None:
        self.text = text.replace("\r\n", "\n").replace("\r", "\n")
        self.path = path
        self.lines = self.text.split("\n")
        self.diagnostics: list[Diagnostic] = []

    def loc(self, line0: int) -> SourceLoc:
        return SourceLoc(self.path, line0 + 1)

    def warn(self, line0: int, message: str) -> None:
        self.diagnostics.append(Diagnostic(self.loc(line0), message))

    # ---- steps

    def parse(self) -> Deck:
        md = markdown()
        tokens = md.parse(self.text, {})
        front_matter = self._front_matter(tokens)
        _mark_fitting_headings(tokens)
        comments = self._comments(tokens)
        self._check_display_math(tokens)
        for token in tokens:
            if token.type in _UNCLOSED and not token.meta.get("closed", True) and token.map:
                # Marp lets it run to the end of the sheet, hiding or mangling everything
                # after it: unusable. Inside a list it only runs to the list's end.
                if token.map[1] >= len(self.lines) - (self.lines[-1] == ""):
                    raise BuildError(self.loc(token.map[0]), _UNCLOSED[token.type])
                self.warn(token.map[0], f"{_UNCLOSED[token.type]} (Marp ends it at line "
                                        f"{token.map[1]}, where its list ends)")
        globals_, global_locs = self._globals(front_matter, comments)
        divider = globals_.get("headingDivider", False)
        levels: tuple[int, ...] = ()
        if isinstance(divider, int) and not isinstance(divider, bool):
            levels = tuple(range(1, divider + 1))
        elif isinstance(divider, tuple):
            levels = divider
        raw_slides = self._split(tokens, levels, front_matter)
        slides = self._slides(raw_slides, front_matter, comments)
        global_css = [globals_["style"]] if globals_.get("style") else []
        for token in tokens:
            if token.type == "marp_style" and not token.meta.get("scoped") and token.content:
                global_css.append(token.content)
        return Deck(
            path=self.path,
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
            heading_divider=levels,
            global_css="\n\n".join(global_css),
            page_total=slides[-1].page if slides else 0,
            directives=MappingProxyType(dict(globals_)),
            directive_locs=MappingProxyType(global_locs),
            diagnostics=tuple(sorted(self.diagnostics, key=lambda d: d.loc.line)),
        )

    def _check_display_math(self, tokens: Sequence[Token]) -> None:
        """One warning per `$$` that was meant to be closed and is not, at its own line.

        Marp ends a display block at the next line ending in `$$`, however far: a
        forgotten closing `$$` turns the text below into math up to the next equation's
        opening `$$`, whose closing `$$` then opens a block of its own, and so on, so
        that only the last `$$` of the sheet is left unclosed, far below the mistake (or
        none is, and the rest of the slide is silently math). `_missing_closers` finds
        where a closing `$$` was meant. The slides stay as Marp makes them."""
        blocks = {token.map[0]: token for token in tokens
                  if token.type == "math_block" and token.map}
        if all(token.meta["closed"] and not token.meta["suspect"] for token in blocks.values()):
            return  # the usual case: every equation ends where it should
        first = next((token.map[1] for token in tokens
                      if token.type == "front_matter" and token.map), 0)
        openers = _missing_closers(self.lines, first)
        for token in blocks.values():
            assert token.map is not None
            if not token.meta["closed"] and token.level > 0 and token.map[0] not in openers:
                openers.append(token.map[0])  # in a list or a quote: its end ends the math
        if not openers:  # no closing `$$` would mend it: say where Marp gives up
            openers = [line for line, token in blocks.items() if not token.meta["closed"]]
        for line in sorted(openers):
            opened = blocks.get(line)
            if opened is not None:
                extent = self._math_extent(opened, tokens)
            else:  # inside a block that an earlier mistake opened
                around = max((start for start, token in blocks.items()
                              if token.map and start < line < token.map[1]), default=None)
                extent = "" if around is None else \
                    f"Marp reads this line as math from the `$$` on line {around + 1}"
            self.warn(line, "display math `$$` opened here is never closed"
                            + (f" ({extent})" if extent else ""))

    def _math_extent(self, block: Token, tokens: Sequence[Token]) -> str:
        """How far Marp's math runs from an unclosed `$$`, for the warning."""
        assert block.map is not None
        last = block.map[1]  # 1-based: the line of the closing `$$`, or the block's last
        if block.meta["closed"]:
            return f"Marp ends it at the `$$` on line {last}"
        while last > block.map[0] + 1 and not self.lines[last - 1].strip():
            last -= 1
        index = tokens.index(block)
        container = next((token for token in reversed(tokens[:index])
                          if token.nesting == 1 and token.level < block.level), None)
        if container is None:
            return f"the math runs to the end of the sheet, line {last}"
        kind = "quote" if container.type == "blockquote_open" else "list"
        return f"the math runs to line {last}, where its {kind} ends"

    def _front_matter(self, tokens: list[Token]) -> tuple[dict[str, Any], int] | None:
        """The front matter as (mapping, first line), None without one."""
        if not tokens or tokens[0].type != "front_matter":
            if self.text.startswith("---"):
                # Marp's front-matter rule takes a sheet that starts with `---` and never
                # closes it as all front matter: one empty slide. Say why instead.
                raise BuildError(self.loc(0), "front matter is not closed by a `---` line "
                                 "(Marp would read the whole sheet as front matter)")
            return None
        token = tokens[0]
        assert token.map is not None
        try:
            value = _load_yaml(_loosen(token.content, front_matter=True))
        except yaml.YAMLError:
            raise self._front_matter_error(token.content, token.map[0] + 1) from None
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise BuildError(self.loc(token.map[0]),
                             "malformed front matter: expected `key: value` lines")
        for key in value:
            bare = key.removeprefix("_")
            if key in GLOBAL_DIRECTIVES or bare in LOCAL_DIRECTIVES \
                    or key in _FRONT_MATTER_EXTRAS:
                continue
            self.warn(self._key_line(token.map[0] + 1, token.map[1], key),
                      f"unknown directive {key!r}{_suggestion(key)}")
        return value, token.map[0]

    def _front_matter_error(self, content: str, first_line: int) -> BuildError:
        """The YAML error of a front matter at its line. Asks the pure-Python loader again
        so that the message does not depend on whether libyaml is installed."""
        try:
            yaml.load(_loosen(content, front_matter=True), Loader=_PlainLoader)
        except yaml.MarkedYAMLError as error:
            # The context ("while parsing a flow sequence") points at the line to fix; the
            # problem mark is often the end of the text.
            mark = error.context_mark or error.problem_mark
            line = first_line + (mark.line if mark is not None else 0)
            return BuildError(self.loc(line), f"malformed front matter: {error.problem}")
        except yaml.YAMLError as error:
            return BuildError(self.loc(first_line), f"malformed front matter: {error}")
        return BuildError(self.loc(first_line), "malformed front matter")

    def _key_line(self, first: int, end: int, key: str) -> int:
        for line in range(first, min(end, len(self.lines))):
            if re.match(rf"\s*['\"]?{re.escape(key)}['\"]?\s*:", self.lines[line]):
                return line
        return first

    def _comments(self, tokens: list[Token]) -> list[tuple[Token, int, dict[str, Any] | None]]:
        """Every comment token in document order with its 0-based line and YAML fields."""
        found: list[tuple[Token, int, dict[str, Any] | None]] = []
        for token in tokens:
            if token.type == "marp_comment" and token.map:
                found.append((token, token.map[0], _directive_fields(token.content)))
            elif token.type == "inline" and token.children and token.map:
                line = token.map[0]
                for child in token.children:
                    if child.type in ("softbreak", "hardbreak"):
                        line += 1
                    elif child.type == "marp_comment":
                        found.append((child, line, _directive_fields(child.content)))
                        line += child.markup.count("\n")
                    elif child.type == "text":
                        line += child.content.count("\n")
        return found

    def _globals(
        self,
        front_matter: tuple[dict[str, Any], int] | None,
        comments: Sequence[tuple[Token, int, dict[str, Any] | None]],
    ) -> tuple[dict[str, Any], dict[str, SourceLoc]]:
        """marpit `marpit_directives_global_parse`: the last value of each wins."""
        values: dict[str, Any] = {}
        locs: dict[str, SourceLoc] = {}

        def apply(fields: Mapping[str, Any], line: int, first: int, end: int) -> bool:
            recognized = False
            for key, raw in fields.items():
                if key not in GLOBAL_DIRECTIVES:
                    continue
                recognized = True
                value = _global_value(key, raw)
                key_line = self._key_line(first, end, key)
                if value is None:
                    self.warn(key_line, f"directive {key!r} ignored: unusable value {raw!r}")
                    continue
                values[key] = value
                locs[key] = self.loc(key_line)
            return recognized

        if front_matter is not None:
            front_fields, front_line = front_matter
            apply(front_fields, front_line, front_line + 1, front_line + 1 + len(self.lines))
        for token, line, fields in comments:
            if fields and apply(fields, line, line, line + 1 + token.markup.count("\n")):
                token.meta["directive"] = True
        return values, locs

    def _split(self, tokens: list[Token], levels: tuple[int, ...],
               front_matter: tuple[dict[str, Any], int] | None) -> list[_RawSlide]:
        """marpit `heading_divider.js` + `slide.js`: cut the token stream into slides."""
        heading_tags = {f"h{level}" for level in levels}
        first_line = 0
        if tokens and tokens[0].type == "front_matter" and tokens[0].map:
            first_line = tokens[0].map[1]
        slides = [_RawSlide(first_line, [])]
        seen_visible = False
        for token in tokens:
            if token.type == "hr" and token.level == 0:
                assert token.map is not None
                slides.append(_RawSlide(token.map[1], []))
                seen_visible = True
                continue
            # Any heading, also one inside a list or a quote, as marpit does.
            if token.type == "heading_open" and token.tag in heading_tags and seen_visible:
                assert token.map is not None
                slides.append(_RawSlide(token.map[0], []))
            if not _hidden(token):
                seen_visible = True
            slides[-1].tokens.append(token)
        for slide in slides:
            slide.tokens = _balanced(slide.tokens)
        return slides

    def _slides(
        self,
        raw_slides: list[_RawSlide],
        front_matter: tuple[dict[str, Any], int] | None,
        comments: Sequence[tuple[Token, int, dict[str, Any] | None]],
    ) -> tuple[Slide, ...]:
        """marpit `marpit_directives_parse` / `apply`, then each slide's own content."""
        comment_lines = {id(token): (line, fields) for token, line, fields in comments}
        local: dict[str, str] = {}
        spot: dict[str, str] = {}
        if front_matter is not None:
            front_fields, front_line = front_matter
            self._apply_locals(front_fields, local, spot, front_line + 1,
                               front_line + 1 + len(self.lines))
        header_cache: dict[str, tuple[Token, ...]] = {}
        slides: list[Slide] = []
        page = 0
        for index, raw in enumerate(raw_slides):
            slide_comments: list[Comment] = []
            for token in _walk(raw.tokens):
                if token.type != "marp_comment":
                    continue
                line, fields = comment_lines.get(id(token), (raw.start_line, None))
                recognized = bool(token.meta.get("directive"))
                end = line + 1 + token.markup.count("\n")
                if fields and self._apply_locals(fields, local, spot, line, end):
                    recognized = True
                if fields and recognized:
                    self._unknown_in_directives(fields, line, end)
                elif fields:
                    self._unknown_in_note(fields, line)
                elif (problem := _broken_directives(token.content)) is not None:
                    self.warn(line, f"comment not read as directives (Marp shows it as a "
                                    f"note): {problem}")
                magic = any(pattern.match(token.content) for pattern in _MAGIC_COMMENTS)
                slide_comments.append(Comment(
                    loc=self.loc(line), text=token.content,
                    fields=MappingProxyType(fields) if fields is not None else None,
                    directive=recognized or magic))
            directives = {**local, **spot}
            spot = {}
            paginate_value = directives.get("paginate", "false")
            if paginate_value not in ("skip", "hold"):
                page += 1
            shown = paginate_value in ("true", "hold")
            if shown and page <= 0:
                page = 1
            end_line = raw_slides[index + 1].start_line if index + 1 < len(raw_slides) \
                else len(self.lines)
            slides.append(self._slide(index, raw, end_line, directives, page, shown,
                                      tuple(slide_comments), header_cache))
        return tuple(slides)

    def _apply_locals(self, fields: Mapping[str, Any], local: dict[str, str],
                      spot: dict[str, str], first: int, end: int) -> bool:
        recognized = False
        for key, raw in fields.items():
            target, name = (spot, key[1:]) if key.startswith("_") else (local, key)
            if name not in LOCAL_DIRECTIVES:
                continue
            recognized = True
            value = _local_value(name, raw)
            if value is None:
                self.warn(self._key_line(first, end, key),
                          f"directive {key!r} ignored: unusable value {raw!r}")
                continue
            target[name] = value
        return recognized

    def _unknown_in_directives(self, fields: Mapping[str, Any], first: int, end: int) -> None:
        """Marp ignores the unknown keys of a directive comment: say so."""
        for key in fields:
            if key.removeprefix("_") not in LOCAL_DIRECTIVES and key not in GLOBAL_DIRECTIVES:
                self.warn(self._key_line(first, end, key),
                          f"unknown directive {key!r}{_suggestion(key)}")

    def _unknown_in_note(self, fields: Mapping[str, Any], line: int) -> None:
        """A comment that is no directive is a note; but `_heade: x` or `Paginate: true`
        is a misspelt directive that Marp silently shows as a note: warn."""
        for key in fields:
            if key in ANNOTATIONS:
                continue
            hint = _suggestion(key)
            if hint or key.startswith("_"):
                self.warn(line, f"unknown directive {key!r}{hint}")

    def _slide(self, index: int, raw: _RawSlide, end_line: int, directives: dict[str, str],
               page: int, paginate: bool, comments: tuple[Comment, ...],
               header_cache: dict[str, tuple[Token, ...]]) -> Slide:
        scoped: list[str] = []
        backgrounds: list[Background] = []
        body = self._clean(raw.tokens, scoped, backgrounds)
        loc_line = next((token.map[0] for token in raw.tokens
                         if token.map and token.type != "front_matter"), raw.start_line)
        source = "\n".join(self.lines[raw.start_line:end_line])
        if end_line < len(self.lines):
            source += "\n"

        def inline(value: str | None) -> tuple[Token, ...]:
            if not value:
                return ()
            if value not in header_cache:
                header_cache[value] = tuple(markdown().parseInline(value, {}))
            return header_cache[value]

        header, footer = directives.get("header") or None, directives.get("footer") or None
        background_image = directives.get("backgroundImage") or None
        return Slide(
            index=index,
            loc=self.loc(loc_line),
            source=source,
            tokens=tuple(body),
            # marpit writes only truthy values (no `paginate: false`, no empty header).
            directives=MappingProxyType({key: value for key, value in directives.items()
                                         if value and not (key == "paginate"
                                                           and value == "false")}),
            classes=tuple(directives.get("class", "").split()),
            paginate=paginate,
            page=page,
            header=header,
            footer=footer,
            header_tokens=inline(header),
            footer_tokens=inline(footer),
            background_color=directives.get("backgroundColor") or None,
            background_image=background_image,
            background_position=directives.get("backgroundPosition") or None,
            background_repeat=directives.get("backgroundRepeat") or None,
            background_size=directives.get("backgroundSize") or None,
            color=directives.get("color") or None,
            scoped_css=tuple(scoped),
            notes=tuple(c.text for c in comments if not c.directive),
            comments=comments,
            backgrounds=tuple(backgrounds),
            end_line=max(end_line, loc_line + 1),
        )

    def _clean(self, tokens: list[Token], scoped: list[str],
               backgrounds: list[Background]) -> list[Token]:
        """Drop comments and styles, resolve images, sweep emptied paragraphs
        (marpit `sweep.js`)."""
        kept: list[Token] = []
        for token in tokens:
            if token.type in ("front_matter", "marp_comment"):
                continue
            if token.type == "marp_style":
                if token.meta.get("scoped") and token.content:
                    scoped.append(token.content)
                continue
            if token.type == "inline" and token.children is not None:
                token.children = self._clean_inline(token, backgrounds)
            elif token.type == "html_block":
                _sanitize(token)
            kept.append(token)
        return _sweep(kept)

    def _clean_inline(self, inline: Token, backgrounds: list[Background]) -> list[Token]:
        children: list[Token] = []
        line = inline.map[0] if inline.map else 0
        for child in inline.children or ():
            if child.type in ("softbreak", "hardbreak"):
                line += 1
            if child.type == "marp_comment":
                continue
            if child.type == "html_inline":
                _sanitize(child)
            if child.type == "image":
                options = _image_options(child.content)
                src = str(child.attrGet("src") or "")
                if options.background:
                    if src.strip():  # marpit hides a `![bg]()` but draws nothing
                        backgrounds.append(Background(
                            src=src, alt=" ".join(options.words),
                            size=_background_size(options), split=options.split,
                            split_size=options.split_size, direction=options.direction,
                            width=options.width, height=options.height,
                            filters=tuple(options.filters), loc=self.loc(line)))
                    continue
                _apply_image(child, options)
                child.meta = {**(child.meta or {}), "line": line + 1}
            children.append(child)
        return children


def _background_size(options: _ImageOptions) -> str | None:
    """marpit `background_image/apply.js`: the CSS background-size of a `![bg]`."""
    size = options.size or options.bg_size
    if size not in ("contain", "cover") and (options.width or options.height):
        return f"{options.width or size or 'auto'} {options.height or size or 'auto'}"
    return size


def _apply_image(token: Token, options: _ImageOptions) -> None:
    """marpit `image/apply.js`: sizes and filters as inline style; alt text without the
    keywords."""
    style = []
    if options.width and not options.width.endswith("%"):
        style.append(f"width:{options.width}")
    if options.height and not options.height.endswith("%"):
        style.append(f"height:{options.height}")
    if options.filters:
        style.append("filter:" + " ".join(f"{name}({value})" for name, value in options.filters))
    if style:
        existing = token.attrGet("style")
        token.attrSet("style", ";".join(([str(existing)] if existing else []) + style) + ";")
    alt = " ".join(options.words)
    if alt != token.content:
        token.content = alt
        token.children = markdown().parseInline(alt, {})[0].children if alt else []


def _mark_fitting_headings(tokens: Sequence[Token]) -> None:
    """marp-core's fitting header: `# <!-- fit --> Title` scales the heading to the slide
    width. The heading gets `meta["fit"]`; the comment is no presenter note."""
    for index, token in enumerate(tokens[:-1]):
        if token.type != "heading_open":
            continue
        for child in tokens[index + 1].children or ():
            if child.type == "marp_comment" and child.content == "fit":
                child.meta = {**(child.meta or {}), "directive": True}
                token.meta = {**(token.meta or {}), "fit": True}


def _sanitize(token: Token) -> None:
    token.meta = {**(token.meta or {}), "raw": token.content}
    token.content = sanitize_html(token.content)


def _balanced(tokens: list[Token]) -> list[Token]:
    """A slide cut inside a list or a quote (a divided heading there): Marp's HTML then
    has open tags that the browser closes at `</section>` and stray closing tags that it
    drops. Do the same to the tokens, so that every slide's tokens nest."""
    result: list[Token] = []
    open_tokens: list[Token] = []
    for token in tokens:
        if token.nesting == 1:
            open_tokens.append(token)
        elif token.nesting == -1:
            if not open_tokens or open_tokens[-1].tag != token.tag:
                continue
            open_tokens.pop()
        result.append(token)
    for opener in reversed(open_tokens):
        closer = Token(opener.type.removesuffix("_open") + "_close", opener.tag, -1)
        closer.level, closer.block, closer.hidden = opener.level, opener.block, opener.hidden
        result.append(closer)
    return result


def _walk(tokens: Sequence[Token]) -> list[Token]:
    found: list[Token] = []
    for token in tokens:
        found.append(token)
        if token.type == "inline" and token.children:
            found.extend(token.children)
    return found


def _hidden(token: Token) -> bool:
    """What marpit counts as hidden when deciding whether a heading needs a new slide."""
    if token.type in ("front_matter", "marp_comment", "marp_style"):
        return True
    if token.type == "html_block":
        return not token.content.strip()
    if token.type == "inline":
        return _blank_inline(token)
    return False


def _blank_inline(token: Token) -> bool:
    for child in token.children or ():
        if child.type in ("softbreak", "marp_comment"):
            continue
        if child.type == "image" and "bg" in child.content.split():
            continue
        if child.type != "text" or child.content.strip():
            return False
    return True


def _sweep(tokens: list[Token]) -> list[Token]:
    """Remove paragraphs whose inline content is gone (a directive comment or a `![bg]`
    alone on its lines) and blank inline tokens, as marpit hides them."""
    result: list[Token] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if (token.type == "paragraph_open" and i + 2 < len(tokens)
                and tokens[i + 1].type == "inline" and tokens[i + 2].type == "paragraph_close"
                and _blank_inline(tokens[i + 1])):
            i += 3
            continue
        if token.type == "html_block" and not token.content.strip():
            i += 1
            continue
        result.append(token)
        i += 1
    return result
