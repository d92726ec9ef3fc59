"""The last stage: a rendered deck (one HTML page) → an A4 PDF, through headless Chromium.

One browser serves every sheet of a run (`PdfPrinter`). For each sheet the page is
loaded with print media emulated, fonts and mermaid diagrams are awaited, every slide's
content is measured against its box (an overflowing slide is reported, never cut off
silently), and the page is printed with one PDF page per slide at the slide's size.
pikepdf then adds what Chromium does not write: the metadata from the front matter and
an outline (one bookmark per titled slide, nested by heading level). The file is written
to a temporary name in the output directory and renamed over the old one, so a failed or
interrupted build leaves the previous PDF as it was.
"""

from __future__ import annotations

import base64
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

import pikepdf
from markdown_it.token import Token

from builder.browser import Browser, BrowserError, Tab, find_chromium, sigterm_as_interrupt
from builder.model import Diagnostic, SourceLoc

# Slides as render.py (and Marp) lays them out; inline-SVG Marp HTML wraps each in an svg.
SECTIONS = ".marpit > section, .marpit > svg > foreignObject > section"

# Runs in the page once it has loaded: waits until it is ready to print, then measures.
# `window.sheetsReady`, if the page defines it, is a promise for its own scripts' work.
_PREPARE_AND_MEASURE = """
(async () => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  if (window.sheetsReady) { await window.sheetsReady; }
  // mermaid replaces each div.mermaid's text by an svg and marks it data-processed;
  // without the mermaid script on the page there is nothing to wait for.
  const deadline = Date.now() + %(mermaid_timeout_ms)d;
  const pending = () => [...document.querySelectorAll('.mermaid')].filter(
    (d) => !d.hasAttribute('data-processed') && !d.querySelector('svg'));
  while (window.mermaid && pending().length && Date.now() < deadline) { await sleep(25); }
  await document.fonts.ready;
  let sections = [...document.querySelectorAll(%(sections)s)];
  if (!sections.length) {  // any other layout: the outermost sections
    sections = [...document.querySelectorAll('section')]
      .filter((s) => !s.parentElement.closest('section'));
  }
  const slides = sections.map((section) => {
    const box = section.getBoundingClientRect();
    const broken = [...section.querySelectorAll('img')]
      .filter((img) => img.complete && img.naturalWidth === 0)
      .map((img) => decodeURI(img.getAttribute('src') || ''));
    return {
      width: box.width, height: box.height,
      // Chromium's scrollable overflow includes the block-end padding, so these are how
      // far the content runs past the box the theme leaves for it (the padding holds
      // header, footer and page number).
      overflowY: section.scrollHeight - section.clientHeight,
      overflowX: section.scrollWidth - section.clientWidth,
      broken,
    };
  });
  return {slides, pendingMermaid: pending().length};
})()
"""

# Below this, scroll sizes differ from the box only by sub-pixel rounding.
OVERFLOW_TOLERANCE_PX = 1


@dataclass(frozen=True, slots=True)
class OutlineEntry:
    """One bookmark: a titled slide."""

    title: str
    level: int
    """The heading level of the slide's title (1 for `#`); deeper entries nest under the
    nearest shallower one before them."""
    page: int
    """0-based page (= slide) index."""


@dataclass(frozen=True, slots=True)
class PdfMetadata:
    title: str | None = None
    author: str | None = None
    subject: str | None = None
    """The front matter's `description`."""
    lang: str | None = None


@dataclass(frozen=True, slots=True)
class PdfJob:
    """Everything the pdf stage needs to know about one sheet."""

    document: str
    """A complete HTML page with one section per slide (render.py's `.document`)."""
    output: Path
    slide_locs: tuple[SourceLoc, ...]
    """Each slide's first line, for the diagnostics."""
    outline: tuple[OutlineEntry, ...] = ()
    metadata: PdfMetadata = field(default_factory=PdfMetadata)
    base_dir: Path | None = None
    """Where the sheet is: relative URLs (images) in the document resolve against it."""


@dataclass(frozen=True, slots=True)
class PdfResult:
    output: Path
    pages: int
    diagnostics: tuple[Diagnostic, ...]


