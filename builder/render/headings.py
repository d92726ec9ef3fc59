"""Heading ids as marp-core makes them (`slug.ts`), counted over the slides rendered."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote

from markdown_it.token import Token

from builder.marp import Slide


def slug_text(children: Sequence[Token]) -> str:
    """marp-core `slug.ts`: the text of text, code, images and raw HTML."""
    return "".join(child.content for child in children
                   if not child.hidden and child.type in ("text", "code_inline", "image",
                                                          "html_inline"))


_SLUG_DROP = re.compile(
    r"[\][!/'\"#$%&()*+,./:;<=>?@\\^{|}~`。，、；：？！…—·ˉ¨‘’“”々～‖∶＂＇｀｜〃〔〕〈〉《》「」『』．〖〗【】（）［］｛｝]")


def slug(text: str) -> str:
    """marp-core's default slugifier (`encodeURI` of the cleaned, lower-cased text)."""
    cleaned = _SLUG_DROP.sub("", re.sub(r"\s+", "-", text.strip().lower()))
    cleaned = re.sub(r"^-+|-+$", "", cleaned, count=1)
    return quote(cleaned, safe="-_.!~*'();/?:@&=+$,#")


def heading_slugs(slide: Slide) -> list[str]:
    """The slug of each heading of the slide, in order, as `heading_open` makes them."""
    tokens = slide.tokens
    return [slug(slug_text(tokens[position + 1].children or [])
                  if position + 1 < len(tokens) else "")
            for position, token in enumerate(tokens) if token.type == "heading_open"]


