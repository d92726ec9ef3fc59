"""The last stage: a rendered deck (one HTML page) → an A4 PDF, through headless Chromium.

One browser serves every sheet of a run (`PdfPrinter`). For each sheet the page is
loaded with print media emulated, fonts and mermaid diagrams are awaited, every slide's
content is measured against its box (an overflowing slide is reported, never cut off
silently), and the page is printed with one PDF page per slide at the slide's size. A big
page is printed in parts, one per core, by renderer processes working side by side, and
the parts are joined; a rebuild prints only the slides that changed (`_PageCache`).
pikepdf then adds what Chromium does not write: the metadata from the front matter and
an outline (one bookmark per titled slide, nested by heading level). The file is written
to a temporary name in the output directory and renamed over the old one, so a failed or
interrupted build leaves the previous PDF as it was.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import math
import os
import re
import shutil
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self
from urllib.parse import unquote, urlsplit

from builder.atomic import atomic_path, write_text_atomically
from builder.model import Diagnostic, SourceLoc
from builder.pdf.browser import Browser, BrowserError, Tab, find_chromium, sigterm_as_interrupt
from builder.resources import NODE_MODULES

if TYPE_CHECKING:  # pikepdf is imported where it is used: Chromium starts before it loads
    import pikepdf

    from builder.marp import Heading

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
      // mermaid draws a diagram it cannot read as its error picture, and goes on.
      brokenDiagrams: section.querySelectorAll(
        '.mermaid svg[aria-roledescription="error"]').length,
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
    slides: tuple[str, ...] = ()
    """The slides' HTML as it appears in `document` (render.py's `.slides`): lets a
    rebuild print only the slides that changed. Optional."""


@dataclass(frozen=True, slots=True)
class PdfResult:
    output: Path
    pages: int
    diagnostics: tuple[Diagnostic, ...]
    printed: int = 0
    """How many slides Chromium printed (the others came from the last build)."""


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
                 slides: Sequence[str] = ()) -> PdfJob:
    """The PDF job for a parsed deck and its rendered HTML page (and, for rebuilds that
    print only what changed, its slides' HTML). Without a `title` directive the title is
    the first slide title, as Marp CLI does."""
    outline = outline_entries(slide_title(slide) for slide in deck.slides)
    title = deck.title or (outline[0].title if outline else None)
    return PdfJob(
        document=document,
        output=output,
        slide_locs=tuple(slide.loc for slide in deck.slides),
        outline=outline,
        metadata=PdfMetadata(title=title, author=deck.author or None,
                             subject=deck.description or None, lang=deck.lang or None),
        base_dir=deck.path.parent,
        slides=tuple(slides),
    )


class PdfPrinter:
    """Prints PDF jobs with one Chromium, started at once (so that it boots while the
    caller parses and renders the first sheet) and stopped, with all its processes and
    its temporary profile, when the `with` block ends, also on Ctrl-C and SIGTERM."""

    def __init__(self, *, chromium: Path | None = None, cache_dir: Path | None = None,
                 timeout: float = 60.0, prepare_in_background: bool = True) -> None:
        self._executable = chromium or find_chromium()
        self._cache = _PageCache(cache_dir / "pdf", self._executable) if cache_dir else None
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
        self._signals = sigterm_as_interrupt()

    def __enter__(self) -> Self:
        self._signals.__enter__()
        try:
            self._browser = Browser(self._executable, timeout=self._timeout)
            # Chromium boots and opens the first page (~0.7 s, mostly waiting) while
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
        process to start, ~0.1 s) and the page for its diagrams are opened now, while
        it renders, instead of after."""
        if self._cache is not None and self._cache.has_base(output):
            return  # a rebuild: it prints what changed, from one page
        try:
            markdown = deck.path.stat().st_size
        except OSError:
            return
        # Slide HTML is ~7-12 times the Markdown (MathJax's markup): seed 001 has 43.8 KB
        # of Markdown, 539 KB of slides.
        parts = _part_count(len(deck.slides), markdown * 10)
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
            except BaseException as error:  # noqa: BLE001 - handed to the main thread
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
        same pages for every sheet of a run: their renderers are warm (a new page's made
        each of `make pdf`'s 4-page sheets take 1.0-1.4 s instead of 0.6)."""
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
        the page is printed and winds down while the file is written."""

        if self._browser is None or self._stopped:
            raise RuntimeError("PdfPrinter is used outside its `with` block or after "
                               "its last job")
        self._last = last
        plan = self._cache.plan(job) if self._cache else None
        try:
            if plan is None or plan.changed is None:
                # This thread only waits while Chromium loads and prints the page: another
                # imports pikepdf meanwhile and, on a first build, makes the cache keys
                # (~0.2 s of seed 001's, off the path to the PDF), once the pages are
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
                with _joined(parts) as pdf:
                    pages = _finish(pdf, job)
                printed = len(slides)
            else:
                slides, pages = self._patch(job, plan)
                printed = len(plan.changed)
            if plan is not None and self._cache is not None:
                assert plan.keys is not None
                self._cache.store(job, plan.keys, slides)
        finally:
            if plan is not None:
                plan.close()
        return PdfResult(job.output, pages, _diagnostics(job, slides), printed)

    def _keys_for(self, job: PdfJob, plan: _Plan | None,
                  loading: threading.Event) -> tuple[str, ...] | None:
        """The plan's cache keys (made now if it has none yet), pikepdf imported, once
        the pages are `loading`."""
        loading.wait(self._timeout)
        import pikepdf  # noqa: F401 (imported for the caller, while Chromium prints)

        if plan is None or self._cache is None:
            return None
        return plan.keys if plan.keys is not None else self._cache.keys(job)

    def _patch(self, job: PdfJob, plan: _Plan) -> tuple[list[dict[str, Any]], int]:
        """Print the changed slides only and put them between the last build's pages:
        in place of their old pages when no slide moved (an edit), else in a new file."""
        import pikepdf

        assert plan.changed is not None and plan.base is not None
        slides = list(plan.slides)
        with contextlib.ExitStack() as stack:
            printed_pdf = None
            if plan.changed:
                parts, printed = self._print(
                    plan.changed_document, job, [job.slides[index] for index in plan.changed])
                if len(printed) != len(plan.changed):
                    raise BrowserError(f"{job.output.name}: printed {len(printed)} slides "
                                       f"of {len(plan.changed)}")
                for position, index in enumerate(plan.changed):
                    slides[index] = printed[position]
                printed_pdf = stack.enter_context(_joined(parts))
            reprinted = iter(range(len(plan.changed)))
            if len(plan.pages) == len(plan.base.pages) and all(
                    page in (index, -1) for index, page in enumerate(plan.pages)):
                pdf = plan.base
                for index in plan.changed:
                    assert printed_pdf is not None
                    pdf.pages[index] = printed_pdf.pages[next(reprinted)]
                return slides, _finish(pdf, job)
            pdf = stack.enter_context(pikepdf.new())
            for page in plan.pages:
                if page >= 0:
                    pdf.pages.append(plan.base.pages[page])
                else:
                    assert printed_pdf is not None
                    pdf.pages.append(printed_pdf.pages[next(reprinted)])
            return slides, _finish(pdf, job)

    def _print(self, document: str, job: PdfJob, fragments: Sequence[str],
               loading: threading.Event | None = None,
               ) -> tuple[list[bytes | pikepdf.Pdf], list[dict[str, Any]]]:
        """Load the page (whose slides are `fragments`, when known), wait until it is
        ready, measure its slides and print it: the PDFs of its parts, in order (those
        done while the last was printing already read, for `_joined`), and the slides'
        measurements. `loading` is set once Chromium has all the pages to load (or on an
        error before).

        A big page is printed in parts (`_part_count`), each a page of consecutive
        slides loaded, laid out and printed by a renderer process of its own, all at the
        same time: on two cores seed 001's 67 slides load and print in 1.9 s instead of
        2.55 (medians of 6 builds at load ~2). When the page draws diagrams, a page with only their slides draws them
        meanwhile (the diagram library, 3.5 MB of script, is then parsed and run by
        another renderer while the others load without it) and the drawings are moved
        over once all have loaded. They are the same: drawn in the same slides, under
        the same styles."""
        assert self._browser is not None
        self._join_preparation()
        pages = _pages(document, fragments,
                       _part_count(len(fragments), sum(map(len, fragments))))
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
                files[index].write_text(_with_base(page, job.base_dir), encoding="utf-8")
                started.append(tabs[index].start_open(files[index].as_uri()))
            if side is not None and pages.diagrams is not None:
                side_file = files[0].with_name(f"{job.output.stem}-diagrams.html")
                side_file.write_text(_with_base(pages.diagrams, job.base_dir),
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
                self._put_diagrams(drawn, tabs, pages, files, job)
            measure = _PREPARE_AND_MEASURE % {
                "sections": json.dumps(SECTIONS),
                "mermaid_timeout_ms": int(self._timeout * 100),
            }
            slides: list[dict[str, Any]] = [
                slide for tab in tabs for slide in tab.evaluate(measure)["slides"]]
            if not slides:
                raise BrowserError(f"{job.output.name}: the document has no slides to print")
            width, height = slides[0]["width"], slides[0]["height"]
            commands = [_start_print(tab, width, height) for tab in tabs]
            for tab, command in zip(tabs, commands, strict=True):
                data = _printed(tab, command)
                # The last part still printing: read this one meanwhile (`_joined`).
                parts.append(_read_in(data) if command != commands[-1]
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

    def _put_diagrams(self, drawn: list[str], tabs: Sequence[Tab], pages: _Pages,
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
                files[index].write_text(_with_base(pages.full_part(index), job.base_dir),
                                        encoding="utf-8")
                tab.open(files[index].as_uri())


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


# How a page is split into parts printed side by side: at most one per core (and
# `_MAX_PARTS`), each with at least `_PART_MIN_CHARS` of slide HTML. Below that a part's
# renderer process (~0.1 s to start) and its copy of the fonts cost more than sharing the
# work saves: seed 001 has 539 KB in 67 slides, a sheet of sheets/ ~40 KB in 4.
_MAX_PARTS = 4
_PART_MIN_CHARS = 150_000


def _part_count(slides: int, chars: int) -> int:
    """Parts to print `slides` slides of `chars` characters of HTML in."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    return max(1, min(cores, _MAX_PARTS, chars // _PART_MIN_CHARS, slides))


@dataclass(frozen=True, slots=True)
class _Pages:
    """What `_print` loads for one document."""

    parts: tuple[str, ...]
    """Pages of consecutive slides, in order, together all of them (without the diagram
    library when `diagrams` draws their diagrams)."""
    diagrams: str | None = None
    """A page of only the slides with diagrams (and what draws them), or None."""
    whole: tuple[str, Sequence[Sequence[str]], str] = ("", (), "")
    """The document's prefix, the parts' slides and its suffix: `full_part` is made of
    them when a part must draw its own diagrams (rarely: not made otherwise)."""

    def full_part(self, index: int) -> str:
        """Part `index` with the diagram library, to draw its own diagrams."""
        prefix, groups, suffix = self.whole
        return prefix + "".join(groups[index]) + suffix if groups else self.parts[index]


def _pages(document: str, fragments: Sequence[str], parts: int) -> _Pages:
    """The pages that print `document`, whose slides are `fragments`: `parts` of them
    when it can be split (see `_splittable`), with the diagrams drawn aside when it has
    any (and the library that draws them: a page not made by render.py has none)."""
    split = _split(document, fragments)
    if split is None:
        return _Pages((document,))
    prefix, suffix = split
    groups = _balanced(fragments, parts if _splittable(prefix, fragments) else 1)
    with_diagrams = [fragment for fragment in fragments if _DIAGRAM.search(fragment)]
    plain_prefix, plain_suffix = _without_diagram_scripts(prefix), _without_diagram_scripts(suffix)
    plain = tuple(plain_prefix + "".join(group) + plain_suffix for group in groups)
    if (plain_prefix, plain_suffix) == (prefix, suffix):
        return _Pages(plain)  # no library: nothing to strip, nothing to draw aside
    whole = (prefix, groups, suffix)
    if not with_diagrams:
        return _Pages(plain, whole=whole)
    if not _MERMAID_MODULE.is_file():
        return _Pages(plain, _page_of(prefix, with_diagrams, suffix), whole)
    return _Pages(plain, plain_prefix + "".join(with_diagrams) + _DRAW_DIAGRAMS + plain_suffix,
                  whole)


def _splittable(prefix: str, fragments: Sequence[str]) -> bool:
    """Whether slides printed apart print as they would together: not when a link goes
    to an anchor in the page (Chromium links it within the one PDF it writes), nor when
    CSS counters may run from slide to slide (the head's or a slide's scoped style)."""
    return "counter-" not in prefix and not any(
        'href="#' in fragment or "counter-" in fragment for fragment in fragments)


def _balanced(fragments: Sequence[str], parts: int) -> list[list[str]]:
    """`fragments` cut into `parts` runs of consecutive slides, of about the same
    length of HTML (about the same work to lay out and print), none empty."""
    parts = max(1, min(parts, len(fragments)))
    total = sum(map(len, fragments))
    groups: list[list[str]] = [[]]
    done = 0
    for index, fragment in enumerate(fragments):
        if groups[-1] and len(groups) < parts:
            target = total * len(groups) / parts  # where this run should end
            # The run ends here if the slide would take it further past its target than
            # it is short of it now, or if each run left must have one of the slides left.
            if (done + len(fragment) - target > target - done
                    or len(fragments) - index <= parts - len(groups)):
                groups.append([])
        groups[-1].append(fragment)
        done += len(fragment)
    return groups


# Part of every cache key: bump it when printing or measuring changes.
_CACHE_FORMAT = "sheets-pdf-2"
# Local files a page uses (images, stylesheets): their state is part of the cache key.
# One pattern per form, each starting with a literal: the regex engine then skips ahead
# to candidates, where one alternation is tried at every position of a 4 MB page (100 ms).
_URLS = (
    re.compile(r"""src\s*=\s*["']([^"'#]+)"""),
    re.compile(r"""href\s*=\s*["']([^"'#]+)"""),
    re.compile(r"""url\(\s*["']?([^"')]+)"""),
)


@dataclass(slots=True)
class _Plan:
    """What to print for one job, given the last build of the same output."""

    keys: tuple[str, ...] | None
    """One per slide: its HTML, the page's head and scripts, the files it uses (None
    until made: a first build makes them while Chromium prints)."""
    changed: list[int] | None
    """Indices of the slides to print; None: print the whole document."""
    changed_document: str = ""
    """The page with only the changed slides."""
    pages: list[int] = field(default_factory=list)
    """Per slide: its page in `base`, or -1 when it is printed anew."""
    slides: list[dict[str, Any]] = field(default_factory=list)
    """Per slide: its measurements from the last build (empty for changed slides)."""
    base: pikepdf.Pdf | None = None

    def close(self) -> None:
        if self.base is not None:
            self.base.close()


class _PageCache:
    """The last PDF built for each output, with a key per page: a rebuild prints only
    the slides whose key changed and copies the other pages."""

    def __init__(self, root: Path, chromium: Path) -> None:
        self.root = root
        stat = chromium.stat()
        self.identity = f"{_CACHE_FORMAT}\0{chromium.resolve()}\0{stat.st_mtime_ns}\0{stat.st_size}"

    def _manifest(self, output: Path) -> Path:
        name = hashlib.sha256(str(output.resolve()).encode()).hexdigest()[:32]
        return self.root / f"{name}.json"

    def plan(self, job: PdfJob) -> _Plan | None:
        """What to print: None when the page cannot be cached (it is not made of
        `job.slides`); all of it when there is no last build (its keys left to `keys`)
        or when most slides changed; else the changed slides."""
        split = _split(job.document, job.slides)
        if split is None:
            return None
        try:
            manifest = json.loads(self._manifest(job.output).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return _Plan(None, None)
        import pikepdf

        keys = self.keys(job, split)
        prefix, suffix = split
        try:
            where = {key: page for page, key in enumerate(manifest["keys"])}
            if len(manifest["slides"]) != len(manifest["keys"]):
                return _Plan(keys, None)
            base = pikepdf.open(self.root / manifest["pdf"])
        except (OSError, KeyError, TypeError, pikepdf.PdfError):
            return _Plan(keys, None)
        pages = [where.get(key, -1) for key in keys]
        changed = [index for index, page in enumerate(pages) if page < 0]
        if len(changed) * 2 > len(keys) or len(manifest["slides"]) != len(base.pages):
            base.close()  # mostly new: one print of the whole page is faster
            return _Plan(keys, None)
        return _Plan(
            keys, changed,
            changed_document=_page_of(prefix, [job.slides[index] for index in changed], suffix),
            pages=pages,
            slides=[manifest["slides"][page] if page >= 0 else {} for page in pages],
            base=base,
        )

    def has_base(self, output: Path) -> bool:
        """Whether a last build of `output` is kept (a rebuild may patch it)."""
        return self._manifest(output).is_file()

    def keys(self, job: PdfJob, split: tuple[str, str] | None = None) -> tuple[str, ...]:
        """One key per slide (`job.slides`; `split`: the page around them)."""
        prefix, suffix = split or _split(job.document, job.slides) or ("", "")
        common = _digest(self.identity, prefix, suffix, _file_states(prefix + suffix, job))
        return tuple(_digest(common, fragment, _file_states(fragment, job))
                     for fragment in job.slides)

    def store(self, job: PdfJob, keys: Sequence[str], slides: Sequence[dict[str, Any]]) -> None:
        """Remember the PDF just written to `job.output` as the base of the next build."""
        manifest_path = self._manifest(job.output)
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            old = json.loads(manifest_path.read_text(encoding="utf-8")).get("pdf")
        except (OSError, ValueError, AttributeError):
            old = None
        # A new name each time: the manifest, replaced last, never names a PDF that
        # does not match it, even when a build is interrupted halfway through this.
        pdf_name = f"{manifest_path.stem}-{os.urandom(6).hex()}.pdf"
        shutil.copyfile(job.output, self.root / pdf_name)
        manifest = {"pdf": pdf_name, "keys": list(keys), "slides": list(slides)}
        write_text_atomically(manifest_path, json.dumps(manifest))
        if old and old != pdf_name:
            (self.root / old).unlink(missing_ok=True)


# A slide with a diagram (render.py draws ```mermaid blocks as these), and the page's
# scripts that draw them.
_DIAGRAM = re.compile(r'<div class="[^"]*\bmermaid\b')


# The diagrams' page draws them with mermaid's ES module build, beside the library that
# render.py puts in the page (the same release, in node_modules): mermaid then imports the
# code of the diagram kinds the page has, where the library is 3.5 MB of script for the
# page's main thread to compile. Seed 001's gantt chart is drawn in 0.30 s
# and 0.43 CPU-s instead of 0.58 s and 0.66 (medians of 6), to the same SVG. As render.py's
# scripts do, it draws every diagram of the page; the promise is what `_DRAWN_DIAGRAMS`
# waits for (the fitting script's, if any, too).
_MERMAID_MODULE = NODE_MODULES / "mermaid" / \
    "dist" / "mermaid.esm.min.mjs"
_DRAW_DIAGRAMS = f"""<script type="module">
import mermaid from {json.dumps(_MERMAID_MODULE.as_uri())};
mermaid.initialize({{ startOnLoad: false }});
const drawn = mermaid.run({{ querySelector: "div.marpit .mermaid" }}).catch(
  (error) => console.error("mermaid:", error));
window.sheetsReady = Promise.all([window.sheetsReady, drawn]);
</script>
"""


def _page_of(prefix: str, fragments: Sequence[str], suffix: str) -> str:
    """A page with only some of the slides. When none of them has a diagram, the
    diagram library is left out: parsing its 3.5 MB of script is most of the time
    Chromium spends loading a page of one or two slides."""
    if not any(_DIAGRAM.search(fragment) for fragment in fragments):
        prefix, suffix = _without_diagram_scripts(prefix), _without_diagram_scripts(suffix)
    return prefix + "".join(fragments) + suffix


def _without_diagram_scripts(html: str) -> str:
    """`html` without the `<script data-diagrams …>` elements render.py writes (a loop of
    `find`s: a non-greedy regex takes 40 ms to cross an inlined library's 3.5 MB)."""
    kept = []
    position = 0
    while (start := html.find("<script data-diagrams", position)) >= 0:
        if html[start + len("<script data-diagrams"):][:1] not in (">", " "):
            kept.append(html[position:start + 1])
            position = start + 1
            continue
        end = html.find("</script>", start)
        if end < 0:
            break
        kept.append(html[position:start])
        position = end + len("</script>")
    kept.append(html[position:])
    return "".join(kept)


def _split(document: str, fragments: Sequence[str]) -> tuple[str, str] | None:
    """(what comes before the slides, what comes after) when the document holds the
    slide fragments in order, one after the other; None otherwise."""
    if not fragments:
        return None
    start = position = document.find(fragments[0])
    if start < 0:
        return None
    for fragment in fragments:
        found = document.find(fragment, position)
        if found < 0 or document[position:found].strip():
            return None
        position = found + len(fragment)
    return document[:start], document[position:]


def _file_states(html: str, job: PdfJob) -> str:
    """The local files that `html` refers to, with their size and time (or absence)."""
    states = []
    for match in (match for pattern in _URLS for match in pattern.finditer(html)):
        url = match.group(1).strip()
        if not url or ":" in url.split("/", 1)[0] and not url.startswith("file:"):
            continue  # data:, http:, about: … (and nothing to resolve against)
        if url.startswith("file:"):
            path = Path(unquote(urlsplit(url).path))
        elif job.base_dir is not None:
            path = job.base_dir / unquote(url.split("?", 1)[0])
        else:
            continue
        try:
            stat = path.stat()
            states.append(f"{path}\0{stat.st_mtime_ns}\0{stat.st_size}")
        except OSError:
            states.append(f"{path}\0missing")
    return "\n".join(states)


def _digest(*parts: str) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part.encode())
        hasher.update(b"\0\1")
    return hasher.hexdigest()




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


def _with_base(document: str, base_dir: Path | None) -> str:
    """The document with a `<base>` for its relative URLs, unless it already has one."""
    if base_dir is None or "<base " in document[:20000].lower():
        return document
    base = f'<base href="{base_dir.resolve().as_uri()}/">'
    head = document.find("<head>")
    if head < 0:
        return base + document
    return document[: head + 6] + base + document[head + 6:]


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


def _read_in(data: bytes) -> pikepdf.Pdf:
    """A printed part opened with all its objects read: copying them into another part
    then takes half the time (seed 001's first half, into the second: 0.17-0.23 ->
    0.08-0.10 s, the reading ~0.07 s of it)."""
    import pikepdf

    pdf = pikepdf.open(io.BytesIO(data))
    for _ in pdf.objects:
        pass
    return pdf


@contextlib.contextmanager
def _joined(parts: Sequence[bytes | pikepdf.Pdf]) -> Iterator[pikepdf.Pdf]:
    """The printed parts as one PDF: the last, with the others' pages put in before its
    own. The last part is the one printed last as a rule, the others were read while it
    printed (`_read_in`): what is left once it is in is copying them."""
    import pikepdf

    with contextlib.ExitStack() as stack:
        pdfs = [stack.enter_context(part if isinstance(part, pikepdf.Pdf)
                                    else pikepdf.open(io.BytesIO(part))) for part in parts]
        joined = pdfs[-1]
        position = 0
        for other in pdfs[:-1]:
            for page in other.pages:
                joined.pages.insert(position, page)
                position += 1
        yield joined


def _diagnostics(job: PdfJob, slides: Sequence[dict[str, Any]]) -> tuple[Diagnostic, ...]:
    found = []
    for index, slide in enumerate(slides):
        loc = job.slide_locs[index] if index < len(job.slide_locs) else None
        if loc is None:
            continue
        number = index + 1
        over_y, over_x = slide["overflowY"], slide["overflowX"]
        if over_y > OVERFLOW_TOLERANCE_PX:
            hint = ""
            if over_y > slide["height"]:  # a sheet without slide breaks, most likely
                pages = math.ceil((over_y + slide["height"]) / slide["height"])
                hint = (f": its content needs about {pages} pages; split it with `---` or "
                        "a `headingDivider` directive")
            found.append(Diagnostic(
                loc, f"slide {number} overflows its page by {over_y} px{hint}"))
        if over_x > OVERFLOW_TOLERANCE_PX:
            found.append(Diagnostic(
                loc, f"slide {number} overflows its page by {over_x} px horizontally"))
        for source in slide["broken"]:
            found.append(Diagnostic(loc, f"slide {number}: image not found: {source}"))
        diagrams = slide.get("brokenDiagrams", 0)
        if diagrams:
            what = "a diagram" if diagrams == 1 else f"{diagrams} diagrams"
            found.append(Diagnostic(loc, f"slide {number}: {what} with a mermaid syntax "
                                         "error (drawn as mermaid's error picture)"))
    if len(slides) != len(job.slide_locs):
        found.append(Diagnostic(
            SourceLoc(job.output, 1),
            f"printed {len(slides)} slides but the sheet has {len(job.slide_locs)}"))
    return tuple(found)


def _finish(pdf: pikepdf.Pdf, job: PdfJob) -> int:
    """Set metadata and outline (replacing those of a last build patched in place),
    write atomically; returns the page count."""
    import pikepdf

    info = pdf.docinfo
    meta = job.metadata
    for key, value in (("/Title", meta.title), ("/Author", meta.author),
                       ("/Subject", meta.subject)):
        if value:
            info[key] = value
        elif key in info:
            del info[key]
    if meta.lang:
        pdf.Root.Lang = pikepdf.String(meta.lang)
    elif "/Lang" in pdf.Root:
        del pdf.Root.Lang
    pages = len(pdf.pages)
    entries = [entry for entry in job.outline if entry.page < pages]
    if entries or "/Outlines" in pdf.Root:
        with pdf.open_outline() as outline:
            outline.root[:] = _nest(entries)
    if entries:
        pdf.Root.PageMode = pikepdf.Name.UseOutlines
    elif "/PageMode" in pdf.Root:
        del pdf.Root.PageMode
    _write_atomically(pdf, job.output)
    return pages


def _nest(entries: Sequence[OutlineEntry]) -> list[pikepdf.OutlineItem]:
    """Outline items nested by heading level: each entry goes under the nearest earlier
    entry with a smaller level."""
    import pikepdf

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
    """Saved with object streams (PDF 1.5): Chromium writes each glyph of its Type 3
    fonts as small objects, which then compress together; seed 001's PDF 1.35 -> 0.93 MB,
    and saving it 0.10 -> 0.08 s."""
    import pikepdf

    with atomic_path(output) as temporary:
        pdf.save(temporary, object_stream_mode=pikepdf.ObjectStreamMode.generate)