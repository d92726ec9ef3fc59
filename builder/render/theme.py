"""The deck's theme and what it gives every page: the packed CSS, the slide size and
padding (kept on disk between builds: tinycss2 work), and its `@auto-scaling` meta."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from builder.atomic import write_text_atomically
from builder.marp import Deck, Theme, ThemeSet, pack_css, section_padding_right
from builder.model import BuildError, Diagnostic, SourceLoc
from builder.render.code import code_css
from builder.render.page import BADGE_CSS
from builder.render.version import code_version


def theme_for(deck: Deck, themes: ThemeSet, diagnostics: list[Diagnostic]) -> Theme:
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
        raise BuildError(None, "no themes: builder/themes/ is empty and no --theme-set given")
    return theme


@dataclass(frozen=True, slots=True)
class ThemeLook:
    """What a deck's theme (and global style) gives every page: tinycss2 work, so kept
    on disk between builds."""

    css: str
    """The packed theme CSS, then Pygments' token colours and, for a theme that does not
    style check badges itself, sheets' default badges."""
    size: tuple[str, str]
    size_preset: bool
    """Whether the deck's `size` is one of the theme's `@size` presets."""
    padding_right: str


def look_key(themes: ThemeSet, theme: Theme, deck: Deck) -> str:
    """What decides `theme_look`: the theme set, the theme, the deck's size and style."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (code_version(), theme.name, deck.size or "", deck.global_css,
                 *(f"{name}\0{item.css}" for name, item in sorted(themes.themes.items()))):
        digest.update(part.encode())
        digest.update(b"\0\1")
    return digest.hexdigest()


def theme_look(themes: ThemeSet, theme: Theme, deck: Deck, cache_dir: Path | None,
                key: str) -> ThemeLook:
    """The deck's `ThemeLook`: from `cache_dir` when kept there under `key`
    (`look_key`), else made (and kept)."""
    path = None
    if cache_dir is not None:
        path = cache_dir / f"theme-{key}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return ThemeLook(str(data["css"]), (str(data["size"][0]), str(data["size"][1])),
                              bool(data["size_preset"]), str(data["padding_right"]))
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            pass  # absent or damaged: make it again
    size = themes.size(theme, deck.size)
    size_preset = deck.size is not None and themes.has_size(theme, deck.size)
    flat = themes.flat_css(theme)
    css = pack_css(themes, theme, after=deck.global_css, size=size if size_preset else None)
    # One source of truth for badge colours: the theme's, when it has any.
    badges = "" if _THEME_BADGE.search(flat) else BADGE_CSS
    look = ThemeLook(f"{css}\n{code_css()}\n{badges}", size, size_preset,
                      section_padding_right(flat))
    if path is not None:
        with contextlib.suppress(OSError):  # a read-only or full disk only costs speed
            write_text_atomically(path, json.dumps({
                "css": look.css, "size": look.size, "size_preset": look.size_preset,
                "padding_right": look.padding_right}))
    return look


_THEME_BADGE = re.compile(r"\.sheets-badge\b[^{]*\{")


def auto_scaling(themes: ThemeSet, theme: Theme) -> str:
    """The theme's `@auto-scaling` meta (marp-core `isEnabledAutoScaling`): `true`, or
    the features it turns on (`fittingHeader`, `math`, `code`). Like marpit's
    `getThemeMeta`, the theme's own value first, else that of a theme it imports."""
    # theme_css's own walk of the imports, in marpit's order (the theme first).
    for candidate in themes._with_imports(theme):
        value = candidate.meta_value("auto-scaling")
        if value:
            return value
    return ""


