"""Slides: the token stream cut where Marp cuts it (marpit `slide.js`,
`heading_divider.js`), each slide with its local and spot directives applied, its
comments, styles and `![bg]` images taken out of the tokens, and its content as plain
data (`builder.marp.content`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType

from markdown_it.token import Token

from builder.marp.content import SlideContent
from builder.marp.deck import Background, Comment, Slide
from builder.marp.directives import (
    MAGIC_COMMENTS,
    CommentToken,
    FrontMatter,
    apply_local_directives,
    broken_directives,
    warn_unknown_in_directives,
    warn_unknown_in_note,
)
from builder.marp.images import apply_image, background, image_options
from builder.marp.markdown import markdown
from builder.marp.raw_html import sanitize_html
from builder.marp.source import SheetSource

__all__ = ["RawSlide", "build_slide_run", "build_slides", "hidden_token",
           "mark_fitting_headings", "split_slides"]


@dataclass(slots=True)
class RawSlide:
    """A slide as cut from the token stream, before anything is resolved."""

    start_line: int
    """0-based first line of the slide's source."""
    tokens: list[Token]


def split_slides(tokens: Sequence[Token], levels: tuple[int, ...], *, first_line: int = 0,
                 after_break: bool = False) -> list[RawSlide]:
    """marpit `heading_divider.js` + `slide.js`: cut the token stream into slides at
    top-level `hr`s and before headings of the `levels` (`headingDivider`). `tokens` may
    be the part of a sheet after a top-level `hr` (`after_break`, from `first_line`)."""
    heading_tags = {f"h{level}" for level in levels}
    if tokens and tokens[0].type == "front_matter" and tokens[0].map:
        first_line = tokens[0].map[1]
    slides = [RawSlide(first_line, [])]
    seen_visible = after_break
    for token in tokens:
        if token.type == "hr" and token.level == 0:
            assert token.map is not None
            slides.append(RawSlide(token.map[1], []))
            seen_visible = True
            continue
        # Any heading, also one inside a list or a quote, as marpit does.
        if token.type == "heading_open" and token.tag in heading_tags and seen_visible:
            assert token.map is not None
            slides.append(RawSlide(token.map[0], []))
        if not hidden_token(token):
            seen_visible = True
        slides[-1].tokens.append(token)
    for slide in slides:
        slide.tokens = _balanced(slide.tokens)
    return slides


def build_slides(source: SheetSource, raw_slides: Sequence[RawSlide],
                 front_matter: FrontMatter | None,
                 comments: Sequence[CommentToken]) -> tuple[Slide, ...]:
    """marpit `marpit_directives_parse` / `apply`, then each slide's own content."""
    local: dict[str, str] = {}
    spot: dict[str, str] = {}
    if front_matter is not None:
        first = front_matter.line + 1
        apply_local_directives(source, front_matter.fields, local, spot, first,
                               first + len(source.lines))
    slides, _ = build_slide_run(source, raw_slides, comments, local=local, spot=spot,
                                page=0, index=0, end=len(source.lines))
    return tuple(slides)


def build_slide_run(source: SheetSource, raw_slides: Sequence[RawSlide],
                    comments: Sequence[CommentToken], *, local: dict[str, str],
                    spot: dict[str, str], page: int, index: int,
                    end: int) -> tuple[list[Slide], int]:
    """`build_slides` for a run of slides that ends at line `end` (0-based, exclusive),
    with the local directives, spot ones and page number in force before it; `local` is
    updated to those in force after it. Returns the slides and the last page number."""
    found = {id(comment.token): comment for comment in comments}
    header_cache: dict[str, tuple[Token, ...]] = {}
    slides: list[Slide] = []
    for number, raw in enumerate(raw_slides):
        slide_comments = tuple(_comment(source, token, found.get(id(token)), raw, local, spot)
                               for token in _walk(raw.tokens) if token.type == "marp_comment")
        directives = {**local, **spot}
        spot = {}
        paginate_value = directives.get("paginate", "false")
        if paginate_value not in ("skip", "hold"):
            page += 1
        shown = paginate_value in ("true", "hold")
        if shown and page <= 0:
            page = 1
        end_line = raw_slides[number + 1].start_line if number + 1 < len(raw_slides) \
            else end
        slides.append(_slide(source, index + number, raw, end_line, directives, page, shown,
                             slide_comments, header_cache))
    return slides, page


