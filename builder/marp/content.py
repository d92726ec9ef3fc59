"""What later stages read of a slide's content, taken from its tokens once, as plain data
(`Slide.headings`, `equations`, `code_blocks`, `images`, `has_diagram`): outside
`builder.marp`, only the renderer reads tokens."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from markdown_it.token import Token

from builder.marp.deck import CodeBlock, Heading
from builder.model import Equation, SourceLoc

__all__ = ["SlideContent", "heading_slug_texts", "heading_text", "slug_text"]


def heading_text(children: Sequence[Token], *, math_delimiter: str = "$") -> str:
    """A heading's inline tokens as a reader sees them: text, inline code and images' alt
    text; inline math as its TeX between `math_delimiter`s; raw HTML tags left out; line
    breaks as spaces, runs of white space as one."""
    pieces: list[str] = []
    for child in children:
        if child.type in ("text", "code_inline"):
            pieces.append(child.content)
        elif child.type == "math_inline":
            pieces.append(f"{math_delimiter}{child.content}{math_delimiter}")
        elif child.type in ("softbreak", "hardbreak"):
            pieces.append(" ")
        elif child.type == "image":
            pieces.append(heading_text(child.children or (), math_delimiter=math_delimiter))
    return " ".join("".join(pieces).split())


def slug_text(children: Sequence[Token]) -> str:
    """What a heading's id is made from (marp-core `slug.ts`): the text of its text, code,
    images and raw HTML."""
    return "".join(child.content for child in children
                   if not child.hidden and child.type in ("text", "code_inline", "image",
                                                          "html_inline"))


def heading_slug_texts(tokens: Sequence[Token]) -> list[str]:
    """`slug_text` of each heading among `tokens` (a slide's body), in order."""
    return [slug_text(tokens[position + 1].children or []) if position + 1 < len(tokens)
            else "" for position, token in enumerate(tokens) if token.type == "heading_open"]


# The mark that the renderer's HTML of a diagram has: ```mermaid fences become such a
# div, and raw HTML may hold one (cut down to Marp's allowlist, which keeps `class`).
_DIAGRAM_HTML = re.compile(r'<div class="[^"]*\bmermaid\b')


class SlideContent:
    """The plain data of one slide's body tokens (as `Slide` holds them: comments gone,
    images resolved, raw HTML cut down)."""

    def __init__(self, tokens: Sequence[Token], location: SourceLoc) -> None:
        self.headings: list[Heading] = []
        self.equations: list[Equation] = []
        self.code_blocks: list[CodeBlock] = []
        self.images: list[str] = []
        self.inline_math: list[Equation] = []
        self.has_diagram = False
        path = location.path
        for index, token in enumerate(tokens):
            if token.type == "inline" and token.map and token.children:
                self.inline_math.extend(_inline_math(token.children, path, token.map[0] + 1))
            if token.type == "heading_open" and token.map:
                inline = tokens[index + 1] if index + 1 < len(tokens) else None
                children = (inline.children or []) if inline and inline.type == "inline" else []
                self.headings.append(Heading(
                    level=int(token.tag[1:]), text=heading_text(children),
                    plain=heading_text(children, math_delimiter=""),
                    loc=SourceLoc(path, token.map[0] + 1)))
            elif token.type == "math_block" and token.map:
                tex = str(token.meta.get("tex", token.content)) if token.meta else token.content
                self.equations.append(Equation(tex=tex, loc=SourceLoc(path, token.map[0] + 1)))
            elif token.type == "fence":
                line = token.map[0] + 1 if token.map else location.line
                language = token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""
                self.code_blocks.append(CodeBlock(language, token.content, SourceLoc(path, line)))
                self.has_diagram = self.has_diagram or language.lower() == "mermaid"
            elif token.type == "html_block":
                self.has_diagram = self.has_diagram or _is_diagram_html(token.content)
        for token in _descendants(tokens):
            if token.type == "image" and token.attrs.get("src"):
                self.images.append(str(token.attrs["src"]))
            elif token.type == "html_inline":
                self.has_diagram = self.has_diagram or _is_diagram_html(token.content)


def _inline_math(children: Sequence[Token], path: Path, line: int) -> list[Equation]:
    """The `$…$` spans of one block's inline tokens, each at its line (the block's first
    line plus the line breaks before it)."""
    found: list[Equation] = []
    for child in children:
        if child.type == "math_inline":
            tex = str(child.meta.get("tex", child.content)) if child.meta else child.content
            found.append(Equation(tex=tex, loc=SourceLoc(path, line)))
        if child.type in ("softbreak", "hardbreak"):
            line += 1
        else:
            line += child.content.count("\n")
    return found


def _is_diagram_html(html: str) -> bool:
    return "mermaid" in html and _DIAGRAM_HTML.search(html) is not None


def _descendants(tokens: Sequence[Token]) -> Iterator[Token]:
    """Every token and, depth first, its children (inline content, images' alt text)."""
    for token in tokens:
        yield token
        if token.children:
            yield from _descendants(token.children)
