"""parse: the seed deck and small sheets, checked against Marp's behaviour."""

from __future__ import annotations

import random
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from marp_structure import normalize_body
from seeds import SEED_DECK, SEED_FILES, SEEDS

from builder.cards import find_cards
from builder.marp import Slide, markdown, parse_file, parse_text
from builder.model import BuildError

FIXTURES = Path(__file__).parent / "fixtures"

needs_seeds = pytest.mark.skipif(not SEED_DECK.exists(), reason="seed notes not present")


@needs_seeds
def test_seed_deck_has_marps_67_slides() -> None:
    deck = parse_file(SEED_DECK)
    assert len(deck.slides) == 67
    assert deck.theme == "portrait_A4_note"
    assert deck.heading_divider == (1, 2)
    assert deck.global_css == "div.mermaid{all:unset;}"
    first = deck.slides[0]
    assert first.classes == ("title",)
    assert first.paginate is False
    assert first.footer == "E資格範囲の数式まとめ"
    assert [slide.index for slide in deck.slides] == list(range(67))


def test_malformed_front_matter_is_a_build_error() -> None:
    with pytest.raises(BuildError) as error:
        parse_text("---\ntheme: a\nfoo: [1, 2\n---\n\n# A\n", Path("s.md"))
    assert str(error.value).startswith("s.md:")
    assert "front matter" in str(error.value)


def _plain(tokens: Sequence[Token]) -> str:
    """Text of inline tokens as a browser shows it (what the Marp fixture holds)."""
    text = "".join(" " if child.type in ("softbreak", "hardbreak") else child.content
                   for token in tokens for child in token.children or ()
                   if child.type in ("text", "code_inline", "softbreak", "hardbreak"))
    return " ".join(text.split())


def _math_counts(tokens: Sequence[Token]) -> tuple[int, int]:
    display = sum(token.type == "math_block" for token in tokens)
    inline = sum(child.type == "math_inline" for token in tokens for child in token.children or ())
    return display, inline


def structure_line(slide: Slide) -> str:
    """One slide in the format of scripts/marp_structure.py (Marp CLI's HTML)."""
    heading = next((_plain([slide.tokens[i + 1]]) for i, token in enumerate(slide.tokens)
                    if token.type == "heading_open"), "")
    display, inline = _math_counts(slide.tokens)
    inline += _math_counts(slide.header_tokens)[1] + _math_counts(slide.footer_tokens)[1]
    return (f"{slide.index + 1}: class={' '.join(slide.classes) or '-'} "
            f"paginate={str(slide.paginate).lower()} page={slide.page if slide.paginate else '-'} "
            f"header={_plain(slide.header_tokens) or '-'} "
            f"footer={_plain(slide.footer_tokens) or '-'} "
            f"math={display}/{inline} heading={heading or '-'}")


@needs_seeds
@pytest.mark.parametrize("number", ["000", "001", "002", "003", "004"])
def test_seeds_match_marp_cli_slide_by_slide(number: str) -> None:
    """tests/fixtures/seed<NNN>_structure.txt were extracted from Marp CLI's own HTML for
    the seeds (scripts/marp_structure.py says how): slides, classes, pagination, page
    numbers, header, footer, the number of display and inline equations, first heading."""
    expected = (FIXTURES / f"seed{number}_structure.txt").read_text(encoding="utf-8")
    deck = parse_file(next(SEEDS.glob(f"{number}_*.txt")))
    assert [structure_line(slide) for slide in deck.slides] == expected.splitlines()


def test_crlf_and_lf_give_the_same_deck() -> None:
    text = "---\npaginate: true\n---\n\n# A\n\n<!-- _class: x -->\n$$\na\n$$\n\n---\n\n# B\n"
    lf = parse_text(text, Path("s.md"))
    crlf = parse_text(text.replace("\n", "\r\n"), Path("s.md"))
    assert [(s.loc, s.classes, s.paginate, s.source) for s in lf.slides] == \
        [(s.loc, s.classes, s.paginate, s.source) for s in crlf.slides]
    assert lf.slides[0].classes == ("x",)


