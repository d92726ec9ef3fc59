"""Fenced code: Pygments' highlighting and its token colours."""

from __future__ import annotations

import functools
import html
import re

from markdown_it.token import Token


def fence_language(token: Token) -> str:
    return token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""


@functools.lru_cache(maxsize=512)
def highlight(code: str, language: str) -> str:
    if not language or language.lower() == "mermaid":
        return html.escape(code)
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(language)
    except ClassNotFound:
        return html.escape(code)
    return str(highlight(code, lexer, HtmlFormatter(nowrap=True)))


@functools.cache
def code_css() -> str:
    from pygments.formatters import HtmlFormatter

    # Token colours only: the theme decides the block's background, font and padding.
    rules = HtmlFormatter(style="default").get_style_defs(  # type: ignore[no-untyped-call]
        "div.marpit > section pre code")
    return "\n".join(line for line in rules.splitlines()
                     if re.match(r"div\.marpit > section pre code \.\w", line))


