"""Marp theme files for the render stage: loading them, and marpit's theme CSS transformation.

A Marp theme is plain CSS written for one `section` (a slide) with metadata in comments
(`/* @theme name */`, `@size`, `@auto-scaling`). Before it reaches a page, marpit
(`theme_set.js` `pack`) rewrites it, and so do we, rule for rule:

- the scaffold theme goes first (slide size default, `section::after` page number);
- `@import "name"` / `@import-theme "name"` of a theme in the set pull its CSS in;
- a `content` in a `section::after` rule is dropped unless it shows the page number
  (marpit `pagination.js`: the page number is the one thing `::after` is for);
- `:root` means the slide (`section`), with raised specificity (`root/replace.js`,
  `increasing_specificity.js`);
- every selector is scoped under `div.marpit > section` (`pseudo_selector/prepend.js`):
  `section.title` → `div.marpit > section.title`, `h1` → `div.marpit > section h1`;
  `@keyframes` bodies are left alone, `@media`/`@supports`/`@container` are entered;
- `rem` is relative to the slide's font size (`root/font_size.js`, `root/rem.js`);
- `@page` takes the slide's size and print media puts one slide on each page
  (`printable.js`).

`<style scoped>` CSS is first confined to one slide by an attribute
(`section[data-marpit-scope-KEY]`, marpit `style/assign.js`), then goes through the same
transformation. tinycss2 parses; selectors are rewritten as strings, as marpit does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType

import tinycss2
import tinycss2.ast

from builder.model import BuildError, SourceLoc

__all__ = [
    "CONTAINER",
    "Theme",
    "ThemeSet",
    "load_themes",
    "pack_css",
    "scope_css",
    "section_padding_right",
    "transform_css",
]

CONTAINER = "div.marpit"
"""The element that holds the slides (Marp's non-SVG output)."""

# marpit `theme/scaffold.js`, under every theme.
SCAFFOLD_CSS = """
section {
  width: 1280px;
  height: 720px;
  box-sizing: border-box;
  overflow: hidden;
  position: relative;
  scroll-snap-align: center center;
  -webkit-text-size-adjust: 100%;
  text-size-adjust: 100%;
}
section::after {
  bottom: 0;
  content: attr(data-marpit-pagination);
  padding: inherit;
  pointer-events: none;
  position: absolute;
  right: 0;
}
section:not([data-marpit-pagination])::after {
  display: none;
}
:where(h1) {
  font-size: 2em;
  margin-block: 0.67em;
}
video::-webkit-media-controls {
  will-change: transform;
}
"""

_META = re.compile(r"^[*!\s]*@([\w-]+)\s+(.+)$", re.MULTILINE)
_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_ARRAY_META = frozenset({"size"})  # marp-core: `@size` may be given several times


@dataclass(frozen=True, slots=True)
class Theme:
    """One Marp theme file."""

    name: str
    css: str
    """The CSS as written."""
    path: Path | None
    """Where it was read from (None for a theme made in code)."""
    meta: Mapping[str, tuple[str, ...]]
    """`@key value` comments, in order (`size` may repeat; others: the last counts)."""

    @classmethod
    def from_css(cls, css: str, path: Path | None = None) -> Theme:
        meta: dict[str, list[str]] = {}
        for comment in _COMMENT.findall(css):
            for key, value in _META.findall(comment[2:-2]):
                meta.setdefault(key, []).append(value.strip())
        names = meta.get("theme")
        if not names:
            where = SourceLoc(path, 1) if path else None
            raise BuildError(where, "not a Marp theme: no `/* @theme name */` comment")
        return cls(name=names[-1], css=css, path=path,
                   meta=MappingProxyType({k: tuple(v) for k, v in meta.items()}))

    def meta_value(self, key: str) -> str | None:
        values = self.meta.get(key)
        return values[-1] if values else None


@dataclass(frozen=True, slots=True)
class ThemeSet:
    """The themes a build can use, by name: the built-in ones, then `--theme-set` files
    (a file with the same `@theme` name replaces the built-in one)."""

    themes: Mapping[str, Theme] = field(default_factory=lambda: MappingProxyType({}))

    def get(self, name: str | None) -> Theme | None:
        return self.themes.get(name) if name is not None else None

    @property
    def default(self) -> Theme | None:
        """The theme of a sheet without a `theme` directive: `default` when there is one
        (as in Marp), else the first built-in."""
        return self.themes.get("default") or next(iter(self.themes.values()), None)

    def size(self, theme: Theme, size_name: str | None = None) -> tuple[str, str]:
        """The slide size (CSS lengths) of `theme`, or of its `@size` preset `size_name`
        (marp-core's `size` directive) when it has one of that name."""
        if size_name is not None:
            preset = self._size_preset(theme, size_name)
            if preset is not None:
                return preset
        width, height = _section_size(self.flat_css(theme))
        return width or "1280px", height or "720px"

    def has_size(self, theme: Theme, size_name: str) -> bool:
        return self._size_preset(theme, size_name) is not None

    def _size_preset(self, theme: Theme, size_name: str) -> tuple[str, str] | None:
        for candidate in self._with_imports(theme):
            for value in reversed(candidate.meta.get("size", ())):
                parts = value.split()
                if len(parts) == 3 and parts[0] == size_name:
                    return parts[1], parts[2]
        return None

    def _with_imports(self, theme: Theme, seen: tuple[str, ...] = ()) -> list[Theme]:
        found = [theme]
        for name in _import_names(theme.css):
            imported = self.themes.get(name)
            if imported is not None and imported.name not in (*seen, theme.name):
                found.extend(self._with_imports(imported, (*seen, theme.name)))
        return found

    def flat_css(self, theme: Theme) -> str:
        """The theme's CSS with the themes it imports put in (marpit `import/replace.js`);
        other `@import`s stay, moved to the top as CSS requires."""
        hoisted: list[str] = []
        body = self._inline_imports(theme, (), hoisted)
        return "".join(hoisted) + body

    def _inline_imports(self, theme: Theme, seen: tuple[str, ...], hoisted: list[str]) -> str:
        if "@import" not in theme.css:  # most themes: nothing to parse
            return theme.css
        if theme.name in seen:
            where = SourceLoc(theme.path, 1) if theme.path else None
            raise BuildError(where, f"theme {theme.name!r} imports itself "
                             f"({' → '.join((*seen, theme.name))})")
        front: list[str] = []
        parts: list[str] = []
        for node in tinycss2.parse_stylesheet(theme.css, skip_comments=True):
            if isinstance(node, tinycss2.ast.AtRule) and node.lower_at_keyword in (
                    "import", "import-theme"):
                name = _import_target(node)
                imported = self.themes.get(name) if name is not None else None
                if imported is not None:
                    css = self._inline_imports(imported, (*seen, theme.name), hoisted)
                    (parts if node.lower_at_keyword == "import" else front).append(css)
                elif node.lower_at_keyword == "import":
                    hoisted.append(node.serialize())
                continue
            parts.append(node.serialize())
        return "".join(front) + "".join(parts)


def load_themes(paths: Sequence[Path]) -> ThemeSet:
    """The built-in themes (`builder/themes/*.css`) and the `--theme-set` files: each path
    is a CSS file or a directory of them. Raises BuildError for a path that cannot be
    read or a file that is not a Marp theme."""
    themes: dict[str, Theme] = {}
    builtin = resources.files("builder") / "themes"
    if builtin.is_dir():
        for entry in sorted(builtin.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".css"):
                theme = Theme.from_css(entry.read_text(encoding="utf-8"), Path(str(entry)))
                themes[theme.name] = theme
    for path in paths:
        files = sorted(path.glob("*.css")) if path.is_dir() else [path]
        for file in files:
            try:
                css = file.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise BuildError(None, f"{file}: no such theme file") from None
            except (OSError, UnicodeDecodeError) as error:
                raise BuildError(None, f"{file}: cannot read the theme: {error}") from None
            theme = Theme.from_css(css, file)
            themes[theme.name] = theme
    return ThemeSet(MappingProxyType(themes))


# --------------------------------------------------------------------------- packing

def pack_css(themes: ThemeSet, theme: Theme, *, after: str = "",
             size: tuple[str, str] | None = None) -> str:
    """The page CSS for a deck: scaffold, theme (imports in), `after` (the deck's global
    style), transformed for `div.marpit > section`, plus the print rules for `size`."""
    width, height = size or themes.size(theme)
    css = SCAFFOLD_CSS + themes.flat_css(theme) + "\n"
    if size is not None:  # a `size` preset: after the theme, before the deck's own style
        css += f"section {{ width: {width}; height: {height}; }}\n"
    css += after
    printable = (
        f"@page {{ size: {width} {height}; margin: 0; }}\n"
        "@media print {\n"
        "  html, body { background-color: #fff; margin: 0; page-break-inside: avoid;"
        " break-inside: avoid-page; }\n"
        f"  {CONTAINER} > section {{ page-break-before: always; break-before: page; }}\n"
        f"  {CONTAINER} > section, {CONTAINER} > section * {{"
        " -webkit-print-color-adjust: exact !important; animation-delay: 0s !important;"
        " animation-duration: 0s !important; color-adjust: exact !important;"
        " print-color-adjust: exact !important; transition: none !important; }\n"
        "}\n"
    )
    return _hoist_imports(printable + transform_css(css))


def scope_css(css: str, key: str) -> str:
    """A `<style scoped>` body confined to the slide carrying `data-marpit-scope-KEY`,
    then transformed like theme CSS."""
    attribute = f"section[data-marpit-scope-{key}]"

    def scope(selector: str) -> str:
        if re.match(r"section(?![\w-])", selector):
            return attribute + selector[7:]
        return f"{attribute} {selector}"

    scoped = _rewrite(tinycss2.parse_stylesheet(css, skip_comments=True), scope)
    return transform_css(scoped)


@functools.lru_cache(maxsize=64)  # a deck's theme and style, again for every build
def transform_css(css: str) -> str:
    """marpit's per-rule rewriting of theme CSS (see the module docstring)."""
    nodes = tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)
    return _transform(nodes)