def test_unreadable_files_are_build_errors(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="no such file"):
        parse_file(tmp_path / "missing.md")
    with pytest.raises(BuildError, match="is a directory"):
        parse_file(tmp_path)
    latin1 = tmp_path / "latin1.md"
    latin1.write_bytes("# A\n\ncaf\u00e9\n".encode("latin-1"))
    with pytest.raises(BuildError) as error:
        parse_file(latin1)
    assert str(error.value) == f"{latin1}:3: not UTF-8 text (byte 0xe9)"


def test_a_byte_order_mark_is_not_content(tmp_path: Path) -> None:
    sheet = tmp_path / "bom.md"
    sheet.write_bytes(b"\xef\xbb\xbf---\npaginate: true\n---\n\n# A\n")
    deck = parse_file(sheet)
    assert deck.slides[0].paginate is True


@needs_seeds
def test_mangled_seeds_give_a_deck_or_a_build_error_never_a_crash() -> None:
    """Cut-up seed text with Marp syntax dropped in at random places (a fixed random
    seed, so that a failure can be reproduced)."""
    rng = random.Random(20261123)
    seeds = [path.read_text(encoding="utf-8") for path in sorted(SEEDS.glob("*.txt"))]
    pieces = ["$$", "$", "---", "<!--", "-->", "<!-- _class: a -->", "<style>", "</style>",
              "<style scoped>", "![bg](x)", "![w:1](y)", "## ", "- ", "```", "\n",
              "<!-- headingDivider: 3 -->", "<!-- paginate: skip -->", "\\", "<div>",
              "<script>", "<!-- header: [ -->", "\r\n", "> ", "1. "]
    for _ in range(300):
        text = rng.choice(seeds)
        start = rng.randrange(len(text))
        text = text[start:start + rng.randrange(2000)]
        for _ in range(rng.randrange(8)):
            at = rng.randrange(len(text) + 1)
            text = text[:at] + rng.choice(pieces) + text[at:]
        try:
            deck = parse_text(("---\n" if rng.random() < 0.3 else "") + text, Path("m.md"))
        except BuildError as error:
            assert error.loc is not None and error.loc.line >= 1
            continue
        find_cards(deck)
        assert deck.slides


class _MarkerRenderer(RendererHTML):
    """markdown-it's plain HTML renderer, with math as the markers of normalize_body."""

    def math_inline(self, *_: object) -> str:
        return "<MATH/>"

    def math_block(self, *_: object) -> str:
        return "<MATHB/>"


def render_for_comparison(slide: Slide) -> str:
    return _MarkerRenderer().render(list(slide.tokens), markdown().options, {})


@needs_seeds
@pytest.mark.parametrize("number", ["000", "001", "002", "003", "004"])
def test_seed_slide_contents_match_marp_cli(number: str) -> None:
    """tests/fixtures/seed<NNN>_body.txt: every slide's HTML from Marp CLI, reduced to
    elements and text (tests/marp_structure.py); our tokens must give the same elements
    and text: same paragraphs, lists, tables, headings, math positions, hidden comments,
    escaped HTML."""
    expected = (FIXTURES / f"seed{number}_body.txt").read_text(encoding="utf-8")
    deck = parse_file(next(SEEDS.glob(f"{number}_*.txt")))
    ours = [f"{slide.index + 1}: {normalize_body(render_for_comparison(slide))}"
            for slide in deck.slides]
    assert ours == expected.splitlines()


def test_threads_parse_at_the_same_time() -> None:
    """The preview parses in its own thread while a build may parse in another: each
    thread has its own markdown-it (linkify-it keeps match state in the object)."""
    text = "".join(f"# {n}\n\nsee https://example.com/{n} and $x_{n}$\n\n" for n in range(200))
    expected = parse_text(text, Path("t.md"))
    with ThreadPoolExecutor(max_workers=4) as pool:
        decks = list(pool.map(lambda _: parse_text(text, Path("t.md")), range(8)))
    for deck in decks:
        assert [s.source for s in deck.slides] == [s.source for s in expected.slides]
        assert [_plain(s.tokens) for s in deck.slides] == \
            [_plain(s.tokens) for s in expected.slides]


