"""The last stage: a rendered deck (one HTML page) → an A4 PDF, through headless Chromium.

One browser serves every sheet of a run (`PdfPrinter`). For each sheet the page is
loaded with print media emulated, fonts and mermaid diagrams are awaited, every slide's
content is measured against its box (builder/pdf/measure.py: an overflowing slide is
reported, never cut off silently), and the page is printed with one PDF page per slide
at the slide's size. A big page is printed in parts, one per core, by renderer processes
working side by side, and the parts are joined (builder/pdf/parts.py); a rebuild prints
only the slides that changed (builder/pdf/pagecache.py). pikepdf then adds what Chromium
does not write: the metadata from the front matter and an outline
(builder/pdf/outline.py). The file is written to a temporary name in the output
directory and renamed over the old one, so a failed or interrupted build leaves the
previous PDF as it was.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

from builder.model import SourceLoc
from builder.pdf.browser import Browser, BrowserError, Tab, find_chromium
from builder.pdf.flow import document_diagnostics, place_outline, print_document
from builder.pdf.jobs import OutlineEntry, PdfJob, PdfMetadata, PdfResult
from builder.pdf.measure import (
    MissingPages,
    SlideMeasure,
    check_pages,
    diagnostics,
    measure_script,
)
from builder.pdf.outline import finish
from builder.pdf.pagecache import PageCache, Plan
from builder.pdf.parts import (
    PrintPages,
    joined,
    pages_to_print,
    part_count,
    read_in,
    with_base,
)
from builder.render import CARD_ID
from builder.signals import stop_signals_as_interrupt

if TYPE_CHECKING:  # pikepdf is imported where it is used: Chromium starts before it loads
    import pikepdf

    from builder.marp import Heading


def slide_title(slide: SlideSource) -> tuple[int, str] | None:
    """A slide's title for its bookmark: its first heading, as (level, text with the TeX
    of math bare, since a bookmark shows no math); None when it has none."""
    title = slide.title
    return None if title is None else (title.level, title.plain)


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
    def title(self) -> Heading | None: ...
    @property
    def has_diagram(self) -> bool: ...
    @property
    def headings(self) -> Sequence[Heading]: ...


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


def job_for_deck(deck: DeckSource, document: str, output: Path,
                 slides: Sequence[str] = (), *, flowing: bool = False) -> PdfJob:
    """The PDF job for a parsed deck and its rendered HTML page (and, for rebuilds that
    print only what changed, its slides' HTML). Without a `title` directive the title is
    the first slide title, as Marp CLI does. `flowing`: the page is a document
    (builder/pdf/flow.py), whose outline has every heading that starts a card."""
    outline = outline_entries(slide_title(slide) for slide in deck.slides)
    title = deck.title or (outline[0].title if outline else None)
    if flowing:
        outline = tuple(
            OutlineEntry(heading.plain, heading.level, -1,
                         CARD_ID.format(line=heading.loc.line))
            for slide in deck.slides for heading in slide.headings if heading.plain)
    return PdfJob(
        document=document,
        output=output,
        slide_locs=tuple(slide.loc for slide in deck.slides),
        outline=outline,
        metadata=PdfMetadata(title=title, author=deck.author or None,
                             subject=deck.description or None, lang=deck.lang or None),
        base_dir=deck.path.parent,
        slides=tuple(slides),
        flowing=flowing,
    )


class PdfPrinter:
    """Prints PDF jobs with one Chromium, started at once (so that it boots while the
    caller parses and renders the first sheet) and stopped, with all its processes and
    its temporary profile, when the `with` block ends, also on Ctrl-C and SIGTERM."""

    def __init__(self, *, chromium: Path | None = None, cache_dir: Path | None = None,
                 timeout: float = 60.0, prepare_in_background: bool = True) -> None:
        self._executable = chromium or find_chromium()
        self._cache = PageCache(cache_dir / "pdf", self._executable) if cache_dir else None
        self._timeout = timeout
        self._browser: Browser | None = None
        self._background = prepare_in_background
        self._preparing: threading.Thread | None = None
        """The last thread started to open pages ahead (each waits for the one before:
        the browser is used by one thread at a time)."""
        self._preparation_error: BaseException | None = None
        self._tabs: list[Tab] = []
        """The pages the last job printed from (one per part), kept for the next job,
        and those opened ahead."""
        self._side: Tab | None = None
        """A page opened ahead to draw the next job's diagrams in."""
        self._last = self._stopped = False
        self._signals = stop_signals_as_interrupt()

    def __enter__(self) -> Self:
        self._signals.__enter__()
        try:
            self._browser = Browser(self._executable, timeout=self._timeout)
            # Chromium boots and opens the first page (mostly waiting) while
            # the caller parses and renders: on a rebuild that is most of the time.
            self._prepare(parts=1, diagrams=False)
        except BaseException:
            self._signals.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        try:
            if self._browser is not None:
                if self._preparing is not None:
                    # Blocked on Chromium's pipe: killing it ends the wait.
                    self._browser.kill()
                    self._preparing.join()
                    self._preparing = None
                self._browser.close()
                self._browser = None
        finally:
            self._signals.__exit__(kind, error, traceback)

    def expect(self, deck: DeckSource, output: Path) -> None:
        """Told, before a parsed sheet is rendered, that it is the next job. A first
        build of a big sheet will be printed in parts: their pages (each a renderer
        process to start) and the page for its diagrams are opened now, while
        it renders, instead of after."""
        if self._cache is not None and self._cache.has_base(output):
            return  # a rebuild: it prints what changed, from one page
        try:
            markdown = deck.path.stat().st_size
        except OSError:
            return
        # Slide HTML is ~7-12 times the Markdown (MathJax's markup): seed 001 has 43.8 KB
        # of Markdown, 539 KB of slides.
        parts = part_count(len(deck.slides), markdown * 10)
        if parts > 1:
            diagrams = any(slide.has_diagram for slide in deck.slides)
            self._prepare(parts=parts, diagrams=diagrams)

    def _prepare(self, *, parts: int, diagrams: bool) -> None:
        """Open pages in a thread (with `prepare_in_background`): one per part and one
        for diagrams; `_join_preparation` waits for them."""
        if not self._background or self._browser is None:
            return
        previous = self._preparing

        def prepare() -> None:
            if previous is not None:
                previous.join()
            try:
                if not self._tabs:
                    self._tabs.append(self._new_tab(blank=True))
                while len(self._tabs) < parts:
                    self._tabs.append(self._new_tab(isolated=True))
                if diagrams and self._side is None:
                    self._side = self._new_tab()
            except BaseException as error:
                self._preparation_error = error

        self._preparing = threading.Thread(target=prepare, name="sheets-pdf-tab",
                                           daemon=True)
        self._preparing.start()

    def _join_preparation(self) -> None:
        """Wait for the pages being opened ahead (a failure to open them raises here)."""
        if self._preparing is not None:
            self._preparing.join()
            self._preparing = None
        error, self._preparation_error = self._preparation_error, None
        if error is not None:
            raise error

    def _new_tab(self, *, blank: bool = False, isolated: bool = False) -> Tab:
        """A page of A4 width in print media (the page may lay slides out differently
        on screen); with `blank`, the one Chromium opened as it started; `isolated`, in
        a renderer process of its own."""
        assert self._browser is not None
        return self._browser.open_tab(794, 1123, blank=blank, isolated=isolated,
                                      media="print")

    def _take_tab(self, part: int) -> Tab:
        """The page that printed this part for the last job or was opened ahead for it,
        else a new one, each part after the first in a renderer process of its own. The
        same pages for every sheet of a run: their renderers are warm (a new page per
        sheet made each of `make pdf`'s small sheets take about twice as long)."""
        assert self._browser is not None
        while len(self._tabs) <= part:
            self._tabs.append(self._new_tab(isolated=bool(self._tabs)))
        return self._tabs[part]

    @property
    def browser(self) -> Browser | None:
        """The running browser (inside the `with` block)."""
        return self._browser

    def build(self, job: PdfJob, *, last: bool = False) -> PdfResult:
        """Print one sheet to `job.output` (atomically) and report what did not fit.

        With a cache, only the slides that changed since the last build of this output
        are printed (from a page holding just those slides); the others are copied from
        the last build's PDF. `last`: no job follows, so Chromium is stopped as soon as
        the page is printed and winds down while the file is written.

        A page that does not print one PDF page per slide is not written (the last
        good PDF stays): the result then says which slide went wrong, as an error, and
        `written` is False."""

        if self._browser is None or self._stopped:
            raise RuntimeError("PdfPrinter is used outside its `with` block or after "
                               "its last job")
        self._last = last
        if job.flowing:
            return self._print_document(job)
        plan = self._cache.plan(job) if self._cache else None
        try:
            if plan is None or plan.changed is None:
                # This thread only waits while Chromium loads and prints the page: another
                # imports pikepdf meanwhile and, on a first build, makes the cache keys
                # (off the path to the PDF), once the pages are
                # on their way (before, it would hold the GIL from their making).
                loading = threading.Event()
                with ThreadPoolExecutor(1, thread_name_prefix="sheets-pdf") as pool:
                    try:
                        keys = pool.submit(self._keys_for, job, plan, loading)
                        parts, slides = self._print(job.document, job, job.slides, loading)
                    finally:
                        # Already, unless the print failed (or Ctrl-C came) before: the
                        # thread must not wait for it then, nor the pool for the thread.
                        loading.set()
                    if plan is not None:
                        plan.keys = keys.result()
                with joined(parts) as pdf:
                    check_pages(job, len(pdf.pages), slides)
                    pages = finish(pdf, job)
                printed = len(slides)
            else:
                slides, pages = self._patch(job, plan)
                printed = len(plan.changed)
            if plan is not None and self._cache is not None:
                assert plan.keys is not None
                self._cache.store(job, plan.keys, slides)
        except MissingPages as error:  # nothing written, nothing cached
            return PdfResult(job.output, error.pages, (error.diagnostic,), written=False)
        finally:
            if plan is not None:
                plan.close()
        return PdfResult(job.output, pages, diagnostics(job, slides), printed)

    def _print_document(self, job: PdfJob) -> PdfResult:
        """Print a document (builder/pdf/flow.py) whole, from the first page, and put in
        its outline where Chromium printed each heading."""
        assert self._browser is not None
        self._join_preparation()
        tab = self._take_tab(0)
        printed = False
        try:
            data, sections = print_document(
                tab, job, self._browser.profile / f"{job.output.stem}.html",
                timeout=self._timeout)
            printed = True
        finally:
            if self._last:
                self._browser.kill()  # reaped in __exit__
                self._stopped = True
            elif not printed:  # in an unknown state: the next job gets a new page
                self._tabs = []
                tab.close()
        with joined([data]) as pdf:
            placed = replace(job, outline=place_outline(pdf, job.outline))
            pages = finish(pdf, placed)
        return PdfResult(job.output, pages, document_diagnostics(job, sections),
                         len(sections))

    def _keys_for(self, job: PdfJob, plan: Plan | None,
                  loading: threading.Event) -> tuple[str, ...] | None:
        """The plan's cache keys (made now if it has none yet), pikepdf imported, once
        the pages are `loading`."""
        loading.wait(self._timeout)
        import pikepdf  # noqa: F401 (imported for the caller, while Chromium prints)

        if plan is None or self._cache is None:
            return None
        return plan.keys if plan.keys is not None else self._cache.keys(job)

    def _patch(self, job: PdfJob, plan: Plan) -> tuple[list[SlideMeasure], int]:
        """Print the changed slides only and put them between the last build's pages:
        in place of their old pages when no slide moved (an edit), else in a new file."""
        import pikepdf

        assert plan.changed is not None and plan.base is not None
        measured = list(plan.slides)
        with contextlib.ExitStack() as stack:
            printed_pdf = None
            if plan.changed:
                # At the size of the slides kept: a changed slide of another size then
                # prints on more pages than one, as it would in the whole page.
                kept = [slide for slide in measured if slide is not None]
                size = page_size_of(kept) if kept else None
                parts, printed = self._print(
                    plan.changed_document, job, [job.slides[index] for index in plan.changed],
                    page_size=size)
                printed_pdf = stack.enter_context(joined(parts))
                check_pages(job, len(printed_pdf.pages), printed, plan.changed,
                            page_height=size[1] if size else None)
                for position, index in enumerate(plan.changed):
                    measured[index] = printed[position]
            slides = [slide for slide in measured if slide is not None]
            assert len(slides) == len(measured)
            reprinted = iter(range(len(plan.changed)))
            if len(plan.pages) == len(plan.base.pages) and all(
                    page in (index, -1) for index, page in enumerate(plan.pages)):
                pdf = plan.base
                for index in plan.changed:
                    assert printed_pdf is not None
                    pdf.pages[index] = printed_pdf.pages[next(reprinted)]
                return slides, finish(pdf, job)
            pdf = stack.enter_context(pikepdf.new())
            for page in plan.pages:
                if page >= 0:
                    pdf.pages.append(plan.base.pages[page])
                else:
                    assert printed_pdf is not None
                    pdf.pages.append(printed_pdf.pages[next(reprinted)])
            return slides, finish(pdf, job)

    def _print(self, document: str, job: PdfJob, fragments: Sequence[str],
               loading: threading.Event | None = None,
               page_size: tuple[float, float] | None = None,
               ) -> tuple[list[bytes | pikepdf.Pdf], list[SlideMeasure]]:
        """Load the page (whose slides are `fragments`, when known), wait until it is
        ready, measure its slides and print it: the PDFs of its parts, in order (those
        done while the last was printing already read, for `joined`), and the slides'
        measurements. `loading` is set once Chromium has all the pages to load (or on an
        error before). `page_size`: the paper's (CSS pixels), else that of most of
        the slides.

        A big page is printed in parts (`part_count`), each a page of consecutive
        slides loaded, laid out and printed by a renderer process of its own, all at the
        same time. When the page draws diagrams, a page with only their slides draws them
        meanwhile (the diagram library, 3.5 MB of script, is then parsed and run by
        another renderer while the others load without it) and the drawings are moved
        over once all have loaded. They are the same: drawn in the same slides, under
        the same styles."""
        assert self._browser is not None
        self._join_preparation()
        pages = pages_to_print(document, fragments,
                       part_count(len(fragments), sum(map(len, fragments))))
        names = [job.output.stem if index == 0 else f"{job.output.stem}-{index + 1}"
                 for index in range(len(pages.parts))]
        files = [self._browser.profile / f"{name}.html" for name in names]
        tabs: list[Tab] = []
        side: Tab | None = None
        parts: list[bytes | pikepdf.Pdf] = []
        printed = False
        try:
            # All pages first (new ones start their renderers side by side), then loaded.
            tabs.extend(self._take_tab(index) for index in range(len(pages.parts)))
            if pages.diagrams is not None:
                side, self._side = self._side or self._new_tab(), None
            started = []
            for index, page in enumerate(pages.parts):
                files[index].write_text(with_base(page, job.base_dir), encoding="utf-8")
                started.append(tabs[index].start_open(files[index].as_uri()))
            if side is not None and pages.diagrams is not None:
                side_file = files[0].with_name(f"{job.output.stem}-diagrams.html")
                side_file.write_text(with_base(pages.diagrams, job.base_dir),
                                     encoding="utf-8")
                side_started = side.start_open(side_file.as_uri())
                if loading is not None:
                    loading.set()
                side.finish_open(side_started)
            if loading is not None:
                loading.set()
            for tab, navigation in zip(tabs, started, strict=True):
                tab.finish_open(navigation)
            if side is not None:
                drawn: list[str] = side.evaluate(_DRAWN_DIAGRAMS)
                side.close()
                side = None
                _put_diagrams(drawn, tabs, pages, files, job)
            measure = measure_script(self._timeout)
            slides = [SlideMeasure.from_json(slide)
                      for tab in tabs for slide in tab.evaluate(measure)["slides"]]
            if not slides:
                raise BrowserError(f"{job.output.name}: the document has no slides to print")
            width, height = page_size or page_size_of(slides)
            commands = [_start_print(tab, width, height) for tab in tabs]
            for tab, command in zip(tabs, commands, strict=True):
                data = _printed(tab, command)
                # The last part still printing: read this one meanwhile (`joined`).
                parts.append(read_in(data) if command != commands[-1]
                             and not self._browser.answered(commands[-1]) else data)
            printed = True
            return parts, slides
        finally:
            if not printed:
                for part in parts:
                    if not isinstance(part, bytes):
                        part.close()
            if side is not None:
                side.close()
            if self._last:
                self._browser.kill()  # reaped in __exit__
                self._stopped = True
            elif not printed:  # in an unknown state: the next job gets new pages
                self._tabs = []
                for tab in tabs:
                    tab.close()


# The diagrams of a page, once drawn (the template's mermaid.run is `sheetsReady`), and
# the function that puts them into the main page; false when they do not match its own.
_DIAGRAMS = json.dumps("div.marpit .mermaid")
_COUNT_DIAGRAMS = f"document.querySelectorAll({_DIAGRAMS}).length"
_DRAWN_DIAGRAMS = f"""
(async () => {{
  if (window.sheetsReady) {{ await window.sheetsReady; }}
  return [...document.querySelectorAll({_DIAGRAMS})].map((diagram) => diagram.innerHTML);
}})()
"""
_PUT_DIAGRAMS = f"""
((drawn) => {{
  const diagrams = [...document.querySelectorAll({_DIAGRAMS})];
  if (diagrams.length !== drawn.length) {{ return false; }}
  diagrams.forEach((diagram, index) => {{
    diagram.innerHTML = drawn[index];
    diagram.setAttribute('data-processed', 'true');
  }});
  return true;
}})
"""


def _put_diagrams(drawn: list[str], tabs: Sequence[Tab], pages: PrintPages,
                  files: Sequence[Path], job: PdfJob) -> None:
    """Move the drawn diagrams into the parts, in order; a part they do not fit
    (raw HTML the split misread) is loaded again with the library, to draw its own."""
    counts = [tab.evaluate(_COUNT_DIAGRAMS) for tab in tabs]
    fits = sum(counts) == len(drawn)
    for index, tab in enumerate(tabs):
        mine, drawn = drawn[:counts[index]], drawn[counts[index]:]
        if not counts[index]:
            continue
        if not fits or not tab.evaluate(f"{_PUT_DIAGRAMS}({json.dumps(mine)})"):
            files[index].write_text(with_base(pages.full_part(index), job.base_dir),
                                    encoding="utf-8")
            tab.open(files[index].as_uri())


def build_pdfs(jobs: Sequence[PdfJob], *, chromium: Path | None = None,
               cache_dir: Path | None = None,
               printer: PdfPrinter | None = None) -> Iterator[PdfResult]:
    """Print each job with one browser, stopped as soon as it has printed the last.
    With `printer` (entered by the caller), that one is used; it prints nothing after
    the last job. (`sheets build` drives its printer itself, rendering the next sheet
    while one prints: cli._print_sheets.)"""
    with contextlib.ExitStack() as stack:
        if printer is None:
            printer = stack.enter_context(PdfPrinter(chromium=chromium, cache_dir=cache_dir))
        for index, job in enumerate(jobs):
            yield printer.build(job, last=index == len(jobs) - 1)


def page_size_of(slides: Sequence[SlideMeasure]) -> tuple[float, float]:
    """The size most of the (one or more) slides have, the theme's (the first slide's
    on a tie): the paper's, so that a slide of another size shows as pages not one per
    slide."""
    return Counter((slide.width, slide.height) for slide in slides).most_common(1)[0][0]


def _start_print(tab: Tab, width: float, height: float) -> int:
    """Ask for the page printed with the page size taken from the slides' size (the
    answer: `_printed`). A page rule added last wins over the theme's, and the CSS size
    keeps Chromium from rounding the paper up (which would spill each slide onto a
    second page)."""
    tab.evaluate(
        "(() => { const style = document.createElement('style');"
        f" style.textContent = '@page {{ size: {width}px {height}px; margin: 0; }}';"
        " document.head.appendChild(style); })()"
    )
    return tab.send("Page.printToPDF", {
        "printBackground": True,
        "preferCSSPageSize": True,
        # Untagged: Chromium's structure tree (built from the accessibility tree of every
        # page) costs ~40% of the print time of the seed deck, and a rebuild that puts
        # reprinted pages between the last build's could not keep one tree anyway. Text
        # stays selectable and searchable; it comes from the fonts' ToUnicode maps.
        "generateTaggedPDF": False,
        "marginTop": 0, "marginBottom": 0, "marginLeft": 0, "marginRight": 0,
        "displayHeaderFooter": False,
    })


def _printed(tab: Tab, command: int) -> bytes:
    return base64.b64decode(tab.browser.receive(command)["data"])


