"""cards: the formula cards of a parsed deck (docs/format.md).

A card is the innermost heading section that holds display math: every `$$` block belongs
to the last heading before it on its slide, so the cards are those headings (and, for math
before any heading, an untitled card at the first equation). Annotation comments and
fenced code belong to a card the same way, by position. All of it is read from the
slides' plain data (`Slide.headings`, `equations`, `code_blocks`, `comments`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from builder.cards.annotations import annotation_entries, misspelled_keys, parse_annotations
from builder.cards.context import context_of, definition_index
from builder.marp import Comment, Deck, Slide
from builder.model import Card, Diagnostic, Equation, SourceLoc

__all__ = ["annotation_warnings", "find_cards"]


@dataclass(slots=True)
class _Section:
    title: str
    loc: SourceLoc | None  # None: the part of a slide before its first heading
    equations: list[Equation] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    code: list[str] = field(default_factory=list)


def find_cards(deck: Deck, *, slides: Collection[int] | None = None) -> tuple[Card, ...]:
    """Every card of the deck (of the slides of these indices, when given), in document
    order, each with its document context (the math above it that may define its names,
    from the whole deck: builder/cards/context.py)."""
    index = definition_index([block for slide in deck.slides
                              for block in sorted((*slide.equations, *slide.inline_math),
                                                  key=lambda block: block.loc.line)])
    cards: list[Card] = []
    for slide in deck.slides:
        if slides is not None and slide.index not in slides:
            continue
        found = _once_per_slide(_cards_of, _slide_cards, _moved_card, slide)
        cards.extend(replace(card, context=context_of(card.equations, index)) if index
                     else card for card in found)
    return tuple(cards)


def _once_per_slide(kept: dict[tuple[str, int, Path], tuple[int, tuple[_T, ...]]],
                    compute: Callable[[Slide], Iterable[_T]],
                    move: Callable[[_T, int], _T], slide: Slide) -> tuple[_T, ...]:
    """`compute(slide)`, once per slide text (in `kept`, with the line it was found at):
    a process that parses a sheet again after an edit (the preview, a daemon) finds the
    same for the slides the edit did not reach, `move`d down as many lines as the edit
    added above them."""
    key = (slide.source, slide.index, slide.loc.path)
    found = kept.pop(key, None)
    if found is None:
        found = (slide.loc.line, tuple(compute(slide)))
        while len(kept) >= _KEPT_SLIDES:
            del kept[next(iter(kept))]
    kept[key] = found  # (the most recently used last)
    line, items = found
    delta = slide.loc.line - line
    return items if not delta else tuple(move(item, delta) for item in items)


def _moved_card(card: Card, lines: int) -> Card:
    return replace(card, loc=_down(card.loc, lines),
                   equations=tuple(Equation(equation.tex, _down(equation.loc, lines))
                                   for equation in card.equations),
                   annotation_lines=tuple((key, line + lines)
                                          for key, line in card.annotation_lines))


def _moved_warning(warning: Diagnostic, lines: int) -> Diagnostic:
    return replace(warning, loc=_down(warning.loc, lines))


def _down(loc: SourceLoc, lines: int) -> SourceLoc:
    return SourceLoc(loc.path, loc.line + lines)


_T = TypeVar("_T")
_KEPT_SLIDES = 8192
_cards_of: dict[tuple[str, int, Path], tuple[int, tuple[Card, ...]]] = {}
_warnings_of: dict[tuple[str, int, Path], tuple[int, tuple[Diagnostic, ...]]] = {}


def annotation_warnings(deck: Deck) -> tuple[Diagnostic, ...]:
    """Annotations that check nothing, as `path:line: warning`s: those no card receives
    (their section has no display math: a `check:` under `## Softmax` whose formula sits
    under `### Formula`), an empty `assume:`, and a misspelled key (`chek:`, "did you mean
    `check:`?"). Whether the conditions of an `assume:` can be read is the check stage's
    to say."""
    return tuple(warning for slide in deck.slides
                 for warning in _once_per_slide(_warnings_of, _slide_warnings, _moved_warning,
                                                 slide))


def _slide_warnings(slide: Slide) -> tuple[Diagnostic, ...]:
    warnings = []
    for section in _sections(slide):
        for comment in section.comments:
            for word, key in misspelled_keys(comment.text):
                warnings.append(Diagnostic(
                    comment.loc, f"unknown annotation `{word}:`, ignored; did you "
                    f"mean `{key}:`?" if f"{word}:" in comment.text else
                    f"`{word} …` is not an annotation (no colon), ignored; did you "
                    f"mean `{key}: …`?"))
            entries = annotation_entries(comment.text)
            if not section.equations:
                for key, _ in entries:
                    where = f"section {section.title!r}" if section.title else "this part"
                    warnings.append(Diagnostic(
                        comment.loc, f"`{key}:` is in no card: {where} of slide "
                        f"{slide.index + 1} has no display math"))
                continue
            warnings.extend(Diagnostic(comment.loc, "`assume:` is empty")
                            for key, value in entries
                            if key == "assume" and not value.strip())
    return tuple(warnings)


def _slide_cards(slide: Slide) -> list[Card]:
    cards = []
    for section in _sections(slide):
        if not section.equations:
            continue
        annotations = parse_annotations(section.comments)
        cards.append(Card(
            title=section.title,
            equations=tuple(section.equations),
            checks=annotations.checks,
            assume=annotations.assume,
            nocheck=annotations.nocheck,
            declarations=annotations.declarations,
            mappings=annotations.mappings,
            code=tuple(section.code),
            loc=section.loc or section.equations[0].loc,
            slide=slide.index,
            annotation_lines=tuple((key, comment.loc.line) for comment in section.comments
                                   for key, _ in annotation_entries(comment.text)),
        ))
    return cards


def _sections(slide: Slide) -> list[_Section]:
    """The slide cut at every heading (the part before the first one is untitled), with
    the equations, comments and code that each part holds, placed by their lines."""
    sections = [_Section("", None)]
    starts = [0]
    for heading in slide.headings:
        sections.append(_Section(heading.text, heading.loc))
        starts.append(heading.loc.line)

    def owner(line: int) -> _Section:
        """The section of the last heading at or before `line`."""
        return next(section for start, section in zip(reversed(starts), reversed(sections),
                                                      strict=True) if start <= line)

    for equation in slide.equations:
        owner(equation.loc.line).equations.append(equation)
    for block in slide.code_blocks:
        owner(block.loc.line).code.append(block.text)
    for comment in slide.comments:
        owner(comment.loc.line).comments.append(comment)
    return sections
