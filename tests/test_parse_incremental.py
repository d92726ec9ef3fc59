"""reparse: a sheet edited anywhere, in any way, parses to the deck a whole parse gives.

Random edits (characters and lines inserted and deleted, slide breaks added and
removed, directives and front matter changed) to seed 001, to sheets/ and to sheets/
joined into one multi-slide sheet; after each, `reparse` from the last deck must equal
`parse_text` of the edited text (or raise the same `BuildError`). The same from a parse
kept on disk by the last run (`save_parse`, `load_parse`), as `sheets check` and
`sheets build` parse: the deck, its cards and the page rendered from it equal a whole
parse's."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from seeds import SEED_DECK

from builder.cards import annotation_warnings, find_cards
from builder.marp import (
    Deck,
    is_unparsed,
    load_parse,
    load_themes,
    parse_text,
    parsed_in_full,
    reparse,
    save_parse,
)
from builder.model import BuildError
from builder.render import render_deck

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


# ------------------------------------------------- a parse kept between runs, and its use

def _without_tokens(deck: Deck) -> Deck:
    """`deck` with every slide's tokens left out (what `load_parse` keeps of a slide)."""
    return replace(deck, slides=tuple(
        replace(slide, tokens=(), header_tokens=(), footer_tokens=()) for slide in deck.slides))


def _kept_between_runs(text: str, path: Path, seed: int, edits: int, kept: Path,
                       also: Callable[[Deck, Deck], None] | None = None,
                       keep_every: int = 1) -> None:
    """Random edits, each parsed as `sheets check` and `sheets build` parse a sheet in a
    new process: `reparse` from the deck `load_parse` reads back (its slides `Unparsed`),
    then `save_parse` (after every `keep_every`-th edit only: the kept parse may be some
    edits old). The deck equals a whole parse but for the tokens of the slides the
    edits did not reach, and `parsed_in_full` gives those too; so do its cards."""
    rng = random.Random(seed)
    save_parse(reparse(None, text, path), kept)
    for number in range(edits):
        edited = _edit(rng, text)
        try:
            expected = parse_text(edited, path)
        except BuildError:
            continue
        previous = load_parse(kept, path)
        assert previous is not None
        assert all(map(is_unparsed, previous.slides))
        deck = reparse(previous, edited, path)
        assert _without_tokens(deck) == _without_tokens(expected)
        assert find_cards(deck) == find_cards(expected)
        assert annotation_warnings(deck) == annotation_warnings(expected)
        assert parsed_in_full(deck) == expected
        if also is not None:
            also(deck, expected)
        if number % keep_every == 0:
            save_parse(deck, kept)
        text = edited


@pytest.mark.parametrize("seed", range(3))
def test_random_edits_parsed_from_the_last_runs_parse(seed: int, tmp_path: Path) -> None:
    text = _joined_sheets() if seed < 2 else _divided(_joined_sheets(), 2)
    _kept_between_runs(text, ROOT / "joined.md", seed, 20, tmp_path / "kept.pickle",
                       keep_every=1 + seed)


@pytest.mark.skipif(not SEED_DECK.exists(), reason="seed notes not present")
def test_random_edits_to_the_seed_deck_parsed_from_the_last_runs_parse(tmp_path: Path) -> None:
    _kept_between_runs(SEED_DECK.read_text(encoding="utf-8"), SEED_DECK, 5, 12,
                       tmp_path / "kept.pickle")


def test_random_edits_render_as_a_whole_parse_renders(tmp_path: Path) -> None:
    # As `sheets build` renders a deck parsed from the last run's parse (the slides the
    # edit did not reach, unparsed, from the slide cache): the page a whole parse
    # renders, byte for byte.
    themes = load_themes(())

    def same_page(deck: Deck, expected: Deck) -> None:
        warm = render_deck(deck, themes=themes, cache_dir=tmp_path / "render")
        cold = render_deck(expected, themes=themes)
        assert warm.document == cold.document
        assert warm.diagnostics == cold.diagnostics

    sheet = SHEETS[1]
    _kept_between_runs(sheet.read_text(encoding="utf-8"), sheet, 11, 10,
                       tmp_path / "kept.pickle", also=same_page)


def test_a_kept_parse_of_other_code_or_another_sheet_is_not_used(tmp_path: Path) -> None:
    text = _joined_sheets()
    kept = tmp_path / "kept.pickle"
    save_parse(reparse(None, text, ROOT / "joined.md"), kept)
    assert load_parse(kept, ROOT / "joined.md") is not None
    assert load_parse(kept, ROOT / "other.md") is None
    kept.write_bytes(kept.read_bytes()[:1000])  # damaged
    assert load_parse(kept, ROOT / "joined.md") is None
    assert load_parse(tmp_path / "none.pickle", ROOT / "joined.md") is None


def test_a_kept_parse_not_sealed_with_this_users_key_is_never_unpickled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pickle is code: one in a cloned repository's `.cache/` (another user's key, or
    none) is not loaded, so that building someone's notes never runs what they put
    there."""
    import pickle

    text = _joined_sheets()
    kept = tmp_path / "kept.pickle"
    ran = tmp_path / "ran"
    save_parse(reparse(None, text, ROOT / "joined.md"), kept)
    assert load_parse(kept, ROOT / "joined.md") is not None
    seal = kept.read_bytes()[:32]

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[()]]:
            return (ran.mkdir, ())

    kept.write_bytes(pickle.dumps(Payload()))
    assert load_parse(kept, ROOT / "joined.md") is None
    kept.write_bytes(seal + pickle.dumps(Payload()))  # a seal copied from a good file
    assert load_parse(kept, ROOT / "joined.md") is None
    assert not ran.exists()
    # Another user (another cache folder, another key) does not load this user's file.
    save_parse(reparse(None, text, ROOT / "joined.md"), kept)
    from builder import resources

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "other-user"))
    resources._user_key.cache_clear()
    try:
        assert load_parse(kept, ROOT / "joined.md") is None
    finally:
        monkeypatch.undo()
        resources._user_key.cache_clear()