# Marp CLI 4.5 (`marp --html`, bench/node_modules) on these sheets, through
# tests/marp_structure.py --body: a forgotten closing `$$` makes the text below math up to
# the next `$$` (slide breaks and headings included); the next equation shows as text.
_FORGOTTEN_CLOSER = """# Energy

$$
E = m c^2

Text under it.

## Momentum

$$
p = m v
$$

---

# Force

$$ F = m a $$

last
"""
_FORGOTTEN_CLOSER_IN_MARP = ["1: <h1>Energy</h1><MATHB/><p>p = m v</p><MATHB/><p>last</p>"]
_UNCLOSED_AT_THE_END = "# A\n\ntext\n\n$$ x =\ny\n\nmore text\n\n---\n\n# B\n"
_UNCLOSED_AT_THE_END_IN_MARP = ["1: <h1>A</h1><p>text</p><MATHB/>"]


@pytest.mark.parametrize(("text", "marp", "line", "extent"), [
    (_FORGOTTEN_CLOSER, _FORGOTTEN_CLOSER_IN_MARP, 3, "Marp ends it at the `$$` on line 10"),
    (_UNCLOSED_AT_THE_END, _UNCLOSED_AT_THE_END_IN_MARP, 5,
     "the math runs to the end of the sheet, line 12"),
])
def test_a_forgotten_closing_dollar_dollar_is_one_warning_and_marps_slides(
        text: str, marp: list[str], line: int, extent: str) -> None:
    """One warning at the `$$` that lacks its closing `$$` (not where Marp's pairing of
    `$$` lines runs out, and no build error), and the slides Marp CLI makes."""
    deck = parse_text(text, Path("act.md"))
    assert [str(d) for d in deck.diagnostics] == [
        f"act.md:{line}: warning: display math `$$` opened here is never closed ({extent})"]
    assert [f"{slide.index + 1}: {normalize_body(render_for_comparison(slide))}"
            for slide in deck.slides] == marp


def _seed_equations() -> list[object]:
    """Every 6th multi-line display equation of the seeds, and every 6th one-line one."""
    cases: list[object] = []
    for path in SEED_FILES:
        lines = path.read_text(encoding="utf-8").split("\n")
        deck = parse_file(path)
        blocks = [(slide, token.map[0], token.map[1] - token.map[0])
                  for slide in deck.slides for token in slide.tokens
                  if token.type == "math_block" and token.map]
        one_line = [block for block in blocks if block[2] == 1]
        several = [block for block in blocks if block[2] > 1]
        for slide, start, size in one_line[::6] + several[::6]:
            # The equation's slide and the three after it: a window of the seed that
            # parses in milliseconds, where the pairing of `$$` still goes wrong as far.
            end = deck.slides[min(slide.index + 3, len(deck.slides) - 1)].end_line
            window = lines[slide.loc.line - 1:end]
            cases.append(pytest.param(window, start - (slide.loc.line - 1), size,
                                      id=f"{path.name[:3]}:{start + 1}"))
    return cases


@needs_seeds
@pytest.mark.parametrize(("window", "opening", "size"), _seed_equations())
def test_a_closing_dollar_dollar_taken_out_of_a_seed_is_reported_at_its_opening(
        window: list[str], opening: int, size: int) -> None:
    """The seeds write equations every way: back to back, spaced out with blank lines,
    in lists, `$$` alone or beside the LaTeX. Whichever closing `$$` goes missing, the
    one warning is at the opening `$$` of that equation."""
    assert [d.message for d in parse_text("\n".join(window), Path("s.md")).diagnostics
            if "`$$`" in d.message] == []
    closing = opening + size - 1
    broken = list(window)
    if size == 1:  # `$$ x $$` → `$$ x`
        broken[opening] = broken[opening].rstrip().removesuffix("$$")
    elif broken[closing].strip() == "$$":
        del broken[closing]
    else:  # `\end{align}$$` → `\end{align}`
        broken[closing] = broken[closing].rstrip().removesuffix("$$")
    deck = parse_text("\n".join(broken), Path("s.md"))
    assert [d.loc.line for d in deck.diagnostics if "`$$`" in d.message] == [opening + 1]


