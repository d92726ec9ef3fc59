"""Raw HTML in one slide never breaks another (issue 23): whatever a slide leaves open or
closes, every slide is its own `<section>` in the HTML file and one page of the PDF, the
author is told which tags were dropped or closed, and a PDF that would lose slides is an
error at the sheet's line, the last good PDF kept.

The HTML file is read back with html5lib, the HTML5 parser a browser follows, so a stray
tag is judged as Chromium would judge it."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import html5lib
import pikepdf
import pytest
from raw_html_cases import CASES, HEADINGS, WARNINGS, case_params, three_slides

from builder.marp import HTML_ALLOWLIST, parse_text
from builder.pdf import PdfPrinter, job_for_deck
from builder.render import ThemeSet, close_fragment, load_themes, render_deck


def sheets(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHEETS_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "builder", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def marpit_sections(document: str) -> list[Any]:
    """The `<section>`s directly in `div.marpit`, as a browser builds the page."""
    tree = html5lib.parse(document, namespaceHTMLElements=False)
    marpit = tree.find(".//div[@class='marpit']")
    assert marpit is not None
    assert [child.tag for child in marpit] == ["section"] * len(marpit)  # nothing else
    return list(marpit)


def text_of(element: Any) -> str:
    return " ".join("".join(element.itertext()).split())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int]:
    """The seven decks built to HTML and to PDF by `sheets build` (one Chromium for all):
    the directory, the warnings and the PDF build's exit status."""
    root = tmp_path_factory.mktemp("cases")
    cache = tmp_path_factory.mktemp("cache")
    for name, first in CASES.items():
        (root / f"{name}.md").write_text(three_slides(first), encoding="utf-8")
    sheets_given = sorted(str(path) for path in root.glob("*.md"))
    html = sheets("build", *sheets_given, "--to", "html", "-o", "html", cwd=root, cache=cache)
    assert html.returncode == 0, html.stderr
    pdf = sheets("build", *sheets_given, "--to", "pdf", "-o", "pdf", cwd=root, cache=cache)
    assert "Traceback" not in pdf.stderr
    return root, html.stderr, pdf.returncode


@pytest.mark.parametrize("name", case_params())
def test_each_slide_is_one_section_of_the_html_file(built: tuple[Path, str, int],
                                                    name: str) -> None:
    root, _, _ = built
    document = (root / "html" / f"{name}.html").read_text(encoding="utf-8")
    sections = marpit_sections(document)
    assert len(sections) == 3
    for section, heading in zip(sections, HEADINGS, strict=True):
        assert section.find("h1") is not None and text_of(section.find("h1")) == heading


