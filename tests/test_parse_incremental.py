"""reparse: a sheet edited anywhere, in any way, parses to the deck a whole parse gives.

Random edits (characters and lines inserted and deleted, slide breaks added and
removed, directives and front matter changed) to seed 001, to sheets/ and to sheets/
joined into one multi-slide sheet; after each, `reparse` from the last deck must equal
`parse_text` of the edited text (or raise the same `BuildError`)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from seeds import SEED_DECK

from builder.marp import Deck, parse_text, reparse
from builder.model import BuildError

ROOT = Path(__file__).resolve().parent.parent
SHEETS = sorted((ROOT / "sheets").glob("*.md"))

_SNIPPETS = [
    "x", " ", "\n", "\n\n", "-", "---", "\n---\n", "\n---\n\n", "#", "\n## Title\n", "$$",
    "\n$$\na+b\n$$\n", "`", "\n```\n", "<!--", "-->", "<!-- note -->", "\n- item\n", "> ",
    "|a|b|\n|-|-|\n", "![bg](a.png)", "<style>b{}</style>", "*", "\\", "[x]", "<div>",
]
_DIRECTIVES = [
    "<!-- paginate: true -->", "<!-- paginate: skip -->", "<!-- _paginate: hold -->",
    "<!-- header: Head -->", "<!-- _footer: foot -->", "<!-- class: lead -->",
    "<!-- headingDivider: 2 -->", "<!-- theme: gaia -->", "<!-- backgroundColor: red -->",
    "<!-- _class: title -->", "<!-- style: 'b { color: red }' -->", "<!-- paginate: nope -->",
]
_FRONT_MATTER_LINES = ["paginate: false", "headingDivider: 3", "footer: F", "theme: x",
                       "header: 'H'", "unknown: 1", "math: katex"]


def _edit(rng: random.Random, text: str) -> str:
    kind = rng.randrange(9)
    at = rng.randrange(len(text) + 1)
    if kind == 0:  # characters in
        return text[:at] + rng.choice(_SNIPPETS) + text[at:]
    if kind == 1:  # characters out
        return text[:at] + text[at + rng.randrange(1, 40):]
    lines = text.split("\n")
    line = rng.randrange(len(lines) + 1)
    if kind == 2:  # a line in
        lines.insert(line, rng.choice(["", "text", "---", "# H", "## H", "- a", "$$"]))
    elif kind == 3:  # lines out
        del lines[line:line + rng.randrange(1, 4)]
    elif kind == 4:  # a slide break out
        breaks = [number for number, value in enumerate(lines) if value == "---"]
        if breaks:
            del lines[rng.choice(breaks)]
    elif kind == 5:  # a directive
        lines.insert(line, rng.choice(_DIRECTIVES))
    elif kind == 7:  # a heading changed (with `headingDivider`, a slide break)
        headings = [number for number, value in enumerate(lines) if value.startswith("#")]
        if headings:
            at = rng.choice(headings)
            lines[at] = rng.choice([lines[at].lstrip("#"), "   " + lines[at], "- " + lines[at],
                                    "#" + lines[at], lines[at] + " x", "> " + lines[at],
                                    "```\n" + lines[at], "---\n" + lines[at]])
    elif kind == 6 and lines and lines[0] == "---":  # the front matter
        end = next((n for n in range(1, len(lines)) if lines[n] == "---"), 1)
        lines.insert(rng.randrange(1, end + 1), rng.choice(_FRONT_MATTER_LINES))
    else:  # a line changed in place
        if lines and line < len(lines):
            lines[line] = lines[line] + rng.choice(_SNIPPETS).replace("\n", "")
    return "\n".join(lines)


def _same_as_whole_parse(previous: Deck, text: str, path: Path) -> Deck:
    try:
        expected = parse_text(text, path)
    except BuildError as error:
        with pytest.raises(BuildError) as raised:
            reparse(previous, text)
        assert str(raised.value) == str(error)
        return previous
    deck = reparse(previous, text)
    if deck != expected:  # say which slide differs, and where
        for mine, theirs in zip(deck.slides, expected.slides, strict=False):
            assert mine == theirs, f"slide {theirs.index}"
        assert deck.diagnostics == expected.diagnostics
    assert deck == expected
    return deck


def _random_edits(text: str, path: Path, seed: int, edits: int) -> None:
    rng = random.Random(seed)
    deck = reparse(None, text, path)
    assert deck == parse_text(text, path)
    for _ in range(edits):
        edited = _edit(rng, text)
        deck_after = _same_as_whole_parse(deck, edited, path)
        if deck_after is not deck:
            text, deck = edited, deck_after


def _joined_sheets() -> str:
    parts = [SHEETS[0].read_text(encoding="utf-8")]
    for sheet in SHEETS[1:]:
        body = re.sub(r"\A---\n.*?\n---\n", "", sheet.read_text(encoding="utf-8"),
                      count=1, flags=re.DOTALL)
        parts.append("---\n\n" + body)
    return "\n".join(parts)


@pytest.mark.parametrize("seed", range(3))
def test_random_edits_to_the_joined_sheets(seed: int) -> None:
    _random_edits(_joined_sheets(), ROOT / "joined.md", seed, 25)


def _divided(text: str, level: int) -> str:
    return text.replace("---\n", f"---\nheadingDivider: {level}\n", 1)


@pytest.mark.parametrize("seed", range(3))
def test_random_edits_to_the_joined_sheets_divided_at_headings(seed: int) -> None:
    _random_edits(_divided(_joined_sheets(), 2 + seed % 2), ROOT / "joined.md", seed, 25)


@pytest.mark.parametrize("sheet", SHEETS, ids=lambda path: path.stem)
def test_random_edits_to_each_sheet(sheet: Path) -> None:
    _random_edits(sheet.read_text(encoding="utf-8"), sheet, 7, 8)


@pytest.mark.skipif(not SEED_DECK.exists(), reason="seed notes not present")
@pytest.mark.parametrize("seed", range(2))
def test_random_edits_to_the_seed_deck(seed: int) -> None:
    _random_edits(SEED_DECK.read_text(encoding="utf-8"), SEED_DECK, seed, 15)


@pytest.mark.skipif(not SEED_DECK.exists(), reason="seed notes not present")
def test_an_edit_under_a_divided_heading_leaves_the_other_slides_as_they_were() -> None:
    # The seed deck cuts its slides at `##` (headingDivider: 2) more than at `---`: the
    # slides the edit does not reach are handed on as they were (the preview keeps
    # what it made of them by identity).
    text = SEED_DECK.read_text(encoding="utf-8")
    deck = reparse(None, text, SEED_DECK)
    lines = text.split("\n")
    slide = next(slide for slide in deck.slides[len(deck.slides) // 2:]
                 if lines[slide.loc.line - 1].startswith("## "))
    line = lines[slide.loc.line - 1]
    edited = reparse(deck, text.replace(line, line + " edited", 1))
    assert edited == parse_text(text.replace(line, line + " edited", 1), SEED_DECK)
    changed = [new.index for old, new in zip(deck.slides, edited.slides, strict=True)
               if old is not new]
    # (The slide before is parsed again too: it ends where a heading starts, and an edit
    # of the heading's line might make it none.)
    assert changed == [slide.index - 1, slide.index]


def test_an_unchanged_text_gives_the_same_deck() -> None:
    text = _joined_sheets()
    deck = reparse(None, text, ROOT / "joined.md")
    assert reparse(deck, text) is deck


def test_a_deck_from_parse_text_is_a_start_too() -> None:
    text = _joined_sheets()
    deck = parse_text(text, ROOT / "joined.md")
    edited = text.replace("## ", "## edited ", 1)
    assert reparse(deck, edited) == parse_text(edited, ROOT / "joined.md")
