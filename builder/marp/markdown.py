"""Marp's Markdown: markdown-it configured as Marp CLI's, with marpit's and marp-core's own
rules ported as markdown-it-py plugins (HTML comments, `<style>`, math).
`builder.marp.parse` turns the tokens into slides.
"""

from __future__ import annotations

import re
import threading

from linkify_it import LinkifyIt  # type: ignore[import-untyped]
from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock, html_block
from markdown_it.rules_inline import StateInline
from mdit_py_plugins.front_matter import front_matter_plugin

__all__ = [
    "cannot_be_latex",
    "comment_plugin",
    "is_one_line_equation",
    "markdown",
    "math_plugin",
    "style_plugin",
]


_per_thread = threading.local()


def markdown() -> MarkdownIt:
    """The markdown-it parser configured as Marp CLI's (marp-core's `Marp` constructor):
    parse with it, and render tokens with its options. One per thread, because
    linkify-it keeps the state of its last match in the object; do not add rules to it
    (make your own `RendererHTML` for rendering)."""
    md: MarkdownIt | None = getattr(_per_thread, "markdown", None)
    if md is None:
        md = _per_thread.markdown = _new_markdown()
    return md


def _new_markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"breaks": True, "html": True, "linkify": True})
    md.enable(["table", "strikethrough", "linkify"])
    md.linkify = _SchemeLinkify()
    md.linkify.set({"fuzzy_link": False})  # as marp-core: only URLs with a scheme
    md.use(front_matter_plugin)
    md.use(comment_plugin)
    md.use(style_plugin)
    md.use(raw_text_plugin)
    md.use(math_plugin)
    return md


def comment_plugin(md: MarkdownIt) -> None:
    """marpit `comment.js`: HTML comments become hidden `marp_comment` tokens (block and
    inline), whatever the `html` option, with the stripped body in `content`."""
    md.block.ruler.before("html_block", "marp_comment", _comment_block)
    md.inline.ruler.before("html_inline", "marp_inline_comment", _comment_inline)


def raw_text_plugin(md: MarkdownIt) -> None:
    """A `<pre>`, `<script>` or `<textarea>` block that is never closed ends at the next
    slide break instead of running to the end of the sheet: CommonMark reads such a block
    up to its closing tag, so one left open swallowed every slide after it (Marp CLI
    prints one page). One closed further on is read as CommonMark says, across breaks."""
    md.block.ruler.before("html_block", "marp_raw_text", _raw_text_block)


def style_plugin(md: MarkdownIt) -> None:
    """marpit `style/parse.js`: `<style>` blocks become hidden `marp_style` tokens, the
    CSS in `content`, `meta["scoped"]` for `<style scoped>`."""
    md.block.ruler.before("html_block", "marp_style", _style_block)


def math_plugin(md: MarkdownIt) -> None:
    """marp-core `math.ts`: `math_inline` (`$…$`) and `math_block` (`$$…$$`) tokens. The
    block may interrupt a paragraph or a list (unlike mdit-py-plugins' dollarmath)."""
    md.block.ruler.after("blockquote", "math_block", _math_block,
                         {"alt": ["paragraph", "reference", "blockquote", "list"]})
    md.inline.ruler.after("escape", "math_inline", _math_inline)


class _SchemeLinkify(LinkifyIt):  # type: ignore[misc]
    """linkify-it's pretest is a large regular expression run on every text; without
    fuzzy links every link has `//` (a scheme) or `@` (an e-mail), so look for those first
    (a sixth of the parse time of the seed deck)."""

    def pretest(self, text: str) -> bool:
        return ("//" in text or "@" in text) and bool(super().pretest(text))


_COMMENT = re.compile(r"<!--+\s*([\s\S]*?)\s*--+>")
_STYLE = re.compile(r"<style([\s\S]*?)>([\s\S]*?)</style>", re.IGNORECASE)
_STYLE_OPEN = re.compile(r"^<style(?=(\s|>|$))", re.IGNORECASE)
_STYLE_CLOSE = re.compile(r"</style>", re.IGNORECASE)


