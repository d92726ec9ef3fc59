"""Incremental parse: a sheet edited in one place is parsed again in that place only.

A top-level `hr` (`---`) leaves markdown-it at the top level with nothing open, so what
follows it parses the same whatever came before; so does a top-level ATX heading (`## `),
which ends any block before it. The sheet is cut into *chunks*, each ending with such a
break or before a heading that `headingDivider` makes one (the last chunk at the end of
the sheet): a chunk is a run of whole slides. Each chunk keeps
what was made of it (its slides, warnings, global directives, unscoped `<style>`s) and
the local directives and page number in force before and after it.

`reparse(previous, text)` compares `text` with the text `previous` was parsed from (line
by line, from both ends), parses the lines from the start of the first chunk the edit
touches to the end of the last one, and keeps the chunks before as they are and those
after with their lines, slide indices and page numbers moved. The reparsed part must end
with a top-level break where the old chunk did, or before the same heading, still one at
the top level (else everything after it is parsed again); an edit of the heading a chunk
starts with parses the chunk before it too. A chunk after the edit whose inherited local
directives differ is parsed again.
Global directives, `headingDivider` and the deck's fields are assembled from the chunks.

What one chunk cannot decide alone parses the whole sheet (`parse_text`): link reference
definitions (they hold for the whole sheet), display math that is not closed and
unclosed comments or `<style>`s (they may run to the end of the sheet), and a change of
`headingDivider`. Display math that may be misread is checked across the whole sheet's
lines, as `parse_text` does. The result always equals `parse_text(text, path)`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import operator
import pickle
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from markdown_it.token import Token

from builder.atomic import atomic_path
from builder.marp.content import heading_slug_texts
from builder.marp.deck import Deck, Heading, Slide
from builder.marp.directives import (
    CommentToken,
    FrontMatter,
    apply_local_directives,
    find_comments,
    global_directives,
    read_front_matter,
)
from builder.marp.display_math import check_display_math
from builder.marp.markdown import markdown
from builder.marp.parse import (
    assemble_deck,
    divided_levels,
    parse_text,
    paused_collection,
    read_sheet,
)
from builder.marp.slides import (
    build_slide_run,
    hidden_token,
    mark_fitting_headings,
    split_slides,
)
from builder.marp.source import SheetSource
from builder.model import Diagnostic, Equation, SourceLoc
from builder.resources import libraries_digest, package_digest, sealed, unsealed

__all__ = ["Unparsed", "is_unparsed", "load_parse", "parse_kept", "parsed_in_full",
           "reparse", "save_parse", "slug_texts"]

# The order of `parse_text`'s steps, which decides the order of warnings on one line.
_FRONT_MATTER, _DISPLAY_MATH, _GLOBAL, _SLIDES = 0, 1, 3, 4


@dataclass(slots=True)
class _Chunk:
    """The lines `start`..`end` (0-based, end exclusive) and what was made of them."""

    start: int
    end: int
    tokens: list[Token]
    """Its markdown-it tokens while it is being parsed; emptied once its slides are made."""
    comments: list[CommentToken]
    """Its comments, the same while it is being parsed."""
    front_matter: FrontMatter | None
    globals_: dict[str, Any]
    global_locs: dict[str, SourceLoc]
    styles: list[str]
    diagnostics: list[tuple[int, Diagnostic]]
    """Its warnings, each with the step of `parse_text` that gives it."""
    local_in: dict[str, str]
    page_in: int
    index_in: int
    local_out: dict[str, str]
    page_out: int
    slides: tuple[Slide, ...] = ()
    at_heading: bool = False
    """Whether it starts at a heading that `headingDivider` makes a slide break (else
    after a top-level break, or at the start of the sheet)."""
    suspect_math: bool = False
    """Whether it has display math that may be misread (`check_display_math`)."""
    body_start: int = 0
    """The line after the front matter (in the first chunk)."""


@dataclass(frozen=True, slots=True)
class _State:
    """What `reparse` keeps of a deck it made."""

    lines: tuple[str, ...]
    chunks: tuple[_Chunk, ...]
    levels: tuple[int, ...]


# Decks made by `reparse`, by id, with the deck itself (so that the id stays its own).
_states: dict[int, tuple[Deck, _State]] = {}
_states_lock = threading.Lock()
_KEPT = 4


class _WholeSheet(Exception):
    """The edit cannot be parsed on its own: parse the whole sheet."""


def reparse(previous: Deck | None, text: str, path: Path | None = None) -> Deck:
    """The deck of `text`, equal to `parse_text(text, path)`, parsing again only the
    part that changed since `previous` (a deck this function or `parse_text` made of the
    same sheet; None: parse it all). `path` defaults to `previous.path`. Raises
    `BuildError` as `parse_text` does."""
    with paused_collection():
        return _reparse(previous, text, path)


def _reparse(previous: Deck | None, text: str, path: Path | None) -> Deck:
    if path is None:
        if previous is None:
            raise ValueError("reparse needs a path without a previous deck")
        path = previous.path
    source = SheetSource(text, path)
    with _states_lock:  # the least recently used deck is forgotten first
        kept = _states.pop(id(previous), None) if previous is not None else None
        if kept is not None:
            _states[id(previous)] = kept
    state: _State | None = None
    try:
        if kept is not None and kept[0] is previous and previous.path == path:
            if kept[1].lines == tuple(source.lines):
                return previous
            state = _incremental(source, kept[1])
        else:
            state = _whole(source)
    except _WholeSheet:
        state = None
    if state is None or (any(chunk.suspect_math for chunk in state.chunks) and any(
            is_unparsed(slide) for chunk in state.chunks for slide in chunk.slides)):
        # (Display math that may be misread is checked over every slide's math tokens.)
        return parse_text(text, path)
    deck = _assemble(source, state)
    _remember(deck, state)
    return deck


def _remember(deck: Deck, state: _State) -> None:
    with _states_lock:
        while len(_states) >= _KEPT:
            del _states[next(iter(_states))]
        _states[id(deck)] = (deck, state)
        if any(map(is_unparsed, deck.slides)) and id(deck) not in _texts:
            _texts[id(deck)] = state.lines
            weakref.finalize(deck, _texts.pop, id(deck), None)


# The lines of each living deck made with `Unparsed` slides, for `parsed_in_full`: kept
# as long as the deck is (it cannot be rendered without them), and no longer (a daemon
# makes such a deck at every run).
_texts: dict[int, tuple[str, ...]] = {}


def parse_kept(path: Path, folder: Path) -> Deck:
    """The sheet at `path` (`read_sheet`), parsed again only where it changed since its
    last parse: this process's own when it has one (`sheets daemon`), else the one kept
    in `folder` (`load_parse`), which is replaced (costlier than parsing a few slides)
    once the slides parsed again since it was kept are many. Its slides' tokens may be
    `Unparsed`: the renderer asks `parsed_in_full` for them only if it needs them."""
    name = hashlib.blake2b(str(path.absolute()).encode(), digest_size=16).hexdigest()
    kept = folder / f"{name}.pickle"
    with _states_lock:
        in_memory = _latest.pop(kept, None)
    previous = in_memory if in_memory is not None else load_parse(kept, path)
    deck = reparse(previous, read_sheet(path), path)
    with _states_lock:  # the least recently parsed sheet is forgotten first
        while len(_latest) >= _KEPT:
            del _latest[next(iter(_latest))]
        _latest[kept] = deck
    if in_memory is None and (previous is None or sum(
            not is_unparsed(slide) for slide in deck.slides) > _PARSED_BEFORE_KEEPING):
        save_parse(deck, kept)
    return deck


_latest: dict[Path, Deck] = {}
"""The last deck `parse_kept` made of each sheet, by its kept parse's file."""
_PARSED_BEFORE_KEEPING = 24
"""How many slides a run may parse again (those the edits since the kept parse reach)
before it keeps its own parse for the next run."""


