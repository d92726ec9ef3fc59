"""render: Marp's DOM for every seed (compared with Marp CLI's own HTML), the theme CSS
transformation and the slide HTML as fixture files, images, badges, subsets, and the page
itself in a real headless Chromium (math typeset, keys, print layout, nothing fetched)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from fixture_file import FixtureCase, fixture_params
from marp_structure import body_lines, directive_lines, structure_lines
from playwright.sync_api import Browser, sync_playwright
from seeds import SEEDS

from builder.cards import find_cards
from builder.check import check_card
from builder.live import PreviewServer, SheetPreview
from builder.marp import parse_file, parse_text, scope_css, transform_css
from builder.model import Card, CardResult, SourceLoc
from builder.pdf import build_pdfs, job_for_deck
from builder.render import RenderedDeck, load_themes, render_deck

FIXTURES = Path(__file__).parent / "fixtures"
SEED = SEEDS / "001_cc6ebc1a6c562421.txt"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def seed_render() -> RenderedDeck:
    return render_deck(parse_file(SEED), themes=load_themes([]))


# --------------------------------------------------------------------------- as Marp CLI

def _marp_comparable(document: str) -> str:
    """Our page with what Marp cannot have taken out: placeholders of missing images
    become the <img> Marp writes, and scoped <style> elements go (Marp puts them in the
    head)."""
    document = re.sub(r'<span class="sheets-missing-image".*?</span>', "<img/>", document)
    return re.sub(r"<style>.*?</style>", "", document, flags=re.DOTALL)


@pytest.mark.parametrize("seed", sorted(SEEDS.glob("*.txt")), ids=lambda p: p.name[:3])
def test_every_seed_has_marps_slides_and_contents(seed: Path) -> None:
    """The structure (classes, header, footer, pagination, math per slide, heading) and
    each slide's normalized body, against Marp CLI's HTML (tests/marp_structure.py)."""
    rendered = render_deck(parse_file(seed), themes=load_themes([]))
    number = seed.name[:3]
    expected = (FIXTURES / f"seed{number}_structure.txt").read_text(encoding="utf-8")
    assert structure_lines(rendered.document) == expected.splitlines()
    bodies = (FIXTURES / f"seed{number}_body.txt").read_text(encoding="utf-8")
    assert body_lines(_marp_comparable(rendered.document)) == bodies.splitlines()


def test_seed_001_is_67_slides_with_marps_directive_attributes(
        seed_render: RenderedDeck) -> None:
    lines = directive_lines(seed_render.document)
    assert len(seed_render.slides) == len(lines) == 67
    assert lines[0] == "1: data-class=title data-footer=E資格範囲の数式まとめ"
    assert lines[2] == ("3: data-footer=E資格範囲の数式まとめ data-header=線形代数 "
                        "data-paginate=true")


# --------------------------------------------------------------------------- fixtures

@pytest.mark.parametrize("case", fixture_params(FIXTURES / "theme_css.md"))
def test_theme_css_transformation(case: FixtureCase) -> None:
    if case.title.startswith("scoped:"):
        got = scope_css(case.input, "K")
    else:
        got = transform_css(case.input)
    assert got.strip() + "\n" == case.expected


# Themes the render fixtures can name besides the built-in ones: marp-core auto-scaling
# turned on (`@auto-scaling`) in full, for code only, and through an import; and off
# (`unscaled`: portrait_A4_note without its `@auto-scaling fittingHeader`).
_A4_NOTE = (FIXTURES.parent.parent / "builder" / "themes" / "portrait_A4_note.css").read_text(
    encoding="utf-8")
assert "/* @auto-scaling fittingHeader */\n" in _A4_NOTE
FIXTURE_THEMES = {
    "unscaled": _A4_NOTE.replace("/* @theme portrait_A4_note */", "/* @theme unscaled */")
                        .replace("/* @auto-scaling fittingHeader */\n", ""),
    "scaled": "/* @theme scaled */\n/* @auto-scaling true */\n@import 'portrait_A4_note';\n",
    "scaled_code": "/* @theme scaled_code */\n/* @auto-scaling code */\n"
                   "@import 'portrait_A4_note';\n",
    "scaled_import": "/* @theme scaled_import */\n@import 'scaled_code';\n",
}


def fixture_themes(directory: Path) -> list[Path]:
    paths = []
    for name, css in FIXTURE_THEMES.items():
        path = directory / f"{name}.css"
        path.write_text(css, encoding="utf-8")
        paths.append(path)
    return paths


@pytest.mark.parametrize("case", fixture_params(FIXTURES / "render.md"))
def test_slide_html(case: FixtureCase, tmp_path: Path) -> None:
    deck = parse_text(case.input, tmp_path / "sheet.md")
    rendered = render_deck(deck, themes=load_themes(fixture_themes(tmp_path)))
    got = "".join(rendered.slides) + "".join(
        f"! {d.loc.line}: {d.message}\n" for d in rendered.diagnostics)
    assert got.rstrip() + "\n" == case.expected


# --------------------------------------------------------------------------- behaviour

def test_a_local_image_is_inlined_and_a_missing_one_is_reported(tmp_path: Path) -> None:
    (tmp_path / "dot.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    sheet = tmp_path / "sheet.md"
    sheet.write_text("# Images\n\n![w:10px](dot.png)\n\ntext\n\n![a cat](cat%20photo.png)\n",
                     encoding="utf-8")
    rendered = render_deck(parse_file(sheet), themes=load_themes([]))
    assert [str(d) for d in rendered.diagnostics] == [
        f"{sheet}:7: warning: image not found: cat photo.png"]
    (slide,) = rendered.slides
    assert '<img src="data:image/png;base64,iVBORw0KGgo=" alt="" style="width:10px;" />' \
        in slide
    assert 'class="sheets-missing-image"' in slide and "image not found: cat photo.png" in slide


def test_a_math_error_is_a_warning_at_its_own_line(tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.md"
    sheet.write_text("# A\n\n$$ \\nosuchmacro x $$\n\ntext $\\frac{1}{$ and\n"
                     "more $\\alsobad$\n\n- $x$\n- ok $y$ \\\n  $\\z$\n", encoding="utf-8")
    rendered = render_deck(parse_file(sheet), themes=load_themes([]))
    assert [f"{d.loc.line}: {d.message}" for d in rendered.diagnostics] == [
        "3: math error: Undefined control sequence \\nosuchmacro",
        "5: math error: Missing close brace",
        "6: math error: Undefined control sequence \\alsobad",
        "10: math error: Undefined control sequence \\z",
    ]
    assert rendered.slides[0].count("sheets-math-error") == 4  # shown, not hidden


def test_a_math_error_in_a_block_is_at_the_line_of_its_command(tmp_path: Path) -> None:
    """At the line `sheets check` names for the same mistake (its step's row), not the
    opening `$$` (new-user trials saw the two commands disagree)."""
    sheet = tmp_path / "sheet.md"
    sheet.write_text("# T\n\n$$\na = b \\\\\n\\bar{x} = \\foo{y}\n$$\n\n"
                     "$$\n\\begin{aligned}\ny &= x \\\\\n  &= \\frac{1}{2 x^2\n"
                     "\\end{aligned}\n$$\n", encoding="utf-8")
    rendered = render_deck(parse_file(sheet), themes=load_themes([]))
    said = [f"{d.loc.line}: {d.message}" for d in rendered.diagnostics]
    assert said == ["5: math error: Undefined control sequence \\foo",
                    "11: math error: Missing close brace"]  # the row of the open brace
    cards = find_cards(parse_file(sheet))
    checked = check_card(cards[0], snippets_dir=None, timeout=5)
    assert [f"{check.loc.line}: {check.message}" for check in checked.checks
            if "unbalanced" in check.message] == ["11: equation: unbalanced braces"]


def test_a_subset_renders_the_same_slides_as_the_whole_deck(
        seed_render: RenderedDeck) -> None:
    """The preview re-renders only changed slides: numbering and pagination come from
    each slide, not from its position in what was given. (Only the number that tells
    a repeated heading's id apart counts the headings given, as marp-core does.)"""
    deck = parse_file(SEED)
    picked = (deck.slides[4], deck.slides[29], deck.slides[66])
    part = render_deck(replace(deck, slides=picked), themes=load_themes([]))

    def without_heading_ids(html: str) -> str:
        return re.sub(r'(<h\d) id="[^"]*"', r"\1", html)

    assert [without_heading_ids(html) for html in part.slides] == [
        without_heading_ids(seed_render.slides[s.index]) for s in picked]
    assert 'id="30"' in part.slides[1] and 'data-marpit-pagination="30"' in part.slides[1]


def test_badges_go_into_their_card_heading(tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.md"
    sheet.write_text("# Sheet\n\n## Square\n\n$$ y = x^2 $$\n\n---\n\n$$ z = 1 $$\n",
                     encoding="utf-8")
    deck = parse_file(sheet)

    def result(title: str, line: int, slide: int, status: str, message: str) -> CardResult:
        card = Card(title=title, equations=(), checks=(), assume=(), nocheck=None,
                    declarations=(), code=(), loc=SourceLoc(sheet, line), slide=slide)
        return CardResult(card=card, status=status, message=message,  # type: ignore[arg-type]
                          checks=())

    rendered = render_deck(deck, themes=load_themes([]), results=[
        result("Square", 3, 0, "fail", "x^2 <> x*3"),
        result("", 9, 1, "pass", ""),
    ])
    assert re.search(r'<h2 id="square">Square<span class="sheets-badge sheets-badge-fail"'
                     r'[^>]*title="line 3: fail\nx\^2 &lt;&gt; x\*3">fail</span></h2>',
                     rendered.slides[0])
    assert '<div class="sheets-badge-stack"><span class="sheets-badge sheets-badge-pass"' \
        in rendered.slides[1]


def test_mermaid_is_inlined_only_when_the_deck_has_a_diagram(
        seed_render: RenderedDeck, tmp_path: Path) -> None:
    assert "mermaid.initialize" in seed_render.document
    plain = render_deck(parse_text("# No diagram\n", tmp_path / "a.md"), themes=load_themes([]))
    assert "mermaid.initialize" not in plain.document
    assert len(plain.document) < 200_000


def test_a_theme_set_file_overrides_the_builtin_theme(tmp_path: Path) -> None:
    theme = tmp_path / "mine.css"
    theme.write_text("/* @theme portrait_A4_note */\n/* @size tiny 100px 50px */\n"
                     "section { width: 300px; height: 200px; background: gold; }\n",
                     encoding="utf-8")
    deck = parse_text("---\ntheme: portrait_A4_note\n---\n# A\n", tmp_path / "a.md")
    rendered = render_deck(deck, themes=load_themes([theme]))
    assert rendered.size == ("300px", "200px")
    assert "div.marpit > section{width:300px;height:200px;background:gold}" in rendered.head
    assert "@page { size: 300px 200px; margin: 0; }" in rendered.head
    sized = render_deck(replace(deck, size="tiny"), themes=load_themes([theme]))
    assert sized.size == ("100px", "50px")


def test_an_unknown_theme_is_a_warning_at_its_directive(tmp_path: Path) -> None:
    deck = parse_text("---\nmarp: true\ntheme: nosuch\n---\n# A\n", tmp_path / "a.md")
    rendered = render_deck(deck, themes=load_themes([]))
    (warning,) = rendered.diagnostics
    assert warning.loc.line == 3 and "theme 'nosuch' not found" in warning.message


CACHED_SHEET = """\
---
paginate: true
footer: "$E = mc^2$"
---

# Intro

$$ a^2 + b^2 = c^2 $$

![missing](later.png)

---

# Intro

```python
print("hi")
```

---

## Bad

text $\\frac{1}{$ here
"""


def test_the_disk_cache_renders_only_changed_slides_and_changes_nothing(
        tmp_path: Path) -> None:
    """`sheets build`'s slide cache: after an edit, only the edited slide is rendered,
    and the page, the slides and the warnings (at their new lines) are exactly those of
    a render without the cache; an image that appears is picked up; a badge is part of
    its slide's key."""
    cache = tmp_path / "cache"
    sheet = tmp_path / "sheet.md"
    themes = load_themes([])

    def build(text: str, **options: Any) -> tuple[RenderedDeck, RenderedDeck, list[int]]:
        sheet.write_text(text, encoding="utf-8")
        cached = render_deck(parse_file(sheet), themes=themes, cache_dir=cache, **options)
        return cached, render_deck(parse_file(sheet), themes=themes, **options), \
            list(cached.rendered)

    def same(cached: RenderedDeck, plain: RenderedDeck) -> None:
        assert cached.document == plain.document
        assert cached.slides == plain.slides
        assert [str(d) for d in cached.diagnostics] == [str(d) for d in plain.diagnostics]

    cached, plain, done = build(CACHED_SHEET)
    same(cached, plain)
    assert done == [0, 1, 2]
    assert 'id="intro-1"' in cached.slides[1]
    # Two lines more on the first slide, and its heading renamed: the second slide's
    # heading id changes, the third slide's warning moves down.
    edited = CACHED_SHEET.replace("# Intro\n\n$$", "# Start\n\nnew\n\nlines\n\n$$", 1)
    cached, plain, done = build(edited)
    same(cached, plain)
    assert done == [0, 1]
    assert 'id="intro"' in cached.slides[1]
    assert any("math error: Missing close brace" in str(d) and d.loc.line == 28
               for d in cached.diagnostics)
    cached, plain, done = build(edited)
    assert done == [] and cached.document == plain.document
    (tmp_path / "later.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    cached, plain, done = build(edited)
    same(cached, plain)
    assert done == [0] and "image not found" not in cached.slides[0]

    card = Card(title="Bad", equations=(), checks=(), assume=(), nocheck=None,
                declarations=(), code=(), loc=SourceLoc(sheet, 26), slide=2)
    results = [CardResult(card=card, status="fail", message="no", checks=())]
    cached, plain, done = build(edited, results=results)
    same(cached, plain)
    assert done == [2] and "sheets-badge-fail" in cached.slides[2]


def test_badge_colours_come_from_the_theme_when_it_has_them(tmp_path: Path) -> None:
    deck = parse_text("# A\n", tmp_path / "a.md")
    builtin = render_deck(deck, themes=load_themes([]))  # portrait_A4_note styles badges
    assert builtin.document.count(".sheets-badge-pass{") == 1
    assert "#3f7d4e" in builtin.head and "#2e7d32" not in builtin.head
    theme = tmp_path / "plain.css"
    theme.write_text("/* @theme plain */\nsection { color: black; }\n", encoding="utf-8")
    plain = render_deck(replace(deck, theme="plain"), themes=load_themes([theme]))
    assert "div.marpit > section .sheets-badge-pass { background: #2e7d32; }" in plain.head


# --------------------------------------------------------------------------- in Chromium

@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


SPLIT_SHEET = """\
# Left

![bg left:40%](pic.svg)

text

---

# Right

![bg right](pic.svg)
![bg](pic.svg)

text
"""


def test_split_backgrounds_in_chromium(browser: Browser, tmp_path: Path) -> None:
    """The picture takes its part of the slide, the content the rest, and nothing counts
    as running off the page (pdf.py's overflow measure)."""
    (tmp_path / "pic.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30">'
        '<rect width="40" height="30" fill="#c33"/></svg>', encoding="utf-8")
    sheet = tmp_path / "split.md"
    sheet.write_text(SPLIT_SHEET, encoding="utf-8")
    rendered = render_deck(parse_file(sheet), themes=load_themes([]))
    assert rendered.diagnostics == ()
    page_file = tmp_path / "split.html"
    page_file.write_text(rendered.document, encoding="utf-8")
    page = browser.new_page()
    page.emulate_media(media="print")
    page.goto(page_file.as_uri())
    boxes = page.evaluate("""() => [...document.querySelectorAll('div.marpit > section')]
        .map((s) => {
          const box = s.getBoundingClientRect();
          const x = (e) => (e.getBoundingClientRect().left - box.left) / box.width;
          const right = (e) => (e.getBoundingClientRect().right - box.left) / box.width;
          return {
            heading: [x(s.querySelector('h1')), right(s.querySelector('h1'))],
            figures: [...s.querySelectorAll('figure')].map((f) => [x(f), right(f)]),
            overflow: [s.scrollWidth - s.clientWidth, s.scrollHeight - s.clientHeight],
          };
        })""")
    left, right = boxes
    assert left["figures"] == [pytest.approx([0, 0.4], abs=0.01)]
    assert left["heading"][0] > 0.4
    assert right["figures"] == [pytest.approx([0.5, 0.75], abs=0.01),
                                pytest.approx([0.75, 1], abs=0.01)]
    assert right["heading"][1] < 0.5
    assert left["overflow"] == right["overflow"] == [0, 0]
    page.close()


def test_the_page_loads_its_math_fonts_before_laying_anything_out(
        browser: Browser, tmp_path: Path) -> None:
    """The fonts the page declares (MathJax's, for the glyphs its formulas use) start
    loading as the head is parsed, not once a layout meets a glyph: Chromium then lays
    the page out once, with them. Shown on a page whose slides are never laid out: its
    fonts load all the same."""
    sheet = tmp_path / "fonts.md"
    sheet.write_text("# Fonts\n\n$$\\mathcal{L} = \\sum_i x_i^2$$\n", encoding="utf-8")
    rendered = render_deck(parse_file(sheet), themes=load_themes([]))
    hidden = rendered.document.replace(
        "</head>", "<style>div.marpit { display: none; }</style></head>", 1)
    page_file = tmp_path / "fonts.html"
    page_file.write_text(hidden, encoding="utf-8")
    page = browser.new_page()
    page.goto(page_file.as_uri())
    statuses = page.evaluate("""async () => {
        await document.fonts.ready;
        return Object.fromEntries([...document.fonts].map((f) => [f.family, f.status]));
    }""")
    page.close()
    assert {"MJXTEX", "MJXTEX-I", "MJXTEX-C"} <= statuses.keys()
    assert set(statuses.values()) == {"loaded"}, statuses


def test_the_page_in_chromium(seed_render: RenderedDeck, browser: Browser,
                              tmp_path: Path) -> None:
    """Math typeset without errors, the viewer's keys, one A4 page per slide in print
    media, the diagram drawn, and no request leaving the file."""
    page_file = tmp_path / "deck.html"
    page_file.write_text(seed_render.document, encoding="utf-8")
    page = browser.new_page(viewport={"width": 1000, "height": 800})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(page_file.as_uri())
    page.wait_for_function("() => window.sheetsViewer !== undefined", timeout=30_000)

    math = page.evaluate("""() => ({
        display: document.querySelectorAll('mjx-container[display="true"]').length,
        inline: document.querySelectorAll('mjx-container:not([display="true"])').length,
        errors: document.querySelectorAll('mjx-merror').length,
        raw: [...document.querySelectorAll('section')].filter(
            (s) => /\\$\\$|\\\\frac|\\\\begin/.test(s.innerText)).length,
    })""")
    assert math["errors"] == 0 and math["raw"] == 0
    structure = (FIXTURES / "seed001_structure.txt").read_text(encoding="utf-8")
    counts = [tuple(map(int, pair)) for pair in re.findall(r"math=(\d+)/(\d+)", structure)]
    assert (math["display"], math["inline"]) == tuple(map(sum, zip(*counts, strict=True)))

    visible = "() => [...document.querySelectorAll('div.marpit > section')]" \
              ".filter((s) => getComputedStyle(s).display !== 'none').map((s) => s.id)"
    assert page.evaluate(visible) == ["1"]
    page.keyboard.press("ArrowRight")
    page.keyboard.press("PageDown")
    assert page.evaluate(visible) == ["3"] and page.evaluate("location.hash") == "#3"
    page.keyboard.press("End")
    assert page.evaluate(visible) == ["67"]
    page.keyboard.press("PageUp")
    assert page.evaluate(visible) == ["66"]
    page.keyboard.press("Home")
    assert page.evaluate(visible) == ["1"]
    page.keyboard.press("f")
    page.wait_for_function("() => document.fullscreenElement !== null", timeout=10_000)
    scale = float(page.evaluate(
        "getComputedStyle(document.body).getPropertyValue('--sheets-scale')"))
    assert 0.3 < scale < 2

    assert page.evaluate("document.querySelector('section[id=\"67\"] .mermaid svg') !== null")

    page.emulate_media(media="print")
    sizes = page.evaluate("""() => [...document.querySelectorAll('div.marpit > section')]
        .filter((s) => getComputedStyle(s).display !== 'none')
        .map((s) => [Math.round(s.getBoundingClientRect().width),
                     Math.round(s.getBoundingClientRect().height)])""")
    assert sizes == [[794, 1123]] * 67
    # What the browser's print dialog does with the page: one A4 page per slide.
    printed = tmp_path / "printed.pdf"
    page.pdf(path=str(printed), prefer_css_page_size=True, print_background=True)
    with pikepdf.open(printed) as pdf:
        assert len(pdf.pages) == 67
        assert {(round(float(p.mediabox[2])), round(float(p.mediabox[3])))
                for p in pdf.pages} == {(595, 842)}
    assert all(url.startswith(("file:", "data:", "about:")) for url in requested), requested
    page.close()


FITTING_SHEET = """\
---
marp: true
theme: scaled
---

# <!-- fit --> Fit

## <!-- fit --> A fitting heading much too long for one line of the slide at its size

$$
""" + " + ".join(f"a_{{{n}}}" for n in range(1, 41)) + """
$$

$$
x = 1
$$

```
""" + "print('a code line far too long for the slide: it does not wrap but shrinks', 1, 2, 3)" \
    + """
```
"""

# Per slide: the content box, and each thing fitting.js scales (a heading's content is
# scaled in its shadow root) with its zoom and its edges and those of the box it must fit
# (the heading's, the math paragraph's, the code block's content box), relative to the
# section.
MEASURE_FITTING = """async () => {
  await window.sheetsReady;
  const inner = (element) => {
    const box = element.getBoundingClientRect(), style = getComputedStyle(element);
    return [box.left + parseFloat(style.borderLeftWidth) + parseFloat(style.paddingLeft),
            box.right - parseFloat(style.borderRightWidth) - parseFloat(style.paddingRight)];
  };
  return [...document.querySelectorAll('div.marpit > section')].map((section) => {
    const origin = section.getBoundingClientRect().left;
    const scaled = (selector, room) => [...section.querySelectorAll(selector)].map((element) => {
      const target = element.shadowRoot ? element.shadowRoot.firstElementChild : element;
      const box = target.getBoundingClientRect();
      const [left, right] = inner(room(element));
      return {left: box.left - origin, right: box.right - origin, height: box.height,
              zoom: Number(target.style.zoom || 1), room: [left - origin, right - origin]};
    });
    const [left, right] = inner(section);
    return {
      content: [left - origin, right - origin],
      headings: scaled('h1, h2', (heading) => heading),
      math: scaled('mjx-container[display="true"] > mjx-math', (math) => math.parentElement),
      code: scaled('pre > code', (code) => code.parentElement),
      overflow: [section.scrollWidth - section.clientWidth,
                 section.scrollHeight - section.clientHeight],
    };
  });
}"""


def _measure_fitting(browser: Browser, rendered: RenderedDeck, page_file: Path
                     ) -> list[dict[str, Any]]:
    page_file.write_text(rendered.document, encoding="utf-8")
    page = browser.new_page()
    page.emulate_media(media="print")
    page.goto(page_file.as_uri())
    slides: list[dict[str, Any]] = page.evaluate(MEASURE_FITTING)
    page.close()
    return slides


def test_fitting_in_chromium(browser: Browser, tmp_path: Path) -> None:
    """Printed (as pdf.py prints): a fitting heading fills its content width (scaled up
    or down); display math and code wider than the slide shrink into the content box and
    narrower ones keep their size; nothing runs off the slide. Math shrinks under a theme
    without @auto-scaling too, as Marp's MathJax does."""
    sheet = tmp_path / "fitting.md"
    sheet.write_text(FITTING_SHEET, encoding="utf-8")
    themes = load_themes(fixture_themes(tmp_path))
    (fitted,) = _measure_fitting(browser, render_deck(parse_file(sheet), themes=themes),
                                 tmp_path / "fitting.html")
    short, long = fitted["headings"]
    for heading in (short, long):
        assert heading["left"] == pytest.approx(heading["room"][0], abs=3)
        assert heading["right"] == pytest.approx(heading["room"][1], abs=3)
    assert short["zoom"] > 2 and long["zoom"] < 1
    assert long["height"] < 40  # one line
    left, right = fitted["content"]
    wide, narrow = fitted["math"]
    assert wide["zoom"] < 1 and left - 0.5 <= wide["left"] and wide["right"] <= right + 0.5
    assert wide["right"] - wide["left"] > 0.95 * (right - left)
    assert narrow["zoom"] == 1
    (code,) = fitted["code"]
    assert code["zoom"] < 1 and code["right"] <= code["room"][1] + 0.5
    assert fitted["overflow"] == [0, 0]

    unscaled = replace(parse_file(sheet), theme="unscaled")
    (plain,) = _measure_fitting(browser, render_deck(unscaled, themes=themes),
                                tmp_path / "unscaled.html")
    assert [heading["zoom"] for heading in plain["headings"]] == [1, 1]
    wide, narrow = plain["math"]
    assert wide["zoom"] < 1 and wide["right"] <= plain["content"][1] + 0.5
    assert narrow["zoom"] == 1
    assert plain["overflow"][0] == 0

    # The built-in theme scales fitting headings (`@auto-scaling fittingHeader`), not code.
    builtin = replace(parse_file(sheet), theme=None)
    (notes,) = _measure_fitting(browser, render_deck(builtin, themes=themes),
                                tmp_path / "builtin.html")
    short, long = notes["headings"]
    assert short["zoom"] > 2 and long["zoom"] < 1
    assert long["right"] == pytest.approx(long["room"][1], abs=3)
    assert [code["zoom"] for code in notes["code"]] in ([], [1])


def test_the_fitting_script_is_inlined_only_when_something_is_scaled(tmp_path: Path) -> None:
    themes = load_themes(fixture_themes(tmp_path))

    def document(text: str) -> str:
        return render_deck(parse_text(text, tmp_path / "a.md"), themes=themes).document

    assert "sheetsFit" not in document("---\ntheme: unscaled\n---\n# <!-- fit --> Plain\n\n"
                                       "$x$ inline\n")
    assert "sheetsFit" not in document("# Plain heading\n\n$x$ inline\n")
    assert "sheetsFit" in document("# <!-- fit --> Built-in theme\n")
    assert "sheetsFit" in document("---\ntheme: scaled\n---\n# <!-- fit --> Fitting\n")
    assert "sheetsFit" in document("# Display math\n\n$$\nx\n$$\n")


def test_the_preview_fits_patched_slides(browser: Browser, tmp_path: Path) -> None:
    """`sheets preview`: fitting.js comes with the preview's script and runs on each
    slide the page patches (here: on load, then after the fitting heading is edited)."""
    sheet = tmp_path / "fitting.md"
    sheet.write_text(FITTING_SHEET, encoding="utf-8")
    rebuild = SheetPreview(sheet, theme_set=fixture_themes(tmp_path))
    server = PreviewServer(sheet, rebuild, port=0)
    server.start()
    threading.Thread(target=server.run_build_loop, daemon=True).start()
    page = browser.new_page(viewport={"width": 1000, "height": 1200})
    try:
        page.goto(server.url)
        fitted = """(word) => sheetsPreview.fitVersion === sheetsPreview.version &&
            sheetsPreview.slides.length === 1 &&
            sheetsPreview.slides[0].querySelector('h1').textContent.includes(word)"""
        zooms = """() => [...sheetsPreview.slides[0].querySelectorAll('h1, h2')].map(
            (h) => Number(h.shadowRoot.firstElementChild.style.zoom))"""
        page.wait_for_function(fitted, arg="Fit", timeout=30_000)
        short, long = page.evaluate(zooms)
        assert short > 2 and long < 1
        sheet.write_text(FITTING_SHEET.replace("# <!-- fit --> Fit",
                                               "# <!-- fit --> Fit, now a little longer"),
                         encoding="utf-8")
        page.wait_for_function(fitted, arg="longer", timeout=30_000)
        longer, long_again = page.evaluate(zooms)
        assert 1 < longer < short and long_again == pytest.approx(long, rel=0.01)
        # The cards' check badges sit in their headings, out of what is scaled: the
        # headings keep the size the PDF gives them.
        page.wait_for_function(
            "() => sheetsPreview.fitVersion === sheetsPreview.version && "
            "sheetsPreview.slides[0].querySelector('h2 .sheets-badge') !== null",
            timeout=60_000)
        assert page.evaluate(zooms) == pytest.approx([longer, long], rel=0.01)
    finally:
        page.close()
        server.shutdown()


def test_shrunk_math_and_code_are_no_overflow_in_the_pdf(tmp_path: Path) -> None:
    """pdf.py measures overflow after the page's scripts: the wide formula and code that
    fitting.js shrinks are not reported, and the same page without fitting.js is."""
    sheet = tmp_path / "fitting.md"
    sheet.write_text(FITTING_SHEET, encoding="utf-8")
    deck = parse_file(sheet)
    rendered = render_deck(deck, themes=load_themes(fixture_themes(tmp_path)))
    start = rendered.document.rindex("<script>", 0, rendered.document.index("sheetsFit"))
    end = rendered.document.index("</script>", start) + len("</script>")
    unfitted = rendered.document[:start] + rendered.document[end:]
    assert "sheetsFit" not in unfitted
    fitted_result, unfitted_result = build_pdfs([
        job_for_deck(deck, rendered.document, tmp_path / "fitted.pdf"),
        job_for_deck(deck, unfitted, tmp_path / "unfitted.pdf"),
    ])
    assert fitted_result.diagnostics == ()
    assert [d.message.endswith("px horizontally") for d in unfitted_result.diagnostics] == [True]


def test_the_code_digest_covers_every_file_of_the_package(tmp_path: Path) -> None:
    """The slide cache's key is keyed on the package's files found by walking it, not
    on a list kept by hand: a module added, edited or renamed changes the digest."""
    import shutil

    from builder.resources import PACKAGE, files_digest, package_digest

    copy = tmp_path / "builder"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = files_digest(copy)
    assert before == files_digest(PACKAGE) == package_digest()
    (copy / "render" / "extra.py").write_text("VALUE = 1\n", encoding="utf-8")
    added = files_digest(copy)
    assert added != before
    (copy / "render" / "extra.py").rename(copy / "render" / "renamed.py")
    assert files_digest(copy) not in (before, added)
    (copy / "render" / "renamed.py").unlink()
    assert files_digest(copy) == before
    (copy / "templates" / "slide.html.j2").write_text("changed", encoding="utf-8")
    assert files_digest(copy) != before
