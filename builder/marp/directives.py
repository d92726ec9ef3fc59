"""Marp's directives: front matter and directive comments read as marpit does (its
"loose YAML", every scalar a string), global directives for the whole deck (the last one
wins), local ones from their slide on and spot (`_x`) ones on their slide only (marpit
`directives/`). Doubtful input is a warning on the `SheetSource`; a front matter that
cannot be read is a `BuildError`."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml
from markdown_it.token import Token

from builder.marp.raw_html import unsafe_css_value
from builder.marp.source import SheetSource
from builder.model import BuildError, SourceLoc

__all__ = [
    "ANNOTATIONS",
    "GLOBAL_DIRECTIVES",
    "LOCAL_DIRECTIVES",
    "MAGIC_COMMENTS",
    "STYLE_DIRECTIVES",
    "CommentToken",
    "FrontMatter",
    "apply_local_directives",
    "broken_directives",
    "find_comments",
    "global_directives",
    "read_front_matter",
    "warn_unknown_in_directives",
    "warn_unknown_in_note",
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
# The local directives that become one declaration of the slide's `style` attribute.
STYLE_DIRECTIVES = frozenset({
    "backgroundColor", "backgroundImage", "backgroundPosition", "backgroundRepeat",
    "backgroundSize", "color",
})
# The keys of our own annotation comments (`<!-- check: probability.softmax -->`), read
# by `builder.cards`: never reported here as unknown directives.
ANNOTATIONS = frozenset({"check", "assume", "nocheck", "let", "map"})
# Front-matter keys that are not Marp directives: `marp` (read by Marp's tools: a deck),
# and sheets' own `layout` (document or slides, builder/marp/layout.py). Both are kept
# with the global directives (`Deck.directives`), read from the front matter only.
_FRONT_MATTER_EXTRAS = frozenset({"marp", "layout"})
_LAYOUTS = ("document", "slides")
# marpit `comment.js`: comments that tools write for themselves are not presenter notes.
MAGIC_COMMENTS = (
    re.compile(r"^prettier-ignore(-(start|end))?$"),
    re.compile(r"^markdownlint-((disable|enable).*|capture|restore)$"),
    re.compile(r"^lint (disable|enable|ignore).*$"),
)


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


def broken_directives(text: str) -> str | None:
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


# --------------------------------------------------------------------------- in the sheet

@dataclass(frozen=True, slots=True)
class FrontMatter:
    fields: dict[str, Any]
    line: int
    """0-based line of its opening `---`."""


@dataclass(frozen=True, slots=True)
class CommentToken:
    """A `marp_comment` token of the sheet, where it is, and its body read as YAML."""

    token: Token
    line: int
    """0-based."""
    fields: dict[str, Any] | None
    """The body as a YAML mapping, None when it is none (a note)."""


def read_front_matter(source: SheetSource, tokens: Sequence[Token]) -> FrontMatter | None:
    """The sheet's front matter, None without one. Unknown keys are warnings."""
    if not tokens or tokens[0].type != "front_matter":
        if source.text.startswith("---"):
            # Marp's front-matter rule takes a sheet that starts with `---` and never
            # closes it as all front matter: one empty slide. Say why instead.
            raise BuildError(source.loc(0), "front matter is not closed by a `---` line "
                             "(Marp would read the whole sheet as front matter)")
        return None
    token = tokens[0]
    assert token.map is not None
    try:
        value = _load_yaml(_loosen(token.content, front_matter=True))
    except yaml.YAMLError:
        raise _front_matter_error(source, token.content, token.map[0] + 1) from None
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise BuildError(source.loc(token.map[0]),
                         "malformed front matter: expected `key: value` lines")
    for key in value:
        bare = key.removeprefix("_")
        if key in GLOBAL_DIRECTIVES or bare in LOCAL_DIRECTIVES \
                or key in _FRONT_MATTER_EXTRAS:
            continue
        source.warn(source.key_line(token.map[0] + 1, token.map[1], key),
                    f"unknown directive {key!r}{_suggestion(key)}")
    return FrontMatter(value, token.map[0])


def _front_matter_error(source: SheetSource, content: str, first_line: int) -> BuildError:
    """The YAML error of a front matter at its line. Asks the pure-Python loader again
    so that the message does not depend on whether libyaml is installed."""
    try:
        yaml.load(_loosen(content, front_matter=True), Loader=_PlainLoader)
    except yaml.MarkedYAMLError as error:
        # The context ("while parsing a flow sequence") points at the line to fix; the
        # problem mark is often the end of the text.
        mark = error.context_mark or error.problem_mark
        line = first_line + (mark.line if mark is not None else 0)
        return BuildError(source.loc(line), f"malformed front matter: {error.problem}")
    except yaml.YAMLError as error:
        return BuildError(source.loc(first_line), f"malformed front matter: {error}")
    return BuildError(source.loc(first_line), "malformed front matter")