# --------------------------------------------------------------------------- chunks

def _tokenize(source: SheetSource, start: int, end: int) -> list[Token]:
    """The tokens of lines `start`..`end`, as the whole sheet's parse gives them when
    `start` follows a top-level break (or is 0)."""
    lines = source.lines[start:end]
    if start == 0:
        text = "\n".join(lines)
        shift = 0
    else:  # a blank line first: a `---` on the first line is no front matter
        text = "\n" + "\n".join(lines)
        shift = start - 1
    env: dict[str, Any] = {}
    tokens = markdown().parse(text, env)
    if env.get("references"):
        raise _WholeSheet
    if shift:
        for token in tokens:
            if token.map:
                token.map = [token.map[0] + shift, token.map[1] + shift]
    return tokens


def _cut(tokens: list[Token], start: int, end: int, *, levels: tuple[int, ...],
         at_heading: bool, ends: str) -> list[_Chunk]:
    """The chunks of the tokens of lines `start`..`end` (which start at a divided
    heading if `at_heading`): each ends after a top-level break or before a top-level
    ATX heading of the `levels` that starts a slide. The lines end: at the end of the
    sheet (`ends="sheet"`), after a top-level break (`"break"`), or before such a heading
    (`"heading"`, not among the tokens); else `_WholeSheet`."""
    heading_tags = {f"h{level}" for level in levels}
    chunks: list[_Chunk] = []
    pieces: list[Token] = []
    first, heading_first = start, at_heading
    seen_visible = start > 0 and not at_heading  # as `split_slides` counts it
    for token in tokens:
        if token.type == "heading_open" and token.level == 0 and seen_visible \
                and token.tag in heading_tags and token.markup.startswith("#"):
            assert token.map is not None
            chunks.append(_new_chunk(first, token.map[0], pieces, heading_first))
            first, pieces, heading_first = token.map[0], [], True
        pieces.append(token)
        if not hidden_token(token):
            seen_visible = True
        if token.type == "hr" and token.level == 0:
            assert token.map is not None
            chunks.append(_new_chunk(first, token.map[1], pieces, heading_first))
            first, pieces, heading_first = token.map[1], [], False
    if ends == "sheet" or (ends == "heading" and seen_visible):
        chunks.append(_new_chunk(first, end, pieces, heading_first))
    elif ends == "heading" or pieces or first != end:
        raise _WholeSheet  # the edit carried a block over the old break
    return chunks