def _transform(nodes: Iterable[tinycss2.ast.Node]) -> str:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, tinycss2.ast.QualifiedRule):
            out.append(_transform_rule(node))
        elif isinstance(node, tinycss2.ast.AtRule):
            keyword = node.lower_at_keyword
            if keyword in ("media", "supports", "container", "layer", "scope", "document") \
                    and node.content is not None:
                inner = tinycss2.parse_rule_list(node.content, skip_comments=True,
                                                 skip_whitespace=True)
                prelude = tinycss2.serialize(node.prelude).strip()
                out.append(f"@{node.at_keyword} {prelude}{{{_transform(inner)}}}")
            else:  # @keyframes, @font-face, @page, @import …: as written
                out.append(node.serialize())
        elif isinstance(node, tinycss2.ast.ParseError):
            continue  # as a browser does: skip what does not parse
    return "\n".join(out)


def _transform_rule(rule: tinycss2.ast.QualifiedRule) -> str:
    selectors = _selectors(rule.prelude)
    pagination = any(re.match(r"^section(?![\w-])[^\s>+~]*::?after$",
                              re.sub(r"\[.*?\]", "", selector)) for selector in selectors)
    rooted = [re.sub(r"(^|[\s>+~(])(?:section)?:root\b", r"\1section:marpit-root", selector)
              for selector in selectors]
    body: list[str] = []
    font_sizes: list[str] = []
    for item in tinycss2.parse_blocks_contents(rule.content, skip_comments=True,
                                               skip_whitespace=True):
        if isinstance(item, tinycss2.ast.Declaration):
            value = tinycss2.serialize(item.value).strip()
            if pagination and item.lower_name == "content" \
                    and "attr(data-marpit-pagination)" not in value:
                continue
            value = _rem(value)
            important = " !important" if item.important else ""
            body.append(f"{item.name}:{value}{important}")
            if item.lower_name == "font-size":
                font_sizes.append(f"--marpit-root-font-size:{value}{important}")
        elif isinstance(item, tinycss2.ast.ParseError):
            continue
        else:  # a nested rule: the browser nests it under the rewritten selector
            body.append(item.serialize())
    text = f"{', '.join(_scoped(s) for s in rooted)}{{{';'.join(body)}}}"
    if font_sizes:
        targets = _font_size_targets(rooted)
        if targets:
            text += f"\n{', '.join(_scoped(s) for s in targets)}{{{';'.join(font_sizes)}}}"
    return text


