"""The themes in builder/themes/: genuine Marp theme files (Marp CLI takes them with
`--theme-set`) that lay out Marp's slide DOM as designed, checked in the real Chromium
and, where it is installed, through the real Marp CLI."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from seeds import SEED_DECK

from builder.marp import parse_file
from builder.pdf import Browser, Tab, find_chromium
from builder.render import load_themes, render_deck

ROOT = Path(__file__).resolve().parent.parent
THEMES = ROOT / "builder" / "themes"
SEED_001 = SEED_DECK
# Installed by bench/pdf.py (`make bench`) with npm, no browser download.
MARP = ROOT / "bench" / "node_modules" / ".bin" / "marp"
PX_PER_PT = 96 / 72


@dataclass(frozen=True)
class ThemeSpec:
    name: str
    width_px: float
    height_px: float


PORTRAIT = ThemeSpec("portrait_A4_note", 210 / 25.4 * 96, 297 / 25.4 * 96)
SLIDES = ThemeSpec("slides_16x9", 1280, 720)
SPECS = (PORTRAIT, SLIDES)


def theme_css(spec: ThemeSpec) -> str:
    return (THEMES / f"{spec.name}.css").read_text(encoding="utf-8")


# ---------------------------------------------------------------- the files themselves

def test_every_theme_file_is_tested() -> None:
    assert sorted(path.stem for path in THEMES.glob("*.css")) == sorted(s.name for s in SPECS)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_theme_names_itself_as_marp_requires(spec: ThemeSpec) -> None:
    # Marp reads the name from a `@theme` meta comment; without it the file is rejected.
    names = re.findall(r"/\*\s*@theme\s+(\S+)\s*\*/", theme_css(spec))
    assert names == [spec.name]


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_pagination_content_survives_marps_filter(spec: ThemeSpec) -> None:
    # Marpit comments out any `content` of section::after that lacks this attribute.
    rules = re.findall(r"section::after\s*\{([^}]*)\}", theme_css(spec))
    contents = [m for rule in rules for m in re.findall(r"content:\s*([^;]+);", rule)]
    assert contents and all("attr(data-marpit-pagination)" in c for c in contents)


# ---------------------------------------------------------------- laid out in Chromium

def deck(spec: ThemeSpec, *sections: str) -> str:
    """A page with Marp's slide DOM (div.marpit > section, header/footer inside,
    data-marpit-pagination on paginated slides) styled by the raw theme file."""
    return (
        "<!DOCTYPE html><html lang='ja'><head><meta charset='utf-8'>"
        f"<style>body {{ margin: 0; }}\n{theme_css(spec)}</style></head>"
        f"<body><div class='marpit'>{''.join(sections)}</div></body></html>"
    )


TITLE = ("<section id='1' class='title'><h1>E資格範囲数式まとめ</h1>"
         "<footer>まとめ</footer></section>")
CONTENT = (
    "<section id='2' data-marpit-pagination='2' data-marpit-pagination-total='3'>"
    "<header>線形代数</header>"
    "<h2>固有方程式<span class='sheets-badge sheets-badge-pass'>pass</span></h2>"
    "<p>行列式は零になる。</p>"
    "<h5>◆ポイント・各要素の意味など</h5><ul><li>λ は固有値</li><li>I は単位行列</li></ul>"
    "<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td>2</td>"
    "</tr></tbody></table>"
    "<pre><code>params[key] -= self.lr * grads[key]  # " + "とても長い行 " * 30 + "</code></pre>"
    "<footer>E資格範囲の数式まとめ</footer></section>"
)
UNPAGINATED = "<section id='3'><h1>確率・統計・情報理論</h1><footer>まとめ</footer></section>"

MEASURE = """(async () => {
  await document.fonts.ready;
  const sections = [...document.querySelectorAll('div.marpit > section')];
  const box = (el, section) => {
    if (!el) return null;
    const r = el.getBoundingClientRect(), s = section.getBoundingClientRect();
    return {top: r.top - s.top, bottom: r.bottom - s.top, left: r.left - s.left,
            right: r.right - s.left, height: r.height};
  };
  return sections.map((section) => {
    const style = getComputedStyle(section);
    const badge = section.querySelector('.sheets-badge');
    return {
      width: section.getBoundingClientRect().width,
      height: section.getBoundingClientRect().height,
      paddingTop: parseFloat(style.paddingTop),
      paddingBottom: parseFloat(style.paddingBottom),
      font: style.fontFamily,
      overflowY: section.scrollHeight - section.clientHeight,
      overflowX: section.scrollWidth - section.clientWidth,
      first: box(section.querySelector('h1, h2'), section),
      header: box(section.querySelector('header'), section),
      footer: box(section.querySelector('footer'), section),
      pre: box(section.querySelector('pre'), section),
      badge: badge ? getComputedStyle(badge).display : null,
      pagination: getComputedStyle(section, '::after').display,
    };
  });
})()"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser(find_chromium()) as started:
        yield started