def _chunks(source: SheetSource, start: int, end: int, *, levels: tuple[int, ...],
            at_heading: bool, ends: str) -> list[_Chunk]:
    """`_cut` of the lines `start`..`end` as the whole sheet parses them. Before a
    heading (`ends="heading"`), the heading's line is parsed with them: unless it is
    still a heading at the top level, the lines before it run on into it."""
    if ends != "heading" or end >= len(source.lines):
        return _cut(_tokenize(source, start, end), start, end, levels=levels,
                    at_heading=at_heading, ends="sheet" if end >= len(source.lines)
                    else ends)
    tokens = _tokenize(source, start, end + 1)
    cut = next((number for number, token in enumerate(tokens)
                if token.type == "heading_open" and token.level == 0 and token.map
                and token.map[0] == end), None)
    if cut is None:
        raise _WholeSheet
    return _cut(tokens[:cut], start, end, levels=levels, at_heading=at_heading, ends=ends)


def _new_chunk(start: int, end: int, tokens: list[Token], at_heading: bool) -> _Chunk:
    return _Chunk(start, end, tokens, [], None, {}, {}, [], [], {}, 0, 0, {}, 0,
                  at_heading=at_heading)


def _read(source: SheetSource, chunk: _Chunk) -> None:
    """What a chunk says for the whole sheet: front matter, global directives, styles."""
    tokens = chunk.tokens
    mark = len(source.diagnostics)
    if chunk.start == 0:
        chunk.front_matter = read_front_matter(source, tokens)
    chunk.diagnostics = [(_FRONT_MATTER, d) for d in source.diagnostics[mark:]]
    mark_fitting_headings(tokens)
    for token in tokens:
        if token.type == "math_block" and not token.meta["closed"]:
            raise _WholeSheet
        if token.type == "math_block" and token.meta["suspect"]:
            chunk.suspect_math = True
        if token.type == "front_matter" and token.map:
            chunk.body_start = token.map[1]
        if token.type in ("marp_comment", "marp_style") \
                and not token.meta.get("closed", True):
            raise _WholeSheet
    comments = find_comments(tokens)
    mark = len(source.diagnostics)
    chunk.globals_, chunk.global_locs = global_directives(source, chunk.front_matter, comments)
    chunk.diagnostics += [(_GLOBAL, d) for d in source.diagnostics[mark:]]
    chunk.styles = [token.content for token in tokens if token.type == "marp_style"
                    and not token.meta.get("scoped") and token.content]
    chunk.comments = comments