def _selectors(prelude: Sequence[tinycss2.ast.Node]) -> list[str]:
    """The comma-separated selectors of a rule (commas inside `:is(…)` stay)."""
    parts: list[list[tinycss2.ast.Node]] = [[]]
    for token in prelude:
        if isinstance(token, tinycss2.ast.LiteralToken) and token.value == ",":
            parts.append([])
        else:
            parts[-1].append(token)
    return [" ".join(tinycss2.serialize(part).split()) for part in parts
            if tinycss2.serialize(part).strip()]


def _font_size_targets(selectors: Sequence[str]) -> list[str]:
    """marpit `root/font_size.js`: where a font size on the slide also sets the root font
    size that `rem` refers to."""
    targets: list[str] = []
    for selector in selectors:
        pieces = re.split(r"(\s+|\s*[>~+]\s*)", selector)
        last = pieces.pop()
        delimiter = re.search(r"[.:#\[]", last)
        target = last[:delimiter.start()] if delimiter else last
        rest = last[delimiter.start():] if delimiter else ""
        if target == "section" or target.endswith("*") or target == "":
            element = "section" if target == "section" else \
                ":marpit-container > :marpit-slide section"
            targets.append("".join(pieces) + element + rest)
    return list(dict.fromkeys(targets))


def _scoped(selector: str) -> str:
    """marpit prepend + replace + increasing specificity for one selector."""
    if re.match(r"section(?![\w-])", selector):
        selector = ":marpit-container > :marpit-slide" + selector[7:]
    elif not selector.startswith(":marpit-container"):
        selector = ":marpit-container > :marpit-slide " + selector
    selector = re.sub(r":marpit-container(?![\w-])", CONTAINER, selector)
    selector = re.sub(r":marpit-slide(?![\w-])", "section", selector)
    selector = re.sub(r"^\s*>\s*", "", selector)
    return re.sub(r"\b(?:section)?:marpit-root\b", r":where(section):not([\\20 root])",
                  selector)


