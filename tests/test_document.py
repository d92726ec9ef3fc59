"""Plain notes laid out as documents (docs/format.md §1, "Slides or a document"): the
layout rule, the HTML, and PDFs printed by the real Chromium: all of the seed notes'
text, cards kept on one page when they fit, the running head, page numbers, outline and
metadata, Japanese line breaking, missing images."""

from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pikepdf
import pytest
from document_text import found_share, normalized, pdf_text, sheet_segments
from seeds import SEEDS

from builder.marp import parse_text, sheet_layout
from builder.pdf import Browser, find_chromium
from builder.render import load_themes, render_deck

ROOT = Path(__file__).resolve().parent.parent
NOTES = {name: next(SEEDS.glob(f"{name}_*.txt")) for name in ("000", "002", "003", "004")}


def sheets(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHEETS_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "builder", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def seed_pdfs(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> dict[str, Path]:
    """The four plain seed notes printed by one `sheets build` (one Chromium)."""
    out = tmp_path_factory.mktemp("seed-pdfs")
    result = sheets("build", *map(str, NOTES.values()), "-o", str(out), cwd=out,
                    cache=cache_dir)
    assert result.returncode == 0, result.stderr
    assert "overflows" not in result.stderr
    return {name: out / f"{path.stem}.pdf" for name, path in NOTES.items()}


# --------------------------------------------------------------------------- the rule

@pytest.mark.parametrize(("front_matter", "forced", "layout"), [
    ("", None, "document"),
    ("marp: true\n", None, "slides"),
    ("marp: false\n", None, "document"),
    ("layout: slides\n", None, "slides"),
    ("marp: true\nlayout: document\n", None, "document"),
    ("marp: true\n", "document", "document"),
    ("layout: document\n", "slides", "slides"),
], ids=["plain", "marp", "marp-false", "layout-slides", "layout-document", "as-document",
        "as-slides"])
def test_a_sheet_is_a_document_unless_it_is_a_marp_deck(
        front_matter: str, forced: str | None, layout: str) -> None:
    text = (f"---\n{front_matter}---\n" if front_matter else "") + "# A\n\ntext\n"
    deck = parse_text(text, Path("note.md"))
    assert sheet_layout(deck, forced) == layout  # type: ignore[arg-type]
    assert not deck.diagnostics


def test_an_unknown_layout_is_a_warning_at_its_line() -> None:
    deck = parse_text("---\ntitle: x\nlayout: poster\n---\n# A\n", Path("note.md"))
    assert [str(d) for d in deck.diagnostics] == [
        "note.md:3: warning: directive 'layout' ignored: unusable value 'poster' (it is "
        "'document' or 'slides')"]
    assert sheet_layout(deck) == "document"


# --------------------------------------------------------------------------- HTML

def test_a_document_s_html_scrolls_with_its_cards_marked() -> None:
    sheet = NOTES["000"]
    deck = parse_text(sheet.read_text(encoding="utf-8"), sheet)
    themes = load_themes([])
    document = render_deck(deck, themes=themes, layout="document")
    slides = render_deck(deck, themes=themes)
    page = document.document
    assert '<div class="marpit sheets-document">' in page
    assert "sheetsViewer" not in page and "sheets-viewer" not in page  # no slide viewer
    assert "sheets-viewer" in slides.document
    # Every heading of the note starts a card, whose id is the heading's line.
    headings = [heading for slide in deck.slides for heading in slide.headings]
    assert len(headings) > 30
    for heading in headings:
        line = heading.loc.line
        assert (f'<div class="sheets-card" id="sheets-line-{line}" '
                f'data-level="{heading.level}">') in page
        assert f'<a href="#sheets-line-{line}"></a>' in page
    # The theme's typography, with the document's own rules after it.
    assert "--note-accent-soft" in document.head and "--note-accent-soft" in slides.head
    assert "break-inside: avoid" in document.head and "line-break: strict" in document.head
    assert "sheets-card" not in slides.document


# --------------------------------------------------------------------------- PDF

@pytest.mark.parametrize("name", list(NOTES))
def test_the_seed_notes_print_all_their_text(seed_pdfs: dict[str, Path], name: str) -> None:
    share, missing = found_share(sheet_segments(NOTES[name]), pdf_text(seed_pdfs[name]))
    assert share >= 0.99, missing[:10]


def test_the_long_seed_note_prints_on_tens_of_pages(seed_pdfs: dict[str, Path]) -> None:
    with pikepdf.open(seed_pdfs["004"]) as pdf:
        assert 30 <= len(pdf.pages) <= 50
        for page in pdf.pages:  # A4: 595 x 842 pt
            width, height = (float(page.mediabox[2]), float(page.mediabox[3]))
            assert abs(width - 595.3) < 1.5 and abs(height - 841.9) < 1.5


def test_every_page_has_the_running_head_and_its_number(seed_pdfs: dict[str, Path]) -> None:
    pdf = seed_pdfs["000"]
    raw = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                         text=True, check=True).stdout
    pages = [page for page in raw.split("\f") if page.strip()]
    assert len(pages) > 5
    for number, page in enumerate(pages, 1):
        lines = [line.strip() for line in page.splitlines() if line.strip()]
        assert lines[0] == "E資格黒本 19章"  # the title: the note's first heading
        assert lines[-1] == f"{number} / {len(pages)}"


def test_the_outline_has_each_heading_at_its_page(seed_pdfs: dict[str, Path]) -> None:
    sheet = NOTES["000"]
    deck = parse_text(sheet.read_text(encoding="utf-8"), sheet)
    headings = [heading for slide in deck.slides for heading in slide.headings]
    raw = subprocess.run(["pdftotext", str(seed_pdfs["000"]), "-"], capture_output=True,
                         text=True, check=True).stdout.split("\f")
    with pikepdf.open(seed_pdfs["000"]) as pdf:
        assert pdf.docinfo["/Title"] == "E資格黒本 19章"
        pages = {page.obj.objgen: index for index, page in enumerate(pdf.pages)}
        with pdf.open_outline() as outline:
            items = list(_walk(outline.root))
        assert [item.title for item in items] == [heading.plain for heading in headings]
        for item in items:
            assert isinstance(item.destination, pikepdf.Array)
            page = pages[item.destination[0].objgen]
            assert normalized(item.title)[:12] in normalized(raw[page])
        # Nested by level: `## 各要素の意味など` under the `#` heading before it.
        top = [item.title for item in outline_roots(pdf)]
        assert "固有方程式" in top and "各要素の意味など" not in top


def outline_roots(pdf: pikepdf.Pdf) -> list[pikepdf.OutlineItem]:
    with pdf.open_outline() as outline:
        return list(outline.root)


def _walk(items: list[pikepdf.OutlineItem]) -> Iterator[pikepdf.OutlineItem]:
    for item in items:
        yield item
        yield from _walk(item.children)


# A card is split when its first and its last line print on different pages. Chromium
# says where it printed them: a PDF named destination for each element that a link of
# the page points at. The page gets a mark at the end of every card and links to both
# ends, and each card's height is measured against the page's in the same layout.
_MARK_CARDS = """
(() => {
  const probe = document.createElement('div');
  probe.style.cssText = 'position: absolute; height: var(--sheets-page-height)';
  document.querySelector('div.marpit').append(probe);
  const page = probe.getBoundingClientRect().height;
  probe.remove();
  const nav = document.createElement('nav');
  nav.hidden = true;
  const cards = [...document.querySelectorAll('.sheets-card')].map((card) => {
    const end = document.createElement('div');
    end.id = card.id + '-end';
    card.append(end);
    for (const id of [card.id, end.id]) {
      const link = document.createElement('a');
      link.href = '#' + id;
      nav.append(link);
    }
    return {id: card.id, height: card.getBoundingClientRect().height,
            level: Number(card.dataset.level),
            follows: card.previousElementSibling?.classList.contains('sheets-card') ?? false};
  });
  document.body.append(nav);
  return {page, cards};
})()
"""


Card = tuple[str, float, int, int, int, bool]
"""A card's id, height, pages (0-based) of its first and its last line, heading level,
and whether it comes right after another card."""


def _cards_pages(html: Path) -> tuple[float, list[Card]]:
    """The page's text height and its cards (`Card`)."""
    with Browser(find_chromium()) as browser, browser.tab(794, 1123) as tab:
        tab.call("Emulation.setEmulatedMedia", {"media": "print"})
        tab.open(html.as_uri())
        # The page's own script ran (its Content-Security-Policy lets it).
        assert tab.evaluate("typeof window.sheetsFitDocument") == "function"
        tab.evaluate("document.fonts.ready.then(() => window.sheetsFitDocument"
                     " && window.sheetsFitDocument(document))")
        measured = tab.evaluate(_MARK_CARDS)
        reply = tab.call("Page.printToPDF", {"printBackground": True,
                                             "preferCSSPageSize": True})
    pdf_path = html.with_suffix(".pdf")
    pdf_path.write_bytes(base64.b64decode(reply["data"]))
    with pikepdf.open(pdf_path) as pdf:
        pages = {page.obj.objgen: index for index, page in enumerate(pdf.pages)}
        dests = {str(name).lstrip("/"): pages[target[0].objgen]
                 for name, target in pdf.Root.Dests.items()}
    cards = [(card["id"], card["height"], dests[card["id"]], dests[card["id"] + "-end"],
              card["level"], card["follows"]) for card in measured["cards"]]
    return measured["page"], cards


@pytest.mark.parametrize("sheet", [NOTES["000"], ROOT / "sheets" / "05_cnn.md"],
                         ids=["seed-000", "sheet-05"])
def test_no_card_that_fits_on_a_page_is_split(tmp_path: Path, cache_dir: Path,
                                              sheet: Path) -> None:
    result = sheets("build", str(sheet), "--as", "document", "--to", "html", "-o", "out",
                    cwd=tmp_path, cache=cache_dir)
    assert result.returncode == 0, result.stderr
    page, cards = _cards_pages(tmp_path / "out" / f"{sheet.stem}.html")
    assert page > 900  # 297 mm less the margins, in CSS px
    fitting = [card for card in cards if card[1] <= page]
    assert len(fitting) > 10
    split = [card for card in fitting if card[2] != card[3]]
    assert not split, json.dumps(split)
    # A subsection's card (its heading deeper) is on its parent card's page when the
    # two fit on one.
    pairs = [(parent, child) for parent, child in itertools.pairwise(cards)
             if child[5] and child[4] > parent[4] and parent[1] + child[1] <= page]
    assert len(pairs) > 5
    assert all(parent[3] == child[2] for parent, child in pairs), json.dumps(pairs)
    # The pages are used: the cards are not one per page.
    assert len({card[2] for card in cards}) < len(cards) / 2


_KANA = "\n\n".join(["カー" * 90, "あカー" * 60, "カッ" * 90, "アャ" * 90, "えー、" * 60])


@pytest.mark.parametrize("layout", ["document", "slides"])
def test_japanese_lines_never_start_with_a_prolonged_mark_or_small_kana(
        tmp_path: Path, cache_dir: Path, layout: str) -> None:
    (tmp_path / "kana.md").write_text(f"---\nlang: ja\n---\n\n# 禁則\n\n{_KANA}\n",
                                      encoding="utf-8")
    result = sheets("build", "kana.md", "--as", layout, "-o", "out", cwd=tmp_path,
                    cache=cache_dir)
    assert result.returncode == 0, result.stderr
    text = subprocess.run(["pdftotext", str(tmp_path / "out" / "kana.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) > 15
    assert not [line for line in lines if line[0] in "ーッャ、"]


def test_a_missing_image_keeps_its_placeholder_and_warning(tmp_path: Path,
                                                         cache_dir: Path) -> None:
    (tmp_path / "pictures.md").write_text(
        "# Pictures\n\nbefore\n\n![](gone.png)\n\nafter\n", encoding="utf-8")
    result = sheets("build", "pictures.md", "-o", "out", cwd=tmp_path, cache=cache_dir)
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"{Path('pictures.md')}:5: warning: image not found: gone.png\n"
    assert result.stdout == f"sheets build: wrote {Path('out') / 'pictures.pdf'} (1 page)\n"
    text = subprocess.run(["pdftotext", str(tmp_path / "out" / "pictures.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "image not found: gone.png" in text and "after" in text


def test_as_slides_prints_a_plain_note_one_page_per_slide(tmp_path: Path,
                                                           cache_dir: Path) -> None:
    (tmp_path / "two.md").write_text("# One\n\ntext\n\n---\n\n# Two\n\ntext\n",
                                     encoding="utf-8")
    for layout, pages in (("slides", 2), ("document", 1)):
        result = sheets("build", "two.md", "--as", layout, "-o", layout, cwd=tmp_path,
                        cache=cache_dir)
        assert result.returncode == 0, result.stderr
        with pikepdf.open(tmp_path / layout / "two.pdf") as pdf:
            assert len(pdf.pages) == pages


@pytest.mark.parametrize(("markdown", "warning"), [
    ("a <i>b *c*</i> d<br>e", None),
    ("a <i>b *c</i> d*", None),  # misnested with the Markdown around it: closed
    ("a <b>b\n\nc", "<b> is never closed in this slide; closed at its end"),
    ("a </span> b", "</span> closes nothing in this slide; ignored"),
    ("<div>\n\nx\n", "<div> is never closed in this slide; closed at its end"),
], ids=["nested", "misnested", "unclosed", "stray", "block"])
def test_raw_html_in_a_note_is_closed_as_in_a_deck(markdown: str, warning: str | None) -> None:
    """Phrasing tags that nest in their paragraph skip the closing step (it would change
    nothing: builder/render/closing.py); anything else still goes through it."""
    from builder.render import close_fragment

    deck = parse_text(f"# Raw\n\n{markdown}\n", Path("raw.md"))
    rendered = render_deck(deck, themes=load_themes([]), layout="document")
    assert [d.message for d in rendered.diagnostics] == ([warning] if warning else [])
    body = rendered.slides[0]
    assert close_fragment(body).html == body  # closed: nothing left to close


def test_the_example_sheets_print_dense(tmp_path: Path, cache_dir: Path) -> None:
    """The README's example sheet and the one `sheets init` writes: their cards share a
    page (a deck with `headingDivider: 2` gave each its own)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = readme.split("```markdown\n", 1)[1].split("\n```", 1)[0]
    assert "$$" in example and "marp: true" not in example
    (tmp_path / "readme.md").write_text(example + "\n", encoding="utf-8")
    scaffold = ROOT / "builder" / "scaffold" / "files" / "sheets" / "example.md"
    result = sheets("build", "readme.md", str(scaffold), "-o", "out", cwd=tmp_path,
                    cache=cache_dir)
    assert result.returncode == 0, result.stderr
    for name, source, headings in (("readme", example, 2),
                                   ("example", scaffold.read_text(encoding="utf-8"), 4)):
        text = subprocess.run(["pdftotext", str(tmp_path / "out" / f"{name}.pdf"), "-"],
                              capture_output=True, text=True, check=True).stdout
        assert text.count("\f") == 1  # one page, every card on it
        deck = parse_text(source, Path(f"{name}.md"))
        titles = [heading.plain for slide in deck.slides for heading in slide.headings]
        assert len(titles) == headings
        assert all(normalized(title) in normalized(text) for title in titles)


# --------------------------------------------------------------------------- preview

_NOTE = """\
# Notes

An introduction.

## Square

$$
(a + b)^2 = a^2 + 2ab + b^2
$$

Said in words.

## Wrong

$$
(a + b)^2 = a^2 + b^2
$$

```python
x = 1
```
"""


def test_the_preview_shows_a_note_as_a_document_and_patches_the_part_edited(
        tmp_path: Path) -> None:
    import threading

    from playwright.sync_api import sync_playwright

    from builder.live import PreviewServer, SheetPreview
    from builder.marp import document_parts

    sheet = tmp_path / "note.md"
    sheet.write_text(_NOTE, encoding="utf-8")
    parts = document_parts(parse_text(_NOTE, sheet), _NOTE).slides
    assert [part.loc.line for part in parts] == [1, 5, 7, 13, 15, 19]
    rebuild = SheetPreview(sheet)
    server = PreviewServer(sheet, rebuild, port=0)
    server.start()
    threading.Thread(target=server.run_build_loop, daemon=True).start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True,
                args=["--no-sandbox", "--disable-gpu"])
            view = browser.new_page(viewport={"width": 1000, "height": 1200})
            view.goto(server.url)
            view.wait_for_function("n => window.sheetsPreview && sheetsPreview.slides.length"
                                   " === n", arg=len(parts), timeout=30_000)
            # One scrolling page of text, not a page per part: no section is page-sized.
            heights = view.evaluate("sheetsPreview.slides.map((s) => s.offsetHeight)")
            assert max(heights) < 300
            width = view.evaluate("document.querySelector('#sheets-slides').clientWidth")
            assert 790 < width < 800  # 210 mm wide, the margins inside
            # The badges: on each card's heading, in its part.
            view.wait_for_function("() => document.querySelectorAll('.sheets-badge').length === 2",
                                   timeout=60_000)
            badges = view.evaluate("""[...document.querySelectorAll('.sheets-badge')].map(
                (b) => [b.closest('h2').textContent, b.dataset.status])""")
            assert badges == [["Squarepass", "pass"], ["Wrongfail", "fail"]]
            rendered = rebuild.rendered_slides
            view.evaluate("window.firstPart = sheetsPreview.slides[0]")
            sheet.write_text(_NOTE.replace("Said in words.", "Said in zebrawords."),
                             encoding="utf-8")
            view.wait_for_function("() => sheetsPreview.slides[2].textContent.includes('zebra')",
                                   timeout=30_000)
            assert rebuild.rendered_slides - rendered == 1
            assert view.evaluate("sheetsPreview.slides[0] === window.firstPart")
            browser.close()
    finally:
        server.shutdown()
        rebuild.close()


def test_a_wide_table_is_scaled_to_the_width(tmp_path: Path, cache_dir: Path) -> None:
    """A cell that cannot wrap (a long formula) makes a table wider than the text: it
    is scaled down to the width, so nothing runs past the page (which the build would
    report), and all of its text is printed."""
    wide = " + ".join(f"x_{{{n}}}" for n in range(60))
    (tmp_path / "table.md").write_text(
        f"# Table\n\n| name | formula |\n|---|---|\n| sum | ${wide}$ |\n| last | zebra |\n",
        encoding="utf-8")
    result = sheets("build", "table.md", "-o", "out", cwd=tmp_path, cache=cache_dir)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    text = subprocess.run(["pdftotext", str(tmp_path / "out" / "table.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "zebra" in text and "59" in text
    html = sheets("build", "table.md", "--to", "html", "-o", "html", cwd=tmp_path,
                  cache=cache_dir)
    assert html.returncode == 0, html.stderr
    with Browser(find_chromium()) as browser, browser.tab(794, 1123) as tab:
        tab.call("Emulation.setEmulatedMedia", {"media": "print"})
        tab.open((tmp_path / "html" / "table.html").as_uri())
        table, room = tab.evaluate("""document.fonts.ready.then(() => [
            document.querySelector('table').getBoundingClientRect().right,
            document.querySelector('div.marpit').getBoundingClientRect().right])""")
        zoom = tab.evaluate("document.querySelector('table').style.zoom")
    assert table <= room + 1 and 0 < float(zoom) < 1