def _build(source: SheetSource, chunk: _Chunk, levels: tuple[int, ...],
           local: dict[str, str], page: int, index: int) -> None:
    """A chunk's slides, with the local directives, page and index in force before it."""
    comments, chunk.comments = chunk.comments, []
    tokens = chunk.tokens
    if tokens and tokens[-1].type == "hr" and tokens[-1].level == 0:
        tokens = tokens[:-1]
    chunk.local_in, chunk.page_in, chunk.index_in = dict(local), page, index
    mark = len(source.diagnostics)
    local = dict(local)
    spot: dict[str, str] = {}
    if chunk.front_matter is not None:
        first = chunk.front_matter.line + 1
        apply_local_directives(source, chunk.front_matter.fields, local, spot, first,
                               first + len(source.lines))
    raw = split_slides(tokens, levels, first_line=chunk.start,
                       after_break=chunk.start > 0 and not chunk.at_heading)
    slides, page = build_slide_run(source, raw, comments, local=local, spot=spot, page=page,
                                   index=index, end=chunk.end)
    chunk.diagnostics += [(_SLIDES, d) for d in source.diagnostics[mark:]]
    chunk.slides = tuple(slides)
    chunk.local_out, chunk.page_out = local, page
    chunk.tokens = []


def _levels(chunks: Sequence[_Chunk]) -> tuple[int, ...]:
    values: dict[str, Any] = {}
    for chunk in chunks:
        values.update(chunk.globals_)
    return divided_levels(values.get("headingDivider", False))


def _whole(source: SheetSource) -> _State:
    end = len(source.lines)
    tokens = _tokenize(source, 0, end)
    chunks = _cut(tokens, 0, end, levels=(), at_heading=False, ends="sheet")
    for chunk in chunks:
        _read(source, chunk)
    levels = _levels(chunks)
    if levels:  # the divided headings are slide breaks too: cut there as well
        chunks = _cut(tokens, 0, end, levels=levels, at_heading=False, ends="sheet")
        for chunk in chunks:
            _read(source, chunk)
    local: dict[str, str] = {}
    page = index = 0
    for chunk in chunks:
        _build(source, chunk, levels, local, page, index)
        local, page, index = chunk.local_out, chunk.page_out, index + len(chunk.slides)
    return _State(tuple(source.lines), tuple(chunks), levels)