_REM_SKIP = re.compile(r"(\"[^\"]*\"|'[^']*'|(?:attr|url|var)\([^)]*\))")


def _rem(value: str) -> str:
    """marpit `root/rem.js`: `rem` is the slide's root font size, not the page's."""
    if "rem" not in value:
        return value
    pieces = _REM_SKIP.split(value)
    return "".join(
        piece if index % 2 else re.sub(
            r"(\d*\.?\d+)rem\b",
            lambda m: f"calc(var(--marpit-root-font-size, 1rem) * {m.group(1)})", piece)
        for index, piece in enumerate(pieces))


def _rewrite(nodes: Iterable[tinycss2.ast.Node], rewrite: Callable[[str], str]) -> str:
    """Apply a selector rewrite to every rule, entering @media/@supports; used to scope
    `<style scoped>` (keyframes are left alone)."""
    out: list[str] = []
    for node in nodes:
        if isinstance(node, tinycss2.ast.QualifiedRule):
            selectors = [rewrite(s) for s in _selectors(node.prelude)]
            out.append(f"{', '.join(selectors)}{{{tinycss2.serialize(node.content)}}}")
        elif isinstance(node, tinycss2.ast.AtRule) and node.lower_at_keyword in (
                "media", "supports") and node.content is not None:
            inner = tinycss2.parse_rule_list(node.content, skip_comments=True)
            prelude = tinycss2.serialize(node.prelude).strip()
            out.append(f"@{node.at_keyword} {prelude}{{{_rewrite(inner, rewrite)}}}")
        elif not isinstance(node, tinycss2.ast.ParseError):
            out.append(node.serialize())
    return "".join(out)


