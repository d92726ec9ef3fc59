"""Heading ids as marp-core makes them (`slug.ts`), counted over the slides rendered."""

from __future__ import annotations

import functools
import re
from urllib.parse import quote

from builder.marp import Slide, slug_text, slug_texts

__all__ = ["heading_slugs", "slug", "slug_text"]


_SLUG_DROP = re.compile(
    r"[\][!/'\"#$%&()*+,./:;<=>?@\\^{|}~`。，、；：？！…—·ˉ¨‘’“”々～‖∶＂＇｀｜〃〔〕〈〉《》「」『』．〖〗【】（）［］｛｝]")


@functools.lru_cache(maxsize=4096)
def slug(text: str) -> str:
    """marp-core's default slugifier (`encodeURI` of the cleaned, lower-cased text)."""
    cleaned = _SLUG_DROP.sub("", re.sub(r"\s+", "-", text.strip().lower()))
    cleaned = re.sub(r"^-+|-+$", "", cleaned, count=1)
    return quote(cleaned, safe="-_.!~*'();/?:@&=+$,#")


def heading_slugs(slide: Slide) -> list[str]:
    """The slug of each heading of the slide, in order, as `heading_open` makes them."""
    return [slug(text) for text in slug_texts(slide)]