def _comment(source: SheetSource, token: Token, found: CommentToken | None, raw: RawSlide,
             local: dict[str, str], spot: dict[str, str]) -> Comment:
    """A comment of the slide: its local directives applied (to `local` and `spot`), its
    doubtful keys warned about."""
    line, fields = (found.line, found.fields) if found is not None else (raw.start_line, None)
    recognized = bool(token.meta.get("directive"))
    end = line + 1 + token.markup.count("\n")
    if fields and apply_local_directives(source, fields, local, spot, line, end):
        recognized = True
    if fields and recognized:
        warn_unknown_in_directives(source, fields, line, end)
    elif fields:
        warn_unknown_in_note(source, fields, line)
    elif (problem := broken_directives(token.content)) is not None:
        source.warn(line, f"comment not read as directives (Marp shows it as a note): "
                          f"{problem}")
    magic = any(pattern.match(token.content) for pattern in MAGIC_COMMENTS)
    return Comment(loc=source.loc(line), text=token.content,
                   fields=MappingProxyType(fields) if fields is not None else None,
                   directive=recognized or magic)


def _slide(source: SheetSource, index: int, raw: RawSlide, end_line: int,
           directives: dict[str, str], page: int, paginate: bool,
           comments: tuple[Comment, ...], header_cache: dict[str, tuple[Token, ...]]) -> Slide:
    scoped: list[str] = []
    backgrounds: list[Background] = []
    body = _clean(source, raw.tokens, scoped, backgrounds)
    loc_line = next((token.map[0] for token in raw.tokens
                     if token.map and token.type != "front_matter"), raw.start_line)
    text = "\n".join(source.lines[raw.start_line:end_line])
    if end_line < len(source.lines):
        text += "\n"

    def inline(value: str | None) -> tuple[Token, ...]:
        if not value:
            return ()
        if value not in header_cache:
            tokens = markdown().parseInline(value, {})
            for token in _walk(tokens):
                if token.type == "html_inline":  # as in the body: Marp's allowlist
                    _sanitize(token)
            header_cache[value] = tuple(tokens)
        return header_cache[value]

    header, footer = directives.get("header") or None, directives.get("footer") or None
    content = SlideContent(body, source.loc(loc_line))
    return Slide(
        index=index,
        loc=source.loc(loc_line),
        source=text,
        tokens=tuple(body),
        # marpit writes only truthy values (no `paginate: false`, no empty header).
        directives=MappingProxyType({key: value for key, value in directives.items()
                                     if value and not (key == "paginate"
                                                       and value == "false")}),
        classes=tuple(directives.get("class", "").split()),
        paginate=paginate,
        page=page,
        header=header,
        footer=footer,
        header_tokens=inline(header),
        footer_tokens=inline(footer),
        background_color=directives.get("backgroundColor") or None,
        background_image=directives.get("backgroundImage") or None,
        background_position=directives.get("backgroundPosition") or None,
        background_repeat=directives.get("backgroundRepeat") or None,
        background_size=directives.get("backgroundSize") or None,
        color=directives.get("color") or None,
        scoped_css=tuple(scoped),
        notes=tuple(c.text for c in comments if not c.directive),
        comments=comments,
        backgrounds=tuple(backgrounds),
        end_line=max(end_line, loc_line + 1),
        headings=tuple(content.headings),
        equations=tuple(content.equations),
        code_blocks=tuple(content.code_blocks),
        images=tuple(content.images),
        has_diagram=content.has_diagram,
        inline_math=tuple(content.inline_math),
    )