def _hoist_imports(css: str) -> str:
    """`@import` must come before any other rule, or the browser ignores it."""
    if "@import" not in css:
        return css
    imports: list[str] = []
    rest: list[str] = []
    for node in tinycss2.parse_stylesheet(css, skip_comments=True):
        is_import = isinstance(node, tinycss2.ast.AtRule) and node.lower_at_keyword == "import"
        (imports if is_import else rest).append(node.serialize())
    return "".join(imports) + "".join(rest) if imports else css


def _import_target(node: tinycss2.ast.AtRule) -> str | None:
    for token in node.prelude:
        if isinstance(token, tinycss2.ast.StringToken | tinycss2.ast.URLToken):
            return str(token.value)
        if isinstance(token, tinycss2.ast.FunctionBlock) and token.lower_name == "url":
            strings = [t for t in token.arguments if isinstance(t, tinycss2.ast.StringToken)]
            return str(strings[0].value) if strings else None
    return None


@functools.lru_cache(maxsize=64)
def _import_names(css: str) -> tuple[str, ...]:
    """The themes `css` imports (`@import` or `@import-theme`), by name, in order."""
    if "@import" not in css:  # most themes: nothing to parse
        return ()
    names = []
    for node in tinycss2.parse_stylesheet(css, skip_comments=True):
        if isinstance(node, tinycss2.ast.AtRule) and node.lower_at_keyword in (
                "import", "import-theme"):
            name = _import_target(node)
            if name is not None:
                names.append(name)
    return tuple(names)


@functools.lru_cache(maxsize=64)
def _section_size(css: str) -> tuple[str | None, str | None]:
    """marpit `section_size.js`: width and height of the `section` rules (a `:root` rule
    wins over `section`; the last declaration of each wins)."""
    found: dict[bool, dict[str, str]] = {True: {}, False: {}}
    for node in tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True):
        if not isinstance(node, tinycss2.ast.QualifiedRule):
            continue
        for selector in _selectors(node.prelude):
            rooted = re.sub(r"^(?:section)?:root$", "section:root", selector)
            if rooted not in ("section", "section:root"):
                continue
            for item in tinycss2.parse_blocks_contents(node.content, skip_comments=True,
                                                       skip_whitespace=True):
                if isinstance(item, tinycss2.ast.Declaration) \
                        and item.lower_name in ("width", "height"):
                    found[rooted != "section"][item.lower_name] = \
                        tinycss2.serialize(item.value).strip()
    width = found[True].get("width") or found[False].get("width")
    height = found[True].get("height") or found[False].get("height")
    return width, height


@functools.lru_cache(maxsize=64)
def section_padding_right(css: str) -> str:
    """The right padding the `section` rules give a slide (`padding` or `padding-right`,
    the last one written), "0px" when none does."""
    value = "0px"
    for node in tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True):
        if not isinstance(node, tinycss2.ast.QualifiedRule) or not any(
                re.fullmatch(r"(?:section)?:root|section", selector)
                for selector in _selectors(node.prelude)):
            continue
        for item in tinycss2.parse_blocks_contents(node.content, skip_comments=True,
                                                   skip_whitespace=True):
            if not isinstance(item, tinycss2.ast.Declaration):
                continue
            parts = [tinycss2.serialize([token]) for token in item.value
                     if not isinstance(token, tinycss2.ast.WhitespaceToken)]
            if item.lower_name == "padding-right" and parts:
                value = " ".join(parts)
            elif item.lower_name == "padding" and parts:
                value = parts[1] if len(parts) > 1 else parts[0]  # top right bottom left
    return value
