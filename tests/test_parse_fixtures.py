"""parse and cards on small sheets: fixture files in tests/fixtures/*.md (STYLE.md §5).

The expected output is a compact dump of the Deck (or of the cards) designed to be read:

    deck <global directives that are set>
    slide <n> @<line> page=<n> [paginate] {<local directives in force>}
      <block>@<line> <text>         (h1..h6, p, math, code, html, table, ...; inline
                                     math as ⟦tex⟧, a soft break as ⏎)
      bg@<line> <src> <options>
      scoped: <css>
      note@<line> <text>
    warning@<line> <message>
    error@<line> <message>         (a BuildError: nothing else is printed)

The Marp-visible parts of the parse fixtures (slides, classes, pagination, header,
footer) were checked against Marp CLI 4 when written: see tests/marp_structure.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from fixture_file import FixtureCase, fixture_params
from markdown_it.token import Token

from builder.cards import annotation_warnings, find_cards
from builder.marp import Deck, Slide, parse_text
from builder.model import BuildError

FIXTURES = Path(__file__).parent / "fixtures"
SHEET = Path("sheet.md")


def _inline(token: Token) -> str:
    pieces: list[str] = []
    links: list[str] = []
    for child in token.children or ():
        if child.type == "link_open":
            links.append(str(child.attrGet("href")))
            pieces.append("[")
        elif child.type == "link_close":
            pieces.append(f"]({links.pop()})")
        elif child.type in ("text", "html_inline"):
            pieces.append(child.content)
        elif child.type == "code_inline":
            pieces.append(f"`{child.content}`")
        elif child.type == "math_inline":
            pieces.append(f"⟦{child.content}⟧")
        elif child.type == "softbreak":
            pieces.append("⏎")
        elif child.type == "hardbreak":
            pieces.append("↵")
        elif child.type == "image":
            style = child.attrGet("style")
            pieces.append(f"![{child.content}]({child.attrGet('src')})"
                          + (f"{{{style}}}" if style else ""))
    return "".join(pieces)


def _one_line(text: str) -> str:
    return text.rstrip("\n").replace("\n", "⏎")


def _blocks(tokens: Sequence[Token]) -> list[str]:
    lines = []
    for index, token in enumerate(tokens):
        at = f"@{token.map[0] + 1}" if token.map else ""
        if token.type == "heading_open":
            fit = "(fit)" if token.meta.get("fit") else ""
            lines.append(f"{token.tag}{fit}{at} {_inline(tokens[index + 1])}")
        elif token.type == "paragraph_open":
            lines.append(f"p{at} {_inline(tokens[index + 1])}")
        elif token.type == "math_block":
            assert token.map is not None
            lines.append(f"math@{token.map[0] + 1}-{token.map[1]} {_one_line(token.content)}")
        elif token.type in ("fence", "code_block"):
            lines.append(f"code{at} {token.info or '-'}: {_one_line(token.content)}")
        elif token.type == "html_block":
            lines.append(f"html{at} {_one_line(token.content)}")
        elif token.type in ("bullet_list_open", "ordered_list_open", "blockquote_open",
                            "table_open", "hr"):
            lines.append(f"{token.type.removesuffix('_open')}{at}")
    return lines


def _slide(slide: Slide) -> list[str]:
    directives = " ".join(f"{key}={value}" for key, value in sorted(slide.directives.items()))
    head = f"slide {slide.index + 1} @{slide.loc.line} page={slide.page}"
    if slide.paginate:
        head += " paginate"
    if directives:
        head += f" {{{directives}}}"
    lines = [head]
    lines += [f"  {block}" for block in _blocks(slide.tokens)]
    for background in slide.backgrounds:
        options = [f"{name}={value}" for name, value in (
            ("size", background.size), ("split", background.split),
            ("split_size", background.split_size), ("direction", background.direction),
            ("width", background.width), ("height", background.height))
            if value]
        options += [f"{name}({value})" for name, value in background.filters]
        lines.append(f"  bg@{background.loc.line} {background.src} {' '.join(options)}".rstrip())
    lines += [f"  scoped: {_one_line(css)}" for css in slide.scoped_css]
    lines += [f"  note@{comment.loc.line} {_one_line(comment.text)}"
              for comment in slide.comments if not comment.directive]
    return lines


def dump_deck(deck: Deck) -> str:
    settings = [f"{name}={getattr(deck, name)}" for name in (
        "theme", "size", "math", "title", "author", "description", "lang")
        if getattr(deck, name)]
    if deck.heading_divider:
        settings.append(f"headingDivider={','.join(map(str, deck.heading_divider))}")
    if deck.global_css:
        settings.append(f"css={_one_line(deck.global_css)}")
    lines = [" ".join(["deck", *settings])]
    for slide in deck.slides:
        lines += _slide(slide)
    lines += [f"{d.severity}@{d.loc.line} {d.message}" for d in deck.diagnostics]
    return "\n".join(lines) + "\n"


def dump_cards(deck: Deck) -> str:
    lines = []
    for card in find_cards(deck):
        lines.append(f"card@{card.loc.line} slide={card.slide + 1} {card.title or '(untitled)'}")
        lines += [f"  eq@{eq.loc.line} {_one_line(eq.tex)}" for eq in card.equations]
        if card.checks:
            lines.append(f"  check: {', '.join(card.checks)}")
        lines += [f"  assume: {condition}" for condition in card.assume]
        if card.nocheck is not None:
            lines.append(f"  nocheck: {card.nocheck}")
        lines += [f"  let: {_one_line(declaration)}" for declaration in card.declarations]
        lines += [f"  code: {_one_line(code)}" for code in card.code]
    lines += [f"{d.severity}@{d.loc.line} {d.message}" for d in annotation_warnings(deck)]
    return "\n".join(lines) + "\n" if lines else "(no cards)\n"


def _run(case: FixtureCase, dump: object) -> str:
    try:
        deck = parse_text(case.input, SHEET)
    except BuildError as error:
        assert error.loc is not None
        return f"error@{error.loc.line} {error.message}\n"
    assert callable(dump)
    return str(dump(deck))


@pytest.mark.parametrize("case", fixture_params(FIXTURES / "parse.md"))
def test_parse_fixture(case: FixtureCase) -> None:
    assert _run(case, dump_deck) == case.expected


@pytest.mark.parametrize("case", fixture_params(FIXTURES / "cards.md"))
def test_cards_fixture(case: FixtureCase) -> None:
    assert _run(case, dump_cards) == case.expected