@pytest.fixture(scope="module")
def pages(browser: Browser, tmp_path_factory: pytest.TempPathFactory
          ) -> dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]], bytes]]:
    """Per theme: the slides measured on screen, measured with print media, and the
    deck printed to PDF."""
    out = tmp_path_factory.mktemp("themes")
    result = {}
    for spec in SPECS:
        page = out / f"{spec.name}.html"
        page.write_text(deck(spec, TITLE, CONTENT, UNPAGINATED), encoding="utf-8")
        with browser.tab(int(spec.width_px) + 40, int(spec.height_px) + 40) as tab:
            tab.open(page.as_uri())
            screen = tab.evaluate(MEASURE)
            print_media = _with_media(tab, "print")
            pdf = tab.print_pdf(spec.width_px, spec.height_px)
        result[spec.name] = (screen, print_media, pdf)
    return result


def _with_media(tab: Tab, media: str) -> list[dict[str, Any]]:
    tab.call("Emulation.setEmulatedMedia", {"media": media})
    measured: list[dict[str, Any]] = tab.evaluate(MEASURE)
    tab.call("Emulation.setEmulatedMedia", {"media": ""})
    return measured


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_slide_size(pages: dict[str, Any], spec: ThemeSpec) -> None:
    for slide in pages[spec.name][0]:
        assert slide["width"] == pytest.approx(spec.width_px, abs=0.5)
        assert slide["height"] == pytest.approx(spec.height_px, abs=0.5)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_content_flows_from_the_top(pages: dict[str, Any], spec: ThemeSpec) -> None:
    content = pages[spec.name][0][1]
    # The heading starts where the padding ends: not centred as Marp's default theme.
    assert content["first"]["top"] == pytest.approx(content["paddingTop"], abs=2)
    assert content["overflowY"] <= 1 and content["overflowX"] <= 1


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_header_and_footer_sit_in_the_padding(pages: dict[str, Any], spec: ThemeSpec) -> None:
    content = pages[spec.name][0][1]
    assert content["header"]["top"] >= 0 and content["header"]["bottom"] <= content["first"]["top"]
    assert content["footer"]["top"] >= spec.height_px - content["paddingBottom"]
    assert content["footer"]["bottom"] <= spec.height_px


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_long_code_lines_wrap_inside_the_slide(pages: dict[str, Any], spec: ThemeSpec) -> None:
    pre = pages[spec.name][0][1]["pre"]
    assert pre["right"] <= spec.width_px and pre["height"] > 60  # wrapped onto several lines


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_title_slide_is_centred(pages: dict[str, Any], spec: ThemeSpec) -> None:
    title = pages[spec.name][0][0]["first"]
    middle = (title["top"] + title["bottom"]) / 2
    assert 0.3 * spec.height_px < middle < 0.6 * spec.height_px
    assert abs((title["left"] + title["right"]) / 2 - spec.width_px / 2) < 2


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_japanese_text_asks_for_noto_cjk(pages: dict[str, Any], spec: ThemeSpec) -> None:
    assert pages[spec.name][0][1]["font"].startswith('"Noto Sans CJK JP"')


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_page_number_only_on_paginated_slides(pages: dict[str, Any], spec: ThemeSpec) -> None:
    screen, _, pdf = pages[spec.name]
    assert [slide["pagination"] for slide in screen] == ["none", "block", "none"]
    text = pdftotext(pdf)
    pages_text = text.split("\f")
    assert re.search(r"\b2\s*/\s*3\b", pages_text[1])
    assert "/" not in pages_text[0] and "/" not in pages_text[2]
    assert "線形代数" in pages_text[1] and "E資格範囲の数式まとめ" in pages_text[1]


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_badges_show_on_screen_but_are_not_printed(pages: dict[str, Any],
                                                   spec: ThemeSpec) -> None:
    screen, print_media, pdf = pages[spec.name]
    assert screen[1]["badge"] == "inline-block"
    assert print_media[1]["badge"] == "none"
    assert "pass" not in pdftotext(pdf)


def pdftotext(pdf: bytes) -> str:
    completed = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf,
                               capture_output=True, check=True)
    return completed.stdout.decode()


# ---------------------------------------------------------------- through Marp CLI

SMALL_SHEET = """---
marp: true
theme: {theme}
paginate: true
math: mathjax
footer: 小さなシート
---

# 小さなシート
<!-- _class: title -->
<!-- _paginate: false -->

---

<!-- _header: 線形代数 -->
## 固有方程式

$$ \\det (\\lambda I - A) = 0 $$

| a | b |
|---|---|
| 1 | 2 |

```python
print("hello")
```
"""