def find_comments(tokens: Sequence[Token]) -> list[CommentToken]:
    """Every comment token in document order with its line and YAML fields."""
    found: list[CommentToken] = []
    for token in tokens:
        if token.type == "marp_comment" and token.map:
            found.append(CommentToken(token, token.map[0], _directive_fields(token.content)))
        elif token.type == "inline" and token.children and token.map:
            line = token.map[0]
            for child in token.children:
                if child.type in ("softbreak", "hardbreak"):
                    line += 1
                elif child.type == "marp_comment":
                    found.append(CommentToken(child, line, _directive_fields(child.content)))
                    line += child.markup.count("\n")
                elif child.type == "text":
                    line += child.content.count("\n")
    return found


def global_directives(
    source: SheetSource, front_matter: FrontMatter | None, comments: Sequence[CommentToken],
) -> tuple[dict[str, Any], dict[str, SourceLoc]]:
    """marpit `marpit_directives_global_parse`: the last value of each wins. Returns the
    values and where each was set; marks the comments that set one as directives."""
    values: dict[str, Any] = {}
    locs: dict[str, SourceLoc] = {}

    def apply(fields: Mapping[str, Any], first: int, end: int) -> bool:
        recognized = False
        for key, raw in fields.items():
            if key not in GLOBAL_DIRECTIVES:
                continue
            recognized = True
            value = _global_value(key, raw)
            key_line = source.key_line(first, end, key)
            if value is None:
                source.warn(key_line, f"directive {key!r} ignored: unusable value {raw!r}")
                continue
            values[key] = value
            locs[key] = source.loc(key_line)
        return recognized

    if front_matter is not None:
        line = front_matter.line
        apply(front_matter.fields, line + 1, line + 1 + len(source.lines))
        for key in sorted(_FRONT_MATTER_EXTRAS & front_matter.fields.keys()):
            raw = front_matter.fields[key]
            key_line = source.key_line(line + 1, line + 1 + len(source.lines), key)
            if key == "layout" and raw not in _LAYOUTS:
                source.warn(key_line, f"directive 'layout' ignored: unusable value {raw!r} "
                                      f"(it is 'document' or 'slides')")
                continue
            values[key] = raw
            locs[key] = source.loc(key_line)
    for comment in comments:
        line = comment.line
        if comment.fields and apply(comment.fields, line,
                                    line + 1 + comment.token.markup.count("\n")):
            comment.token.meta["directive"] = True
    return values, locs


def apply_local_directives(source: SheetSource, fields: Mapping[str, Any],
                           local: dict[str, str], spot: dict[str, str],
                           first: int, end: int) -> bool:
    """Local directives of `fields` into `local`, spot ones (`_x`) into `spot`; whether
    any key was one."""
    recognized = False
    for key, raw in fields.items():
        target, name = (spot, key[1:]) if key.startswith("_") else (local, key)
        if name not in LOCAL_DIRECTIVES:
            continue
        recognized = True
        value = _local_value(name, raw)
        if value is None:
            source.warn(source.key_line(first, end, key),
                        f"directive {key!r} ignored: unusable value {raw!r}")
            continue
        if name in STYLE_DIRECTIVES and (problem := unsafe_css_value(value)) is not None:
            source.warn(source.key_line(first, end, key),
                        f"directive {key!r} ignored: {problem}")
            continue
        target[name] = value
    return recognized


def warn_unknown_in_directives(source: SheetSource, fields: Mapping[str, Any],
                               first: int, end: int) -> None:
    """Marp ignores the unknown keys of a directive comment: say so."""
    for key in fields:
        if key.removeprefix("_") not in LOCAL_DIRECTIVES and key not in GLOBAL_DIRECTIVES:
            source.warn(source.key_line(first, end, key),
                        f"unknown directive {key!r}{_suggestion(key)}")


def warn_unknown_in_note(source: SheetSource, fields: Mapping[str, Any], line: int) -> None:
    """A comment that is no directive is a note; but `_heade: x` or `Paginate: true`
    is a misspelt directive that Marp silently shows as a note: warn."""
    for key in fields:
        if key in ANNOTATIONS:
            continue
        hint = _suggestion(key)
        if hint or key.startswith("_"):
            source.warn(line, f"unknown directive {key!r}{hint}")