def slide_title(tokens: Sequence[Token]) -> tuple[int, str] | None:
    """A slide's title: its first heading, as (level, plain text); None when it has none."""
    for position, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        inline = tokens[position + 1] if position + 1 < len(tokens) else None
        text = _plain_text(inline.children or []) if inline is not None else ""
        return int(token.tag[1:]), text.strip()
    return None


def _plain_text(tokens: Sequence[Token]) -> str:
    """What a bookmark can show of inline Markdown: text, code and the LaTeX of math."""
    parts = []
    for token in tokens:
        if token.type in ("text", "code_inline", "math_inline", "html_inline"):
            parts.append(token.content if token.type != "html_inline" else "")
        elif token.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif token.children:
            parts.append(_plain_text(token.children))
    return " ".join("".join(parts).split())


def outline_entries(titles: Iterable[tuple[int, str] | None]) -> tuple[OutlineEntry, ...]:
    """Bookmarks for the slides whose title (from `slide_title`) is not empty."""
    return tuple(
        OutlineEntry(title=title[1], level=title[0], page=page)
        for page, title in enumerate(titles)
        if title is not None and title[1]
    )


class SlideSource(Protocol):
    """What the pdf stage reads of a parsed slide (parse.py's `Slide`)."""

    @property
    def loc(self) -> SourceLoc: ...
    @property
    def tokens(self) -> Sequence[Token]: ...


class DeckSource(Protocol):
    """What the pdf stage reads of a parsed deck (parse.py's `Deck`)."""

    @property
    def path(self) -> Path: ...
    @property
    def title(self) -> str | None: ...
    @property
    def author(self) -> str | None: ...
    @property
    def description(self) -> str | None: ...
    @property
    def lang(self) -> str | None: ...
    @property
    def slides(self) -> Sequence[SlideSource]: ...


def job_for_deck(deck: DeckSource, document: str, output: Path) -> PdfJob:
    """The PDF job for a parsed deck and its rendered HTML page."""
    return PdfJob(
        document=document,
        output=output,
        slide_locs=tuple(slide.loc for slide in deck.slides),
        outline=outline_entries(slide_title(slide.tokens) for slide in deck.slides),
        metadata=PdfMetadata(title=deck.title or None, author=deck.author or None,
                             subject=deck.description or None, lang=deck.lang or None),
        base_dir=deck.path.parent,
    )


class PdfPrinter:
    """Prints PDF jobs with one Chromium, started at once (so that it boots while the
    caller parses and renders the first sheet) and stopped, with all its processes and
    its temporary profile, when the `with` block ends, also on Ctrl-C and SIGTERM."""

    def __init__(self, *, chromium: Path | None = None, timeout: float = 60.0) -> None:
        self._executable = chromium or find_chromium()
        self._timeout = timeout
        self._browser: Browser | None = None
        self._signals = sigterm_as_interrupt()

    def __enter__(self) -> Self:
        self._signals.__enter__()
        try:
            self._browser = Browser(self._executable, timeout=self._timeout)
        except BaseException:
            self._signals.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        try:
            if self._browser is not None:
                self._browser.close()
                self._browser = None
        finally:
            self._signals.__exit__(kind, error, traceback)

    @property
    def browser(self) -> Browser | None:
        """The running browser (inside the `with` block)."""
        return self._browser

    def build(self, job: PdfJob) -> PdfResult:
        """Print one sheet to `job.output` (atomically) and report what did not fit."""
        if self._browser is None:
            raise RuntimeError("PdfPrinter is used outside its `with` block")
        page_file = self._browser.profile / f"{job.output.stem}.html"
        page_file.write_text(_with_base(job.document, job.base_dir), encoding="utf-8")
        with self._browser.tab(794, 1123) as tab:
            # Measure in print media: the page may lay slides out differently on screen.
            tab.call("Emulation.setEmulatedMedia", {"media": "print"})
            tab.open(page_file.as_uri())
            report = tab.evaluate(
                _PREPARE_AND_MEASURE % {
                    "sections": json.dumps(SECTIONS),
                    "mermaid_timeout_ms": int(self._timeout * 100),
                },
            )
            slides: list[dict[str, Any]] = report["slides"]
            if not slides:
                raise BrowserError(f"{job.output.name}: the document has no slides to print")
            width, height = slides[0]["width"], slides[0]["height"]
            pdf_bytes = _print(tab, width, height)
        diagnostics = _diagnostics(job, slides)
        pages = _finish(pdf_bytes, job)
        return PdfResult(job.output, pages, diagnostics)