def _html_like_block(state: StateBlock, start: int, end: int, silent: bool,
                     opening: re.Pattern[str], closing: re.Pattern[str]) -> int | None:
    """marpit's comment / style block rules: from an opening line to the first line
    holding the closing mark. Returns the line after the block, or None."""
    pos = state.bMarks[start] + state.tShift[start]
    if pos >= len(state.src) or state.src[pos] != "<":
        return None
    line = state.src[pos:state.eMarks[start]]
    if not opening.search(line):
        return None
    if silent:
        return start + 1
    next_line = start + 1
    if not closing.search(line):
        while next_line < end:
            if state.sCount[next_line] < state.blkIndent:
                break
            line = state.src[state.bMarks[next_line] + state.tShift[next_line]:
                             state.eMarks[next_line]]
            next_line += 1
            if closing.search(line):
                break
    return next_line


_RAW_TEXT_OPEN = re.compile(r"^<(pre|script|textarea)(?=\s|>|$)", re.IGNORECASE)
_SLIDE_BREAK = re.compile(r"^ {0,3}([-*_])(?: *\1){2,} *$")


def _raw_text_block(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    if state.sCount[start] - state.blkIndent >= 4:
        return False
    line = state.src[state.bMarks[start] + state.tShift[start]:state.eMarks[start]]
    opening = _RAW_TEXT_OPEN.match(line)
    if opening is None:
        return False
    closing = f"</{opening.group(1).lower()}>"
    if closing in state.src[state.bMarks[start]:].lower():
        return False  # closed somewhere: CommonMark's html_block reads it as written
    cut = next((number for number in range(start + 1, end)
                if _SLIDE_BREAK.match(state.src[state.bMarks[number]:state.eMarks[number]])),
               end)
    return bool(html_block(state, start, cut, silent))


_COMMENT_OPEN = re.compile(r"^<!--")
_COMMENT_CLOSE = re.compile(r"-->")


def _comment_block(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    next_line = _html_like_block(state, start, end, silent, _COMMENT_OPEN, _COMMENT_CLOSE)
    if next_line is None:
        return False
    if silent:
        return True
    state.line = next_line
    token = state.push("marp_comment", "", 0)
    token.map = [start, next_line]
    token.markup = state.getLines(start, next_line, state.blkIndent, True)
    token.hidden = True
    # The `-->` test first: the lazy pattern would rescan to the end from every `<!--`.
    match = _COMMENT.search(token.markup) if "-->" in token.markup else None
    token.content = match.group(1).strip() if match else ""
    token.meta = {"closed": match is not None}
    return True


def _style_block(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    next_line = _html_like_block(state, start, end, silent, _STYLE_OPEN, _STYLE_CLOSE)
    if next_line is None:
        return False
    if silent:
        return True
    state.line = next_line
    token = state.push("marp_style", "", 0)
    token.map = [start, next_line]
    token.markup = state.getLines(start, next_line, state.blkIndent, True)
    token.hidden = True
    match = _STYLE.search(token.markup) if _STYLE_CLOSE.search(token.markup) else None
    token.meta = {"scoped": False, "closed": match is not None}
    if match:
        token.content = match.group(2).strip()
        token.meta["scoped"] = re.search(r"\bscoped\b", match.group(1).strip(),
                                         re.IGNORECASE) is not None
    return True


def _comment_inline(state: StateInline, silent: bool) -> bool:
    pos = state.pos
    if pos + 2 >= state.posMax or state.src[pos] != "<" or state.src[pos + 1] != "!":
        return False
    if state.src.find("-->", pos) == -1:
        return False
    match = _COMMENT.match(state.src, pos)
    if not match:
        return False
    if not silent:
        token = state.push("marp_comment", "", 0)
        token.hidden = True
        token.markup = match.group(0)
        token.content = match.group(1).strip()
    state.pos = match.end()
    return True


def _math_delimiter(state: StateInline, pos: int) -> tuple[bool, bool]:
    """marp-core's `isValidDelim`: (can open, can close) at a `$`."""
    src = state.src
    prev = src[pos - 1] if pos > 0 else ""
    nxt = src[pos + 1] if pos + 1 < len(src) and pos + 1 <= state.posMax else ""
    openable = nxt not in (" ", "\t")
    closable = not (prev in (" ", "\t") or (nxt != "" and "0" <= nxt <= "9"))
    return openable, closable


def _math_inline(state: StateInline, silent: bool) -> bool:
    src, pos = state.src, state.pos
    if src[pos] != "$":
        return False

    def text(literal: str, new_pos: int) -> bool:
        if not silent:
            state.pending += literal
        state.pos = new_pos
        return True

    start = pos + 1
    if not _math_delimiter(state, pos)[0]:
        return text("$", start)
    match = start
    while True:
        match = src.find("$", match)
        if match == -1:
            break
        backslash = match - 1
        while backslash >= 0 and src[backslash] == "\\":
            backslash -= 1
        if (match - backslash) % 2 == 1:
            break
        match += 1
    if match == -1:
        return text("$", start)
    if match == start:  # `$$` inside a line is literal text in Marp
        return text("$$", start + 1)
    if not _math_delimiter(state, match)[1]:
        return text("$", start)
    if not silent:
        token = state.push("math_inline", "math", 0)
        token.markup = "$"
        token.content = src[start:match]
    state.pos = match + 1
    return True


# Lines that are Markdown, never part of an equation: blank (TeX ends a paragraph there),
# an ATX heading, a thematic break (`---` also breaks slides), a code fence, a comment.
_NOT_LATEX = re.compile(r"\s*$|#{1,6}(\s|$)|(-\s*){3,}$|(\*\s*){3,}$|(_\s*){3,}$|```|~~~|<!--"
                        r"|<style", re.IGNORECASE)


def cannot_be_latex(line: str) -> bool:
    """Whether a line (its indentation stripped) is Markdown that no equation holds:
    blank, a heading, `---`, a code fence, a comment. Marp's math runs over such lines
    only when a closing `$$` is missing, or (blank lines) when the writer means it."""
    return _NOT_LATEX.match(line) is not None


def is_one_line_equation(line: str) -> bool:
    """Whether a line (stripped) is a whole `$$…$$` equation. As the closing line of a
    block, or inside one, it is the sign of two equations run together."""
    return len(line) > 4 and line.startswith("$$") and line.endswith("$$") \
        and bool(line[2:-2].strip())


def _math_block(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """marp-core's `parseMathBlock`: `$$` at a line start up to a line ending in `$$`.
    `meta["closed"]` says whether a closing `$$` was found; `meta["suspect"]`, whether
    it runs over a line that `cannot_be_latex` or starts with `$$`, or ends at a one-line
    `$$…$$`: either may mean a missing closing `$$` (see `builder.marp.display_math`)."""
    src = state.src
    pos = state.bMarks[start] + state.tShift[start]
    line_end = state.eMarks[start]
    if pos + 2 > line_end or src[pos:pos + 2] != "$$":
        return False
    if silent:
        return True
    opening = pos
    pos += 2
    first_line = src[pos:line_end]
    last_line: str | None = None
    found = first_line.strip()[-2:] == "$$"
    closing = line_end
    if found:
        first_line = first_line.strip()[:-2]
        closing = src.rindex("$$", 0, line_end)
    next_line = start
    suspect = False
    while not found:
        next_line += 1
        if next_line >= end:
            break
        pos = state.bMarks[next_line] + state.tShift[next_line]
        line_end = state.eMarks[next_line]
        if pos < line_end and state.tShift[next_line] < state.blkIndent:
            break
        line = src[pos:line_end].strip()
        if line[-2:] == "$$":
            suspect = suspect or is_one_line_equation(line)
            found = True
            closing = src.rindex("$$", 0, line_end)
            last_line = src[pos:closing]
        elif not suspect:
            suspect = line.startswith("$$") or _NOT_LATEX.match(line) is not None
    state.line = min(next_line + 1, end)
    token = state.push("math_block", "math", 0)
    token.block = True
    token.map = [start, state.line]
    token.markup = "$$"
    content = f"{first_line}\n" if first_line.strip() else ""
    content += state.getLines(start + 1, next_line, state.tShift[start], True)
    if last_line is not None and last_line.strip():
        content += last_line
    token.content = content
    token.meta = {"tex": src[opening + 2:closing] if found else src[opening + 2:line_end],
                  "closed": found, "suspect": suspect}
    return True
