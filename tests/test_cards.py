"""cards on the five seed notes: every display equation found at its line, titles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from seeds import SEED_FILES, SEEDS

from builder.cards import annotation_warnings, find_cards
from builder.marp import parse_file

pytestmark = pytest.mark.skipif(not SEED_FILES, reason="seed notes not present")

# Display equations per seed, counted by hand-checked `display_math_lines` below.
EXPECTED_EQUATIONS = {"000": 91, "001": 84, "002": 4, "003": 49, "004": 44}


def display_math_lines(text: str) -> list[int]:
    """An independent count, without markdown-it: lines that open a `$$` block (after
    list markers), skipping fenced code, each block running to a line ending in `$$`."""
    lines = text.split("\n")
    found: list[int] = []
    fence: str | None = None
    index = 0
    while index < len(lines):
        stripped = lines[index].strip()
        opening = re.match(r"(`{3,}|~{3,})", stripped)
        if fence:
            if stripped.startswith(fence):
                fence = None
        elif opening:
            fence = opening.group(1)
        else:
            body = re.sub(r"^(?:(?:[-*+]|\d+[.)])\s+)+", "", stripped)
            if body.startswith("$$"):
                found.append(index + 1)
                if not body[2:].strip().endswith("$$"):
                    index += 1
                    while index < len(lines) and not lines[index].strip().endswith("$$"):
                        index += 1
        index += 1
    return found


@pytest.mark.parametrize("seed", SEED_FILES, ids=lambda path: path.name[:3])
def test_every_display_equation_is_found_at_its_line(seed: Path) -> None:
    text = seed.read_text(encoding="utf-8")
    cards = find_cards(parse_file(seed))
    lines = [equation.loc.line for card in cards for equation in card.equations]
    assert lines == display_math_lines(text)
    assert len(lines) == EXPECTED_EQUATIONS[seed.name[:3]]
    source = text.split("\n")
    for card in cards:
        for equation in card.equations:
            opening = source[equation.loc.line - 1]
            assert "$$" in opening
            # The raw TeX starts right after the opening `$$`.
            first_tex_line = equation.tex.split("\n")[0]
            assert opening.split("$$", 1)[1].startswith(first_tex_line.rstrip("$"))


@pytest.mark.parametrize("seed", SEED_FILES, ids=lambda path: path.name[:3])
def test_cards_sit_at_their_heading_or_first_equation(seed: Path) -> None:
    source = seed.read_text(encoding="utf-8").split("\n")
    cards = find_cards(parse_file(seed))
    assert cards
    for card in cards:
        line = source[card.loc.line - 1]
        if card.title:
            assert line.lstrip().startswith("#")
            assert card.title.split()[0] in line
        else:
            assert card.loc == card.equations[0].loc
        assert all(card.loc.line <= eq.loc.line for eq in card.equations)


def test_seed_deck_cards() -> None:
    cards = find_cards(parse_file(SEEDS / "001_cc6ebc1a6c562421.txt"))
    assert len(cards) == 62
    assert all(card.title for card in cards)
    first = cards[0]
    assert (first.title, first.loc.line, first.slide) == ("固有方程式", 21, 2)
    assert [eq.loc.line for eq in first.equations] == [24]
    assert first.equations[0].tex == r" \large \det (\lambda I - A) = 0"
    # `$$` lines under `- ` items belong to the heading above the list.
    points = next(card for card in cards if card.loc.line == 68)
    assert points.title == "◆ポイント・各要素の意味など"
    assert [eq.loc.line for eq in points.equations] == [73, 75]
    # A multi-line `\begin{align}` block is one equation that keeps its rows.
    variance = next(card for card in cards if card.title == "ベルヌーイ分布の分散")
    assert variance.equations[0].tex.count("\n") == 3


def test_notes_without_headings_give_one_untitled_card() -> None:
    """Seeds 002-004 are plain notes without headings: one slide, so (docs/format.md §1) one
    untitled card at the first equation."""
    for name in ("002", "003", "004"):
        seed = next(path for path in SEED_FILES if path.name.startswith(name))
        cards = find_cards(parse_file(seed))
        assert [card.title for card in cards] == [""]


def test_annotations_that_check_nothing_are_warnings_at_their_line(tmp_path: Path) -> None:
    """A misspelled key, an annotation in a section without display math, an empty
    `assume:`: each used to be dropped without a word. Whether an `assume:`'s conditions
    can be read (`x => 0`, `banana`) is the check stage's to say, not this one's."""
    sheet = tmp_path / "notes.md"
    sheet.write_text(
        "# Notes\n\n"
        "## One\n<!-- assume: x => 0 -->\n$$ \\sqrt{x^2} = |x| $$\n\n"         # 4
        "## Two\n<!-- assume: banana -->\n$$ a = b $$\n\n"                       # 8
        "## Three\n<!-- assume: 0 < p < 1, x > , banana -->\n$$ a = b $$\n\n"    # 12
        "## Four\n<!-- chek: mem.false -->\n$$ a = b $$\n\n"                     # 16
        "## Five\n<!-- _class: lead -->\n<!-- note: fine -->\n"                  # 20, 21
        "<!-- assume: 0 < p < 1, x \\ge 0, n \\in \\mathbb{N}, c < r, x \\ne 0, "  # 22
        "f(a, b) > 0 -->\n"
        "<!-- nochek: why -->\n$$ a = b $$\n\n"                                   # 23
        "## Six\n<!-- check: mem.nothing -->\nNo math here.\n\n"                 # 27
        "## Seven\n<!-- assume: -->\n$$ a = b $$\n",                             # 31
        encoding="utf-8")
    deck = parse_file(sheet)
    warnings = [(w.loc.line, w.message) for w in annotation_warnings(deck)]
    assert [line for line, _ in warnings] == [16, 23, 27, 31], warnings
    assert warnings[0][1].endswith("did you mean `check:`?")
    assert "`nochek:`" in warnings[1][1] and "`nocheck:`" in warnings[1][1]
    assert warnings[2][1] == "`check:` is in no card: section 'Six' of slide 1 has no display math"
    assert warnings[3][1] == "`assume:` is empty"
    assert all(str(w).startswith(f"{sheet}:") and ": warning: " in str(w)
               for w in annotation_warnings(deck))
    # Every part of an `assume:` reaches the card, readable or not, for the checker.
    three = next(card for card in find_cards(deck) if card.title == "Three")
    assert three.assume == ("0 < p < 1", "x >", "banana")