@pytest.mark.parametrize("name", case_params())
def test_each_slide_is_one_page_of_the_pdf(built: tuple[Path, str, int], name: str) -> None:
    root, _, status = built
    assert status == 0
    with pikepdf.open(root / "pdf" / f"{name}.pdf") as pdf:
        assert len(pdf.pages) == 3
    text = subprocess.run(["pdftotext", str(root / "pdf" / f"{name}.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    pages = text.split("\f")[:3]
    for page, heading in zip(pages, HEADINGS, strict=True):
        assert page.split()[0] == heading


@pytest.mark.parametrize("name", CASES)
def test_each_tag_dropped_or_closed_is_a_warning_at_the_slide(
        built: tuple[Path, str, int], name: str) -> None:
    root, stderr, _ = built
    said = [line.split(": warning: ", 1)[1] for line in stderr.splitlines()
            if line.startswith(f"{root / name}.md:5: warning: ")]
    assert said == WARNINGS[name]


def test_balanced_html_comes_out_as_written() -> None:
    markup = ('<div class="note"><p>a <b>b</b><br /><img src="x.png" alt="" /></p>\n'
              '<svg viewBox="0 0 1 1"><path d="M0 0"/></svg><details><summary>s</summary>'
              "</details></div>\n")
    assert close_fragment(markup).html == markup


def test_a_formatting_element_a_browser_would_reopen_is_closed() -> None:
    # `</p>` ends the <b> too, but a browser reopens it at the next text, in the next
    # slide: the fragment ends it for good.
    closed = close_fragment("<p><b>bold</p>\n")
    assert closed.html == "<p><b>bold</p>\n</b>" and closed.closed == ("b",)


# --------------------------------------------------------------------------- property

_TAGS = sorted(HTML_ALLOWLIST)
_SLIDES = 4
_SOUP_SLIDE = 1


def tag_soup(rng: random.Random) -> str:
    """Open and close tags of Marp's allowlist with words between, unbalanced and nested
    wrongly, on one to three lines (none starting with `<pre`: see PARSER_KEEPS_PRE_OPEN)."""
    lines = []
    for _ in range(rng.randint(1, 3)):
        pieces = [rng.choice(("word", "x", ""))]
        for _ in range(rng.randint(1, 10)):
            tag = rng.choice(_TAGS)
            pieces.append(f"</{tag}>" if rng.random() < 0.45 else f"<{tag}>")
            pieces.append(rng.choice(("", "w", " z ")))
        line = "".join(pieces)
        lines.append(line if not line.startswith("<pre") else "t" + line)
    return "\n".join(lines)


def deck_text(soup: str) -> str:
    slides = [f"# Slide {index}\n\npara {index}" for index in range(_SLIDES)]
    slides[_SOUP_SLIDE] = f"# Slide {_SOUP_SLIDE}\n\n{soup}\n\nafter the soup"
    return "---\nmarp: true\n---\n\n" + "\n\n---\n\n".join(slides) + "\n"


@pytest.fixture(scope="module")
def themes() -> ThemeSet:
    return load_themes([])


def _sections_of(soup: str, themes: ThemeSet, path: Path) -> tuple[Any, list[str]]:
    deck = parse_text(deck_text(soup), path)
    rendered = render_deck(deck, themes=themes)
    sections = marpit_sections(rendered.document)
    serialized = [html5lib.serialize(section, tree="etree") for section in sections]
    return rendered, serialized


SOUPS = [tag_soup(random.Random(seed)) for seed in range(50)]


def test_tag_soup_in_one_slide_leaves_every_other_slide_as_it_was(
        themes: ThemeSet, tmp_path: Path) -> None:
    path = tmp_path / "soup.md"
    _, plain = _sections_of("plain words", themes, path)
    assert len(plain) == _SLIDES
    for soup in SOUPS:
        rendered, sections = _sections_of(soup, themes, path)
        assert len(rendered.slides) == _SLIDES, soup
        assert len(sections) == _SLIDES, soup
        for index in range(_SLIDES):
            if index != _SOUP_SLIDE:
                assert sections[index] == plain[index], soup


def test_tag_soup_prints_one_page_per_slide(themes: ThemeSet, tmp_path: Path) -> None:
    jobs = []
    for number, soup in enumerate(SOUPS[:3]):
        deck = parse_text(deck_text(soup), tmp_path / f"soup{number}.md")
        rendered = render_deck(deck, themes=themes, standalone=False)
        jobs.append(job_for_deck(deck, rendered.document, tmp_path / f"soup{number}.pdf",
                                 rendered.slides))
    with PdfPrinter() as printer:
        results = [printer.build(job, last=job is jobs[-1]) for job in jobs]
    for result in results:
        assert result.written and result.pages == _SLIDES
        assert not [d for d in result.diagnostics if d.severity == "error"]
        with pikepdf.open(result.output) as pdf:
            assert len(pdf.pages) == _SLIDES


# ------------------------------------------------------------ pages not one per slide

TALL = """---
marp: true
---

# One

---

{style}# Two

text

---

# Three

more
"""
TALL_STYLE = "<style scoped>\nsection { height: 2000px !important; }\n</style>\n\n"


def test_a_slide_that_does_not_print_on_one_page_is_an_error_and_keeps_the_last_pdf(
        tmp_path: Path) -> None:
    sheet = tmp_path / "tall.md"
    sheet.write_text(TALL.format(style=""), encoding="utf-8")
    cache = tmp_path / "cache"
    good = sheets("build", "tall.md", "-o", "out", cwd=tmp_path, cache=cache)
    assert good.returncode == 0, good.stderr
    pdf = tmp_path / "out" / "tall.pdf"
    last_good = pdf.read_bytes()
    sheet.write_text(TALL.format(style=TALL_STYLE), encoding="utf-8")
    # A rebuild prints only the slide that changed; a fresh cache prints the whole page.
    for cache_dir in (cache, tmp_path / "fresh-cache"):
        bad = sheets("build", "tall.md", "-o", "out", cwd=tmp_path, cache=cache_dir)
        assert bad.returncode == 1
        (said,) = bad.stderr.splitlines()
        assert said.startswith("tall.md:9: error: slide 2 does not print on one page (")
        assert said.endswith("; tall.pdf is not written (the last one is kept)")
        assert "wrote" not in bad.stdout
        assert pdf.read_bytes() == last_good
        assert sorted(path.name for path in pdf.parent.iterdir()) == ["tall.pdf"]