def build_pdfs(jobs: Iterable[PdfJob], *, chromium: Path | None = None) -> Iterator[PdfResult]:
    """Print each job with one browser. `jobs` may be a generator that renders lazily:
    the browser starts before the first job is asked for."""
    with PdfPrinter(chromium=chromium) as printer:
        for job in jobs:
            yield printer.build(job)


def _with_base(document: str, base_dir: Path | None) -> str:
    """The document with a `<base>` for its relative URLs, unless it already has one."""
    if base_dir is None or "<base " in document[:20000].lower():
        return document
    base = f'<base href="{base_dir.resolve().as_uri()}/">'
    head = document.find("<head>")
    if head < 0:
        return base + document
    return document[: head + 6] + base + document[head + 6:]


def _print(tab: Tab, width: float, height: float) -> bytes:
    """Print with the page size taken from the slides' size. A page rule added last wins
    over the theme's, and the CSS size keeps Chromium from rounding the paper up (which
    would spill each slide onto a second page)."""
    tab.evaluate(
        "(() => { const style = document.createElement('style');"
        f" style.textContent = '@page {{ size: {width}px {height}px; margin: 0; }}';"
        " document.head.appendChild(style); })()"
    )
    reply = tab.call("Page.printToPDF", {
        "printBackground": True,
        "preferCSSPageSize": True,
        "marginTop": 0, "marginBottom": 0, "marginLeft": 0, "marginRight": 0,
        "displayHeaderFooter": False,
    })
    return base64.b64decode(reply["data"])


def _diagnostics(job: PdfJob, slides: Sequence[dict[str, Any]]) -> tuple[Diagnostic, ...]:
    found = []
    for index, slide in enumerate(slides):
        loc = job.slide_locs[index] if index < len(job.slide_locs) else None
        if loc is None:
            continue
        number = index + 1
        over_y, over_x = slide["overflowY"], slide["overflowX"]
        if over_y > OVERFLOW_TOLERANCE_PX:
            found.append(Diagnostic(loc, f"slide {number} overflows its page by {over_y} px"))
        if over_x > OVERFLOW_TOLERANCE_PX:
            found.append(Diagnostic(
                loc, f"slide {number} overflows its page by {over_x} px horizontally"))
        for source in slide["broken"]:
            found.append(Diagnostic(loc, f"slide {number}: image not found: {source}"))
    if len(slides) != len(job.slide_locs):
        found.append(Diagnostic(
            SourceLoc(job.output, 1),
            f"printed {len(slides)} slides but the sheet has {len(job.slide_locs)}"))
    return tuple(found)


def _finish(pdf_bytes: bytes, job: PdfJob) -> int:
    """Add metadata and outline, write atomically; returns the page count."""
    with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
        info = pdf.docinfo
        meta = job.metadata
        for key, value in (("/Title", meta.title), ("/Author", meta.author),
                           ("/Subject", meta.subject)):
            if value:
                info[key] = value
        if meta.lang:
            pdf.Root.Lang = pikepdf.String(meta.lang)
        pages = len(pdf.pages)
        entries = [entry for entry in job.outline if entry.page < pages]
        if entries:
            with pdf.open_outline() as outline:
                outline.root.extend(_nest(entries))
            pdf.Root.PageMode = pikepdf.Name.UseOutlines
        _write_atomically(pdf, job.output)
    return pages


def _nest(entries: Sequence[OutlineEntry]) -> list[pikepdf.OutlineItem]:
    """Outline items nested by heading level: each entry goes under the nearest earlier
    entry with a smaller level."""
    roots: list[pikepdf.OutlineItem] = []
    stack: list[tuple[int, pikepdf.OutlineItem]] = []
    for entry in entries:
        item = pikepdf.OutlineItem(entry.title, entry.page, "Fit")
        while stack and stack[-1][0] >= entry.level:
            stack.pop()
        (stack[-1][1].children if stack else roots).append(item)
        stack.append((entry.level, item))
    return roots


def _write_atomically(pdf: pikepdf.Pdf, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    os.close(handle)
    try:
        # mkstemp makes the file private; the PDF gets the mode any new file would get.
        os.chmod(temporary, 0o666 & ~_umask())
        pdf.save(temporary)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