def marp(*args: str | Path) -> subprocess.CompletedProcess[str]:
    if not MARP.exists():
        message = (f"Marp CLI is not installed at {MARP.relative_to(ROOT)} "
                   "(make test and make bench install it)")
        if os.environ.get("CI") == "true":
            pytest.fail(message)  # CI runs make test, which installs it: never skip there
        pytest.skip(message)
    env = {**os.environ, "CHROME_PATH": str(find_chromium())}
    return subprocess.run([str(MARP), "--allow-local-files", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.name)
def test_marp_cli_prints_at_the_theme_size(spec: ThemeSpec, tmp_path: Path) -> None:
    sheet = tmp_path / "small.md"
    sheet.write_text(SMALL_SHEET.format(theme=spec.name), encoding="utf-8")
    run = marp("--theme-set", THEMES / f"{spec.name}.css", "--pdf", sheet,
               "-o", tmp_path / "small.pdf")
    assert run.returncode == 0, run.stderr
    # An unknown theme makes Marp fall back to its default theme and say so.
    assert "not found" not in run.stderr.lower()
    with pikepdf.open(tmp_path / "small.pdf") as pdf:
        assert len(pdf.pages) == 2
        for page in pdf.pages:
            x0, y0, x1, y1 = (float(v) for v in page.mediabox)
            assert (x1 - x0) * PX_PER_PT == pytest.approx(spec.width_px, abs=1)
            assert (y1 - y0) * PX_PER_PT == pytest.approx(spec.height_px, abs=1)
    text = pdftotext((tmp_path / "small.pdf").read_bytes())
    assert re.search(r"\b2\s*/\s*2\b", text) and "線形代数" in text


def test_seed_deck_through_marp_cli_has_no_cut_slide(browser: Browser, tmp_path: Path) -> None:
    """The reference deck, built by Marp CLI with portrait_A4_note: 67 slides, none
    whose content runs past its page."""
    sheet = tmp_path / "seed001.md"
    shutil.copy(SEED_001, sheet)
    run = marp("--theme-set", THEMES / "portrait_A4_note.css", "--html", sheet,
               "-o", tmp_path / "seed001.html")
    assert run.returncode == 0, run.stderr
    html = (tmp_path / "seed001.html").read_text(encoding="utf-8")
    assert html.count('data-theme="portrait_A4_note"') == 67
    with browser.tab(900, 1200) as tab:
        tab.open((tmp_path / "seed001.html").as_uri())
        slides = tab.evaluate("""(async () => {
          await document.fonts.ready;
          return [...document.querySelectorAll('svg[data-marpit-svg] > foreignObject > section')]
            .map((s) => ({id: s.id, width: s.offsetWidth, height: s.offsetHeight,
                          over: Math.max(s.scrollHeight - s.clientHeight,
                                         s.scrollWidth - s.clientWidth)}));
        })()""")
    assert len(slides) == 67
    assert {(s["width"], s["height"]) for s in slides} == {(794, 1123)}
    assert [s["id"] for s in slides if s["over"] > 1] == []


# ---------------------------------------------------------------- through our renderer

def test_seed_deck_through_sheets_has_no_cut_slide(browser: Browser, tmp_path: Path) -> None:
    """The same deck through render.py, which packs the theme as marpit does: the same
    67 A4 slides, none cut (what pdf.py reports as an overflowing slide)."""
    rendered = render_deck(parse_file(SEED_001), themes=load_themes(()))
    assert rendered.theme == "portrait_A4_note"
    page = tmp_path / "seed001.html"
    page.write_text(rendered.document, encoding="utf-8")
    with browser.tab(900, 1200) as tab:
        tab.open(page.as_uri())
        # Print media shows every slide (the viewer shows one per screen).
        tab.call("Emulation.setEmulatedMedia", {"media": "print"})
        slides = tab.evaluate("""(async () => {
          await document.fonts.ready;
          const deadline = Date.now() + 10000;  // mermaid draws after load
          while (document.querySelector('.mermaid:not([data-processed])')
                 && Date.now() < deadline) { await new Promise((r) => setTimeout(r, 25)); }
          return [...document.querySelectorAll('div.marpit > section')]
            .map((s) => ({id: s.id, width: s.offsetWidth, height: s.offsetHeight,
                          over: Math.max(s.scrollHeight - s.clientHeight,
                                         s.scrollWidth - s.clientWidth)}));
        })()""")
    assert len(slides) == 67
    assert {(s["width"], s["height"]) for s in slides} == {(794, 1123)}
    assert [s["id"] for s in slides if s["over"] > 1] == []
