"""cards: the formula cards of a parsed deck (SPEC.md §1).

A card is the innermost heading section that holds display math: every `$$` block belongs
to the last heading before it on its slide, so the cards are those headings (and, for math
before any heading, an untitled card at the first equation). Annotation comments and
fenced code belong to a card the same way, by position.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from markdown_it.token import Token

from builder.marp.parse import Comment, Deck, Slide
from builder.model import Card, Diagnostic, Equation, SourceLoc

__all__ = ["annotation_warnings", "find_cards", "parse_annotations"]

_ANNOTATION = re.compile(r"^\s*(check|assume|nocheck|let)\s*:(.*)$")


@dataclass(slots=True)
class _Section:
    title: str
    loc: SourceLoc | None  # None: the part of a slide before its first heading
    equations: list[Equation] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    code: list[str] = field(default_factory=list)


def find_cards(deck: Deck) -> tuple[Card, ...]:
    """Every card of the deck, in document order."""
    cards: list[Card] = []
    for slide in deck.slides:
        cards.extend(_slide_cards(slide))
    return tuple(cards)


def annotation_warnings(deck: Deck) -> tuple[Diagnostic, ...]:
    """Annotations that check nothing, as `path:line: warning`s: those no card receives
    (their section has no display math: a `check:` under `## Softmax` whose formula sits
    under `### Formula`), parts of `assume:` that cannot be read (`x => 0`, `banana`: the
    card would be sampled on the default domain without a word), and a misspelled key
    (`chek:`, "did you mean `check:`?")."""
    from builder.check import assume_problems  # light: sympy is imported only to check

    warnings = []
    for slide in deck.slides:
        for section in _sections(slide):
            for comment in section.comments:
                for word in _misspelled_keys(comment.text):
                    warnings.append(Diagnostic(
                        comment.loc, f"unknown annotation `{word}:`, ignored; did you "
                        f"mean `{_close_key(word)}:`?"))
                entries = _annotation_entries(comment.text)
                if not section.equations:
                    for key, _ in entries:
                        where = f"section {section.title!r}" if section.title else "this part"
                        warnings.append(Diagnostic(
                            comment.loc, f"`{key}:` is in no card: {where} of slide "
                            f"{slide.index + 1} has no display math"))
                    continue
                for key, value in entries:
                    if key != "assume":
                        continue
                    if not value.strip():
                        warnings.append(Diagnostic(comment.loc, "`assume:` is empty"))
                    for problem in assume_problems(_split_top_level(value)):
                        warnings.append(Diagnostic(
                            comment.loc, f"assume: {problem}; this part is ignored"))
    return tuple(warnings)


_KEYS = ("check", "assume", "nocheck", "let")
_KEY_LIKE = re.compile(r"^\s*([A-Za-z][\w-]*)\s*:")


def _close_key(word: str) -> str | None:
    import difflib

    if word in _KEYS:
        return None
    close = difflib.get_close_matches(word.lower(), _KEYS, n=1, cutoff=0.75)
    return close[0] if close else None


def _misspelled_keys(text: str) -> list[str]:
    """`key:` words at the start of a comment's lines that are close to an annotation's
    key without being one (`chek`, `Assume`, `nochek`); other comments (notes, Marp
    directives such as `_class:`) are nobody's business here."""
    found = []
    for line in text.splitlines():
        match = _KEY_LIKE.match(line)
        if match and _close_key(match.group(1)) is not None:
            found.append(match.group(1))
    return found


def _slide_cards(slide: Slide) -> list[Card]:
    cards = []
    for section in _sections(slide):
        if not section.equations:
            continue
        checks, assume, nocheck, declarations = parse_annotations(section.comments)
        cards.append(Card(
            title=section.title,
            equations=tuple(section.equations),
            checks=checks,
            assume=assume,
            nocheck=nocheck,
            declarations=declarations,
            code=tuple(section.code),
            loc=section.loc or section.equations[0].loc,
            slide=slide.index,
        ))
    return cards


def _sections(slide: Slide) -> list[_Section]:
    """The slide cut at every heading (the part before the first one is untitled), with
    the equations, comments and code that each part holds."""
    sections = [_Section("", None)]
    # (line, section) boundaries so that comments, which are not in the tokens, can be
    # placed by their line.
    starts: list[tuple[int, _Section]] = [(0, sections[0])]
    tokens = slide.tokens
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.map:
            inline = tokens[index + 1] if index + 1 < len(tokens) else None
            section = _Section(_inline_text(inline), SourceLoc(slide.loc.path, token.map[0] + 1))
            sections.append(section)
            starts.append((token.map[0] + 1, section))
        elif token.type == "math_block" and token.map:
            tex = str(token.meta.get("tex", token.content)) if token.meta else token.content
            sections[-1].equations.append(
                Equation(tex=tex, loc=SourceLoc(slide.loc.path, token.map[0] + 1)))
        elif token.type == "fence":
            sections[-1].code.append(token.content)
    for comment in slide.comments:
        owner = starts[0][1]
        for line, section in starts:
            if line <= comment.loc.line:
                owner = section
        owner.comments.append(comment)
    return sections


def parse_annotations(
    comments: Sequence[Comment],
) -> tuple[tuple[str, ...], tuple[str, ...], str | None, tuple[str, ...]]:
    """(checks, assume, nocheck, declarations) from a card's comments. A comment may hold
    several annotations, one per line; a line without `key:` continues the previous one."""
    checks: list[str] = []
    assume: list[str] = []
    nocheck: list[str] = []
    declarations: list[str] = []
    for comment in comments:
        for key, value in _annotation_entries(comment.text):
            if key == "check":
                checks.extend(name.strip() for name in value.split(",") if name.strip())
            elif key == "assume":
                assume.extend(_split_top_level(value))
            elif key == "nocheck":
                nocheck.append(value)
            else:
                declarations.append(value)
    reason = "; ".join(reason for reason in nocheck if reason) if nocheck else None
    return tuple(checks), tuple(assume), reason, tuple(declarations)


def _annotation_entries(text: str) -> list[tuple[str, str]]:
    """`key: value` annotations of one comment body, one per line; a line without a key
    continues the value before it."""
    entries: list[tuple[str, str]] = []
    for line in text.splitlines():
        match = _ANNOTATION.match(line)
        if match:
            entries.append((match.group(1), match.group(2).strip()))
        elif entries:
            entries[-1] = (entries[-1][0], f"{entries[-1][1]}\n{line.strip()}".strip())
    return entries


def _split_top_level(text: str) -> list[str]:
    """`0 < p < 1, f(a, b) > 0` → two conditions: commas inside brackets do not split."""
    parts: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(depth - 1, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def _inline_text(inline: Token | None) -> str:
    """A heading's text as a reader sees it (emphasis marks dropped, math kept as TeX)."""
    if inline is None or inline.type != "inline":
        return ""
    pieces: list[str] = []
    for child in inline.children or ():
        if child.type in ("text", "code_inline", "html_inline"):
            pieces.append(child.content)
        elif child.type == "math_inline":
            pieces.append(f"${child.content}$")
        elif child.type in ("softbreak", "hardbreak"):
            pieces.append(" ")
        elif child.type == "image":
            pieces.append(child.content)
    return " ".join("".join(pieces).split())
