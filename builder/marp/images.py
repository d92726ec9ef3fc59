"""Marp's image syntax: the keywords of an image's alt text (marpit `image/` and
`background_image/`): sizes and CSS filters become the `img` token's `style`; `![bg]`
images become a slide's `Background`s."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markdown_it.token import Token

from builder.marp.deck import Background
from builder.marp.markdown import markdown
from builder.model import SourceLoc

__all__ = ["ImageOptions", "apply_image", "background", "image_options"]

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
class ImageOptions:
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


def image_options(alt: str) -> ImageOptions:
    """marpit `image/parse.js` + `background_image/parse.js` keywords of an alt text."""
    options = ImageOptions(words=[])
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



def _size_of_background(options: ImageOptions) -> str | None:
    """marpit `background_image/apply.js`: the CSS background-size of a `![bg]`."""
    size = options.size or options.bg_size
    if size not in ("contain", "cover") and (options.width or options.height):
        return f"{options.width or size or 'auto'} {options.height or size or 'auto'}"
    return size


def apply_image(token: Token, options: ImageOptions) -> None:
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


def background(options: ImageOptions, src: str, loc: SourceLoc) -> Background:
    """The `Background` of a `![bg …](src)` image."""
    return Background(
        src=src, alt=" ".join(options.words), size=_size_of_background(options),
        split=options.split, split_size=options.split_size, direction=options.direction,
        width=options.width, height=options.height, filters=tuple(options.filters), loc=loc)