def _incremental(source: SheetSource, old: _State) -> _State:
    new_lines = source.lines
    old_lines = old.lines
    limit = min(len(old_lines), len(new_lines))
    prefix = 0
    while prefix < limit and old_lines[prefix] == new_lines[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old_lines[-1 - suffix] == new_lines[-1 - suffix]:
        suffix += 1
    delta = len(new_lines) - len(old_lines)
    chunks = old.chunks
    # The first chunk the edit touches (an edit on a chunk's first line touches it),
    # and the last: the first whose end is at or past the old lines that changed.
    first = max((number for number, chunk in enumerate(chunks) if chunk.start <= prefix),
                default=0)
    # A heading that starts a chunk ends the one before only while it stays a heading.
    while first > 0 and chunks[first].at_heading and chunks[first].start >= prefix:
        first -= 1
    last = next((number for number, chunk in enumerate(chunks)
                 if number >= first and chunk.end >= len(old_lines) - suffix),
                len(chunks) - 1)
    start = chunks[first].start
    end = chunks[last].end + delta
    if start == 0 and end == 0:  # the first chunk was deleted: the next one is first
        last += 1
        end = chunks[last].end + delta if last < len(chunks) else len(new_lines)
    to_end = last >= len(chunks) - 1 or end >= len(new_lines)
    if to_end:
        last, end = len(chunks) - 1, len(new_lines)
    at_heading = chunks[first].at_heading
    try:
        fresh = _chunks(source, start, end, levels=old.levels, at_heading=at_heading,
                        ends=_ends(chunks, last)) if end > start else []
    except _WholeSheet:
        if to_end:
            raise
        last, end = len(chunks) - 1, len(new_lines)
        fresh = _chunks(source, start, end, levels=old.levels, at_heading=at_heading,
                        ends="sheet")
    for chunk in fresh:
        _read(source, chunk)
    after = list(chunks[last + 1:])
    levels = _levels([*chunks[:first], *fresh, *after])
    if levels != old.levels:
        raise _WholeSheet
    before = chunks[:first]
    if before:
        local, page = before[-1].local_out, before[-1].page_out
        index = before[-1].index_in + len(before[-1].slides)
    else:
        local, page, index = {}, 0, 0
    for chunk in fresh:
        _build(source, chunk, levels, local, page, index)
        local, page, index = chunk.local_out, chunk.page_out, index + len(chunk.slides)
    moved: list[_Chunk] = []
    for number, chunk in enumerate(after):
        if chunk.local_in != local or not _pages_follow(chunk.page_in, page):
            # Inherits other local directives: parse it (and what follows) again.
            again = _chunks(source, chunk.start + delta, chunk.end + delta, levels=levels,
                            at_heading=chunk.at_heading, ends=_ends(after, number))
            for redo in again:
                _read(source, redo)
                _build(source, redo, levels, local, page, index)
                local, page, index = redo.local_out, redo.page_out, index + len(redo.slides)
            moved.extend(again)
            continue
        shifted = _shift(chunk, delta, index - chunk.index_in, page - chunk.page_in)
        moved.append(shifted)
        local, page, index = shifted.local_out, shifted.page_out, index + len(shifted.slides)
    return _State(tuple(new_lines), (*before, *fresh, *moved), levels)


def _ends(chunks: Sequence[_Chunk], number: int) -> str:
    """How chunk `number` ends (`_cut`'s `ends`)."""
    if number >= len(chunks) - 1:
        return "sheet"
    return "heading" if chunks[number + 1].at_heading else "break"


def _pages_follow(old: int, new: int) -> bool:
    """Whether the page numbers of a chunk move by `new - old` when its slides follow
    page `new` rather than `old` (they do unless a page was 0: then the first shown
    page is 1 rather than one more)."""
    return old == new or (old >= 1 and new >= 1)


# --------------------------------------------------------------------------- moving

def _shift(chunk: _Chunk, lines: int, indices: int, pages: int) -> _Chunk:
    if not (lines or indices or pages):
        return chunk
    return replace(
        chunk, start=chunk.start + lines, end=chunk.end + lines,
        global_locs={key: _loc(loc, lines) for key, loc in chunk.global_locs.items()},
        diagnostics=[(step, Diagnostic(_loc(d.loc, lines), d.message, d.severity))
                     for step, d in chunk.diagnostics],
        page_in=chunk.page_in + pages, index_in=chunk.index_in + indices,
        page_out=chunk.page_out + pages,
        slides=tuple(_shift_slide(slide, lines, indices, pages) for slide in chunk.slides))


def _loc(loc: SourceLoc, lines: int) -> SourceLoc:
    return SourceLoc(loc.path, loc.line + lines) if lines else loc


def _shift_slide(slide: Slide, lines: int, indices: int, pages: int) -> Slide:
    if not lines:
        return replace(slide, index=slide.index + indices, page=slide.page + pages)
    return replace(
        slide,
        index=slide.index + indices,
        page=slide.page + pages,
        loc=_loc(slide.loc, lines),
        tokens=slide.tokens if is_unparsed(slide)
        else tuple(_shift_token(token, lines) for token in slide.tokens),
        comments=tuple(replace(c, loc=_loc(c.loc, lines)) for c in slide.comments),
        backgrounds=tuple(replace(b, loc=_loc(b.loc, lines)) for b in slide.backgrounds),
        end_line=slide.end_line + lines,
        headings=tuple(Heading(h.level, h.text, h.plain, _loc(h.loc, lines))
                       for h in slide.headings),
        equations=tuple(Equation(e.tex, _loc(e.loc, lines)) for e in slide.equations),
        inline_math=tuple(Equation(e.tex, _loc(e.loc, lines)) for e in slide.inline_math),
        code_blocks=tuple(replace(c, loc=_loc(c.loc, lines)) for c in slide.code_blocks),
    )


def _shift_token(token: Token, lines: int) -> Token:
    """`token` `lines` further down: a copy when it holds a line (the deck it came from
    keeps its own), else the token itself (tokens are not changed once parsed)."""
    children = token.children
    if children and any(child.map is not None or child.type == "image"
                        for child in children):
        children = [_shift_token(child, lines) for child in children]
    elif token.map is None and token.type != "image":
        return token
    copy = Token(token.type, token.tag, token.nesting, token.attrs, token.map, token.level,
                 children, token.content, token.markup, token.info, token.meta,
                 token.block, token.hidden)
    if token.map is not None:
        copy.map = [token.map[0] + lines, token.map[1] + lines]
    if token.type == "image" and "line" in token.meta:
        copy.meta = {**token.meta, "line": token.meta["line"] + lines}
    return copy


def _assemble(source: SheetSource, state: _State) -> Deck:
    globals_: dict[str, Any] = {}
    locs: dict[str, SourceLoc] = {}
    styles: list[str] = []
    diagnostics: list[tuple[int, Diagnostic]] = []
    slides: list[Slide] = []
    for chunk in state.chunks:
        globals_.update(chunk.globals_)
        locs.update(chunk.global_locs)
        styles.extend(chunk.styles)
        diagnostics.extend(chunk.diagnostics)
        slides.extend(chunk.slides)
    if any(chunk.suspect_math for chunk in state.chunks):
        # Where a closing `$$` was meant is a question of the whole sheet's lines.
        start = Token("front_matter", "", 0)
        start.map = [0, state.chunks[0].body_start]
        blocks = [token for chunk in state.chunks for slide in chunk.slides
                  for token in slide.tokens if token.type == "math_block"]
        mark = len(source.diagnostics)
        check_display_math(source, [start, *blocks])
        diagnostics.extend((_DISPLAY_MATH, d) for d in source.diagnostics[mark:])
    diagnostics.sort(key=lambda item: (item[1].loc.line, item[0]))
    return assemble_deck(source.path, tuple(slides), globals_, locs, styles,
                         [d for _, d in diagnostics])


# --------------------------------------------------------------------------- on disk

class Unparsed(tuple[Token, ...]):
    """The tokens of a slide `load_parse` kept without them (`Slide.tokens`, and empty
    `header_tokens` and `footer_tokens`): what is read of a slide as plain data (cards,
    headings, equations) is all there, and `slug_texts` (the renderer counts heading
    ids over the deck); the renderer asks `parsed_in_full` for the rest when it needs it."""

    slug_texts: tuple[str, ...] = ()


def is_unparsed(slide: Slide) -> bool:
    """Whether `load_parse` kept `slide` without its tokens (`Unparsed`)."""
    return isinstance(slide.tokens, Unparsed)


def slug_texts(slide: Slide) -> list[str]:
    """`heading_slug_texts` of the slide's tokens, also of a slide kept `Unparsed`."""
    if isinstance(slide.tokens, Unparsed):
        return list(slide.tokens.slug_texts)
    return heading_slug_texts(slide.tokens)


def _unparsed(slide: Slide) -> Slide:
    tokens = Unparsed()
    tokens.slug_texts = tuple(slug_texts(slide))
    return replace(slide, tokens=tokens, header_tokens=Unparsed(), footer_tokens=Unparsed())


def _frozen(mapping: dict[str, Any]) -> MappingProxyType[str, Any]:
    """A read-only mapping again (`MappingProxyType` cannot be pickled as itself)."""
    return MappingProxyType(mapping)


def _code_version() -> str:
    """What decides a parse besides the text: this package's code and the libraries."""
    return f"{package_digest()}:{libraries_digest()}"


def save_parse(deck: Deck, path: Path) -> None:
    """Keep at `path` what `reparse` needs to parse `deck`'s sheet again after an edit
    (its lines and chunks; the slides without their tokens, which are most of a parse's
    size and time to read), for `load_parse` in a later process (`sheets check` and
    `sheets build` keep one per sheet). Pickled: a sheet's slides are some ten thousand
    small objects, which JSON would rebuild in Python, one at a time. A deck `reparse`
    did not make, or a path that cannot be written, keeps nothing."""
    with _states_lock:
        kept = _states.get(id(deck))
    if kept is None or kept[0] is not deck:
        return
    state = kept[1]
    chunks = tuple(replace(chunk, slides=tuple(map(_unparsed, chunk.slides)))
                   for chunk in state.chunks)
    light = replace(deck, slides=tuple(slide for chunk in chunks for slide in chunk.slides))
    data = sealed(_dumps((_code_version(), light, _State(state.lines, chunks, state.levels))))
    if data is None:
        return
    with contextlib.suppress(OSError), atomic_path(path) as temporary:
        temporary.write_bytes(data)


class _Pickler(pickle.Pickler):
    """A pickler that writes a dataclass as its class and its fields' values, read back by
    calling the class (as many times faster than the default for `slots` dataclasses as
    their number: a sheet's slides hold some ten thousand)."""

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        reduce = _REDUCERS.get(kind)
        if reduce is None:
            if not dataclasses.is_dataclass(kind):
                return NotImplemented
            values = operator.attrgetter(*(part.name for part in dataclasses.fields(kind)))
            _REDUCERS[kind] = reduce = lambda value: (type(value), values(value))
        return reduce(obj)


_REDUCERS: dict[type, Callable[[Any], tuple[Any, tuple[Any, ...]]]] = {
    MappingProxyType: lambda mapping: (_frozen, (dict(mapping),))}


def _dumps(value: object) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


def load_parse(path: Path, sheet: Path) -> Deck | None:
    """The deck `save_parse` kept at `path` for `sheet` (its slides' tokens `Unparsed`),
    for `reparse` to parse the sheet's new text from; None when there is none, it is
    damaged, not sealed with this user's key (a pickle is code: one from a cloned
    repository is never loaded), or the code or libraries changed since."""
    try:
        data = unsealed(path.read_bytes())
        if data is None:
            return None
        version, deck, state = pickle.loads(data)
    except Exception:  # a damaged or foreign file is a miss, whatever it raises
        return None
    if version != _code_version() or not isinstance(deck, Deck) \
            or not isinstance(state, _State) or deck.path != sheet:
        return None
    _remember(deck, state)
    return deck


def parsed_in_full(deck: Deck) -> Deck:
    """`deck` with every slide's tokens: itself when none is `Unparsed`, else the sheet
    parsed again from the lines `reparse` kept (equal to `parse_text`)."""
    if not any(map(is_unparsed, deck.slides)):
        return deck
    with _states_lock:
        lines = _texts.get(id(deck))
    assert lines is not None, "an Unparsed deck is one reparse made"
    return reparse(None, "\n".join(lines), deck.path)