def test_dollar_signs_that_are_not_a_forgotten_closing_dollar_dollar_give_no_warning() -> None:
    """An unclosed inline `$` is text, `$$` in code or a comment is no math, `$$x$$` is
    closed on its line, and an equation spaced out with blank lines is one equation."""
    text = ("# A\n\nIt costs $\nand $x$ is fine, $y\n\n```\n$$\n```\n\n<!--\n$$\n-->\n\n"
            "$$x$$\n\n$$\\begin{align}\n\na &= b \\\\\n\n&= c\n\n\\end{align}$$\n\n"
            "$$\na = b\n\nc = d\n$$\n\ntext\n")
    deck = parse_text(text, Path("s.md"))
    assert deck.diagnostics == ()
    assert [token.type for token in deck.slides[0].tokens if token.type in (
        "math_block", "fence")] == ["fence", "math_block", "math_block", "math_block"]


# --------------------------------------------------------------------------- plain data


def _slides(text: str) -> tuple[Slide, ...]:
    return parse_text(text, Path("s.md")).slides


def test_headings_are_plain_text_with_math_kept_as_tex() -> None:
    slide, = _slides(
        "# Softmax $\\sigma(z)_i$ of *all* `z`\n\n"
        "## A <small>small</small> **bold** ![an *icon* w:20px](i.png) word\n\n"
        "Setext\nover two lines\n---------------\n\n"
        "- #### In a list\n")
    assert [(h.level, h.loc.line) for h in slide.headings] == [(1, 1), (2, 3), (2, 5), (4, 9)]
    assert [h.text for h in slide.headings] == [
        "Softmax $\\sigma(z)_i$ of all z", "A small bold an icon word",
        "Setext over two lines", "In a list"]
    assert slide.headings[0].plain == "Softmax \\sigma(z)_i of all z"
    assert slide.title == slide.headings[0]
    untitled, = _slides("Just text, $x$.\n")
    assert untitled.headings == () and untitled.title is None


def test_the_title_is_the_first_heading_of_its_own_slide() -> None:
    first, second = _slides("Intro\n\n---\n\n### Deep\n\n# Top\n")
    assert first.title is None
    assert second.title is not None
    assert (second.title.level, second.title.text, second.title.loc.line) == (3, "Deep", 5)


def test_diagrams_from_a_mermaid_fence_or_raw_html() -> None:
    fence, raw, inline, others = _slides(
        "```mermaid\ngraph TD; A-->B\n```\n\n---\n\n"
        '<div class="mermaid">\ngantt\n    title A Gantt Diagram\n</div>\n\n---\n\n'
        'A <div class="diagram mermaid">graph LR; A-->B</div>\n\n---\n\n'
        "```text\nmermaid\n```\n\nmermaid is a library `<div class=\"mermaid\">`\n\n"
        "<script>mermaid.run()</script>\n\n<p class=\"mermaids\">no</p>\n")
    assert (fence.has_diagram, raw.has_diagram, inline.has_diagram) == (True, True, True)
    assert not others.has_diagram
    assert [(block.language, block.text, block.loc.line) for block in fence.code_blocks] \
        == [("mermaid", "graph TD; A-->B\n", 1)]


@needs_seeds
def test_the_seed_decks_diagram_is_on_its_test_slide() -> None:
    deck = parse_file(SEED_DECK)
    with_diagrams = [slide for slide in deck.slides if slide.has_diagram]
    assert len(with_diagrams) == 1
    assert with_diagrams[0].title is not None and with_diagrams[0].title.text == "テスト"


def test_equations_code_and_images_with_their_lines() -> None:
    slide, = _slides(
        "# Card\n\n$$\na = b\n$$\n\n```python\nprint(1)\n```\n\n"
        "![w:10px](one.png) ![bg](back.png)\n\n- $$ c = d $$\n")
    assert [(eq.tex, eq.loc.line) for eq in slide.equations] == [("\na = b\n", 3), (" c = d ", 13)]
    assert [(block.language, block.loc.line) for block in slide.code_blocks] == [("python", 7)]
    assert slide.images == ("one.png",)
    assert [background.src for background in slide.backgrounds] == ["back.png"]
