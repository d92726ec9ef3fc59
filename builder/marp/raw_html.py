"""Raw HTML as Marp CLI outputs it by default: marp-core's allowlist of tags and
attributes (js-xss), everything else escaped so that it shows as text."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["HTML_ALLOWLIST", "sanitize_html", "unsafe_css_value"]

_GLOBAL_ATTRS = frozenset({"class", "dir", "lang", "title"})
_TABLE_ATTRS = frozenset({"align", "valign"})
# marp-core `html/allowlist.ts` (Marp CLI's default without `--html`): tag → attributes.
HTML_ALLOWLIST: Mapping[str, frozenset[str]] = MappingProxyType({
    **dict.fromkeys((
        "abbr", "address", "article", "aside", "b", "bdi", "bdo", "big", "br", "caption",
        "center", "cite", "code", "dd", "div", "dl", "dt", "em", "figcaption", "figure",
        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "kbd", "mark", "nav", "p",
        "picture", "pre", "rp", "rt", "ruby", "s", "section", "small", "span", "sub",
        "summary", "sup", "strong", "strike", "u", "ul", "wbr",
    ), _GLOBAL_ATTRS),
    "a": _GLOBAL_ATTRS | {"href", "name", "rel", "target"},
    "audio": _GLOBAL_ATTRS | {"autoplay", "controls", "loop", "muted", "preload", "src"},
    "blockquote": _GLOBAL_ATTRS | {"cite"},
    "col": _GLOBAL_ATTRS | _TABLE_ATTRS | {"span", "width"},
    "colgroup": _GLOBAL_ATTRS | _TABLE_ATTRS | {"span", "width"},
    "del": _GLOBAL_ATTRS | {"cite", "datetime"},
    "details": _GLOBAL_ATTRS | {"open"},
    "img": _GLOBAL_ATTRS | {"align", "alt", "decoding", "height", "loading", "src", "srcset",
                            "title", "width"},
    "ins": _GLOBAL_ATTRS | {"cite", "datetime"},
    "li": _GLOBAL_ATTRS | {"type", "value"},
    "ol": _GLOBAL_ATTRS | {"reversed", "start", "type"},
    "q": _GLOBAL_ATTRS | {"cite"},
    "source": frozenset({"height", "media", "sizes", "src", "srcset", "type", "width"}),
    "table": _GLOBAL_ATTRS | _TABLE_ATTRS | {"width", "border"},
    "tbody": _GLOBAL_ATTRS | _TABLE_ATTRS,
    "td": _GLOBAL_ATTRS | _TABLE_ATTRS | {"width", "rowspan", "colspan"},
    "tfoot": _GLOBAL_ATTRS | _TABLE_ATTRS,
    "th": _GLOBAL_ATTRS | _TABLE_ATTRS | {"width", "rowspan", "colspan"},
    "thead": _GLOBAL_ATTRS | _TABLE_ATTRS,
    "time": _GLOBAL_ATTRS | {"datetime"},
    "tr": _GLOBAL_ATTRS | _TABLE_ATTRS | {"rowspan"},
    "video": _GLOBAL_ATTRS | {"autoplay", "controls", "loop", "muted", "playsinline", "poster",
                              "preload", "src", "height", "width"},
})
_VOID_ELEMENTS = frozenset({"br", "col", "hr", "img", "source", "wbr"})
_WEB_URL_ATTRS = frozenset({"href", "cite"})
_IMAGE_URL_ATTRS = frozenset({"src", "poster", "srcset"})
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>")
_HTML_COMMENT = re.compile(r"<!--[\s\S]*?-->")
_ATTR = re.compile(r"([^\s\"'>/=]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+)))?")


def _safe_url(value: str, schemes: tuple[str, ...]) -> str:
    if ":" not in value:
        return value
    trimmed = value.strip().lower()
    scheme = trimmed.split(":", 1)[0]
    if any(scheme == allowed or (":" in allowed and trimmed.startswith(allowed))
           for allowed in schemes):
        return value
    return ""


def _attribute_value(tag: str, name: str, value: str) -> str:
    value = html.unescape(value)
    if name == "dir":
        value = value.lower() if value.lower() in ("rtl", "ltr", "auto") else ""
    elif name in _WEB_URL_ATTRS or (name == "src" and tag in ("audio", "video")):
        value = _safe_url(value, ("http", "https"))
    elif name in _IMAGE_URL_ATTRS:
        parts = value.split(",") if name == "srcset" else [value]
        if not all(_safe_url(part, ("http", "https", "data:image/")) for part in parts):
            value = ""
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;") \
        .replace(">", "&gt;")


def sanitize_html(source: str) -> str:
    """Raw HTML as Marp CLI outputs it by default (marp-core `html.ts`, js-xss with the
    allowlist): allowed tags keep their allowed attributes, other tags are escaped (so
    they show as text), comments are dropped."""
    source = _HTML_COMMENT.sub("", source)
    pieces: list[str] = []
    last = 0
    for match in _TAG.finditer(source):
        pieces.append(source[last:match.start()].replace("<", "&lt;").replace(">", "&gt;"))
        last = match.end()
        closing, tag, attributes = match.group(1), match.group(2).lower(), match.group(3)
        allowed = HTML_ALLOWLIST.get(tag)
        if allowed is None:
            pieces.append(match.group(0).replace("<", "&lt;").replace(">", "&gt;"))
            continue
        if closing:
            pieces.append(f"</{tag}>")
            continue
        kept = []
        for attribute in _ATTR.finditer(attributes):
            name = attribute.group(1).lower()
            if name not in allowed:
                continue
            value = next((group for group in attribute.groups()[1:] if group is not None), None)
            safe = _attribute_value(tag, name, value) if value is not None else ""
            kept.append(f'{name}="{safe}"' if safe else name)  # js-xss drops an empty value
        # markdown-it's commonmark preset sets xhtmlOut: Marp then closes void elements.
        self_closing = " /" if tag in _VOID_ELEMENTS else ""
        pieces.append(f"<{tag}{' ' if kept else ''}{' '.join(kept)}{self_closing}>")
    pieces.append(source[last:].replace("<", "&lt;").replace(">", "&gt;"))
    return "".join(pieces)


# What could end a CSS declaration (and start others: `red; background: url(…)`), or hide
# a word from this check (CSS escapes, comments).
_CSS_BREAK = re.compile(r"[;{}\\<>]|/\*")
_CSS_URL = re.compile(r"""url\(\s*(["']?)([^"')]*)\1\s*\)""", re.IGNORECASE)


def unsafe_css_value(value: str) -> str | None:
    """Why a directive's value cannot be one declaration of the slide's `style` (`color`,
    `backgroundImage`, …), or None when it can: it must not end the declaration, nor
    load anything but what `<img>` may (http:, https:, `data:image/`, a relative path),
    nor call IE's `expression()`."""
    if _CSS_BREAK.search(value):
        return "a CSS value cannot hold ';', '{', '}', '<', '>', '\\' or a comment"
    if "expression(" in value.lower():
        return "expression() is not CSS"
    urls = _CSS_URL.findall(value)
    if value.lower().count("url(") != len(urls) or not all(
            _safe_url(url, ("http", "https", "data:image/")) for _, url in urls):
        return "only http:, https:, data:image/ and relative URLs are kept"
    return None