def _clean(source: SheetSource, tokens: list[Token], scoped: list[str],
           backgrounds: list[Background]) -> list[Token]:
    """Drop comments and styles, resolve images, sweep emptied paragraphs
    (marpit `sweep.js`)."""
    kept: list[Token] = []
    for token in tokens:
        if token.type in ("front_matter", "marp_comment"):
            continue
        if token.type == "marp_style":
            if token.meta.get("scoped") and token.content:
                scoped.append(token.content)
            continue
        if token.type == "inline" and token.children is not None:
            token.children = _clean_inline(source, token, backgrounds)
        elif token.type == "html_block":
            _sanitize(token)
        kept.append(token)
    return _sweep(kept)


def _clean_inline(source: SheetSource, inline: Token,
                  backgrounds: list[Background]) -> list[Token]:
    children: list[Token] = []
    line = inline.map[0] if inline.map else 0
    for child in inline.children or ():
        if child.type in ("softbreak", "hardbreak"):
            line += 1
        if child.type == "marp_comment":
            continue
        if child.type == "html_inline":
            _sanitize(child)
        if child.type == "image":
            options = image_options(child.content)
            src = str(child.attrGet("src") or "")
            if options.background:
                if src.strip():  # marpit hides a `![bg]()` but draws nothing
                    backgrounds.append(background(options, src, source.loc(line)))
                continue
            apply_image(child, options)
            child.meta = {**(child.meta or {}), "line": line + 1}
        children.append(child)
    return children


def mark_fitting_headings(tokens: Sequence[Token]) -> None:
    """marp-core's fitting header: `# <!-- fit --> Title` scales the heading to the slide
    width. The heading gets `meta["fit"]`; the comment is no presenter note."""
    for index, token in enumerate(tokens[:-1]):
        if token.type != "heading_open":
            continue
        for child in tokens[index + 1].children or ():
            if child.type == "marp_comment" and child.content == "fit":
                child.meta = {**(child.meta or {}), "directive": True}
                token.meta = {**(token.meta or {}), "fit": True}


def _sanitize(token: Token) -> None:
    token.meta = {**(token.meta or {}), "raw": token.content}
    token.content = sanitize_html(token.content)


def _balanced(tokens: list[Token]) -> list[Token]:
    """A slide cut inside a list or a quote (a divided heading there): Marp's HTML then
    has open tags that the browser closes at `</section>` and stray closing tags that it
    drops. Do the same to the tokens, so that every slide's tokens nest."""
    result: list[Token] = []
    open_tokens: list[Token] = []
    for token in tokens:
        if token.nesting == 1:
            open_tokens.append(token)
        elif token.nesting == -1:
            if not open_tokens or open_tokens[-1].tag != token.tag:
                continue
            open_tokens.pop()
        result.append(token)
    for opener in reversed(open_tokens):
        closer = Token(opener.type.removesuffix("_open") + "_close", opener.tag, -1)
        closer.level, closer.block, closer.hidden = opener.level, opener.block, opener.hidden
        result.append(closer)
    return result


def _walk(tokens: Sequence[Token]) -> list[Token]:
    found: list[Token] = []
    for token in tokens:
        found.append(token)
        if token.type == "inline" and token.children:
            found.extend(token.children)
    return found


def hidden_token(token: Token) -> bool:
    """What marpit counts as hidden when deciding whether a heading needs a new slide."""
    if token.type in ("front_matter", "marp_comment", "marp_style"):
        return True
    if token.type == "html_block":
        return not token.content.strip()
    if token.type == "inline":
        return _blank_inline(token)
    return False


def _blank_inline(token: Token) -> bool:
    for child in token.children or ():
        if child.type in ("softbreak", "marp_comment"):
            continue
        if child.type == "image" and "bg" in child.content.split():
            continue
        if child.type != "text" or child.content.strip():
            return False
    return True


def _sweep(tokens: list[Token]) -> list[Token]:
    """Remove paragraphs whose inline content is gone (a directive comment or a `![bg]`
    alone on its lines) and blank inline tokens, as marpit hides them."""
    result: list[Token] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if (token.type == "paragraph_open" and i + 2 < len(tokens)
                and tokens[i + 1].type == "inline" and tokens[i + 2].type == "paragraph_close"
                and _blank_inline(tokens[i + 1])):
            i += 3
            continue
        if token.type == "html_block" and not token.content.strip():
            i += 1
            continue
        result.append(token)
        i += 1
    return result
