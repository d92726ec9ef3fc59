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
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self
from urllib.parse import unquote, urlsplit

from builder.atomic import atomic_path, write_text_atomically
from builder.browser import Browser, BrowserError, Tab, find_chromium, sigterm_as_interrupt
from builder.model import Diagnostic, SourceLoc

if TYPE_CHECKING:  # pikepdf is imported where it is used: Chromium starts before it loads
    import pikepdf
    from markdown_it.token import Token

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


def job_for_deck(deck: DeckSource, document: str, output: Path,
                 slides: Sequence[str] = ()) -> PdfJob:
    """The PDF job for a parsed deck and its rendered HTML page (and, for rebuilds that
    print only what changed, its slides' HTML). Without a `title` directive the title is
    the first slide title, as Marp CLI does."""
    outline = outline_entries(slide_title(slide.tokens) for slide in deck.slides)
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
        self._prepared: Tab | BaseException | None = None
        self._tab: Tab | None = None
        self._last = self._stopped = False
        self._signals = sigterm_as_interrupt()

    def __enter__(self) -> Self:
        self._signals.__enter__()
        try:
            self._browser = Browser(self._executable, timeout=self._timeout)
            if self._background:
                # Chromium boots and opens the first page (~0.7 s, mostly waiting) while
                # the caller parses and renders: on a rebuild that is most of the time.
                self._preparing = threading.Thread(target=self._prepare_tab,
                                                   name="sheets-pdf-tab", daemon=True)
                self._preparing.start()
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

    def _prepare_tab(self) -> None:
        """The thread's work: a page ready to load into (the only use of the browser
        until `_take_tab` has joined it)."""
        assert self._browser is not None
        try:
            self._prepared = self._new_tab(blank=True)
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            self._prepared = error

    def _new_tab(self, *, blank: bool = False) -> Tab:
        """A page of A4 width in print media (the page may lay slides out differently
        on screen); with `blank`, the one Chromium opened as it started."""
        assert self._browser is not None
        tab = self._browser.open_tab(794, 1123, blank=blank)
        tab.call("Emulation.setEmulatedMedia", {"media": "print"})
        return tab

    def _take_tab(self) -> Tab:
        """The page the last job printed from, else the one prepared in the background,
        else a new one. One page for every sheet of a run: its renderer is warm (a new
        page's made each of `make pdf`'s 4-page sheets take 1.0-1.4 s instead of 0.6)."""
        assert self._browser is not None
        if self._preparing is not None:
            self._preparing.join()
            self._preparing = None
        prepared, self._prepared = self._prepared, None
        if isinstance(prepared, BaseException):
            raise prepared
        if self._tab is None:
            self._tab = prepared if prepared is not None else self._new_tab()
        return self._tab

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
        import pikepdf

        if self._browser is None or self._stopped:
            raise RuntimeError("PdfPrinter is used outside its `with` block or after "
                               "its last job")
        self._last = last
        plan = self._cache.plan(job) if self._cache else None
        try:
            if plan is None or plan.changed is None:
                pdf_bytes, slides = self._print(job.document, job, job.slides)
                with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
                    pages = _finish(pdf, job)
                printed = len(slides)
            else:
                slides, pages = self._patch(job, plan)
                printed = len(plan.changed)
            if plan is not None and self._cache is not None:
                self._cache.store(job, plan.keys, slides)
        finally:
            if plan is not None:
                plan.close()
        return PdfResult(job.output, pages, _diagnostics(job, slides), printed)

    def _patch(self, job: PdfJob, plan: _Plan) -> tuple[list[dict[str, Any]], int]:
        """Print the changed slides only and put them between the last build's pages:
        in place of their old pages when no slide moved (an edit), else in a new file."""
        import pikepdf

        assert plan.changed is not None and plan.base is not None
        slides = list(plan.slides)
        with contextlib.ExitStack() as stack:
            printed_pdf = None
            if plan.changed:
                pdf_bytes, printed = self._print(
                    plan.changed_document, job, [job.slides[index] for index in plan.changed])
                if len(printed) != len(plan.changed):
                    raise BrowserError(f"{job.output.name}: printed {len(printed)} slides "
                                       f"of {len(plan.changed)}")
                for position, index in enumerate(plan.changed):
                    slides[index] = printed[position]
                printed_pdf = stack.enter_context(pikepdf.open(io.BytesIO(pdf_bytes)))
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

    def _print(self, document: str, job: PdfJob, fragments: Sequence[str]
               ) -> tuple[bytes, list[dict[str, Any]]]:
        """Load a page (whose slides are `fragments`, when known), wait until it is
        ready, measure its slides and print it. When it draws diagrams, a second page
        with only their slides draws them meanwhile: the diagram library (3.5 MB of
        script) is then parsed and run by another renderer, on the other core, while the
        main page, left without it, loads; the drawings are moved over once both have
        loaded. They are the same: drawn in the same slides, under the same styles."""
        assert self._browser is not None
        pages = _diagram_pages(document, fragments)
        page_file = self._browser.profile / f"{job.output.stem}.html"
        page_file.write_text(_with_base(pages[0] if pages else document, job.base_dir),
                             encoding="utf-8")
        tab = self._take_tab()
        side: Tab | None = None
        printed = False
        try:
            loading = tab.start_open(page_file.as_uri())
            if pages:
                side = self._new_tab()
                side_file = page_file.with_name(f"{job.output.stem}-diagrams.html")
                side_file.write_text(_with_base(pages[1], job.base_dir), encoding="utf-8")
                side.open(side_file.as_uri())
            tab.finish_open(loading)
            if side is not None:
                drawn = side.evaluate(_DRAWN_DIAGRAMS)
                side.close()
                side = None
                if not tab.evaluate(f"{_PUT_DIAGRAMS}({json.dumps(drawn)})"):
                    # Not the same diagrams (raw HTML the split misread): draw them here.
                    page_file.write_text(_with_base(document, job.base_dir), encoding="utf-8")
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
            printed = True
            return pdf_bytes, slides
        finally:
            if side is not None:
                side.close()
            if self._last:
                self._browser.kill()  # reaped in __exit__
                self._stopped = True
            elif not printed:  # in an unknown state: the next job gets a new page
                self._tab = None
                tab.close()


# The diagrams of a page, once drawn (the template's mermaid.run is `sheetsReady`), and
# the function that puts them into the main page; false when they do not match its own.
_DIAGRAMS = json.dumps("div.marpit .mermaid")
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


def _diagram_pages(document: str, fragments: Sequence[str]) -> tuple[str, str] | None:
    """(the page without the diagram library, a page of only its slides with diagrams)
    when the page draws diagrams and is made of `fragments`; None otherwise."""
    if not any(_DIAGRAM.search(fragment) for fragment in fragments):
        return None
    split = _split(document, fragments)
    if split is None:
        return None
    prefix, suffix = split
    plain_prefix, plain_suffix = _without_diagram_scripts(prefix), _without_diagram_scripts(suffix)
    if (plain_prefix, plain_suffix) == (prefix, suffix):
        return None  # no library: nothing draws them (a page not made by render.py)
    with_diagrams = [fragment for fragment in fragments if _DIAGRAM.search(fragment)]
    return (plain_prefix + "".join(fragments) + plain_suffix,
            _page_of(prefix, with_diagrams, suffix))


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

    keys: tuple[str, ...]
    """One per slide: its HTML, the page's head and scripts, the files it uses."""
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
        import pikepdf

        split = _split(job.document, job.slides)
        if split is None:
            return None
        prefix, suffix = split
        common = _digest(self.identity, prefix, suffix, _file_states(prefix + suffix, job))
        keys = tuple(_digest(common, fragment, _file_states(fragment, job))
                     for fragment in job.slides)
        try:
            manifest = json.loads(self._manifest(job.output).read_text(encoding="utf-8"))
            base = pikepdf.open(self.root / manifest["pdf"])
        except (OSError, ValueError, KeyError, pikepdf.PdfError):
            return _Plan(keys, None)
        where = {key: page for page, key in enumerate(manifest["keys"])}
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


def _page_of(prefix: str, fragments: Sequence[str], suffix: str) -> str:
    """A page with only some of the slides. When none of them has a diagram, the
    diagram library is left out: parsing its 3.5 MB of script is most of the time
    Chromium spends loading a page of one or two slides."""
    if not any(_DIAGRAM.search(fragment) for fragment in fragments):
        prefix, suffix = _without_diagram_scripts(prefix), _without_diagram_scripts(suffix)
    return prefix + "".join(fragments) + suffix


def _without_diagram_scripts(html: str) -> str:
    """`html` without the `<script data-diagrams>` elements render.py writes (a loop of
    `find`s: a non-greedy regex takes 40 ms to cross the library's 3.5 MB)."""
    kept = []
    position = 0
    while (start := html.find("<script data-diagrams>", position)) >= 0:
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




def build_pdfs(jobs: Iterable[PdfJob], *, chromium: Path | None = None,
               cache_dir: Path | None = None,
               printer: PdfPrinter | None = None) -> Iterator[PdfResult]:
    """Print each job with one browser. `jobs` may be a generator that renders lazily:
    the browser starts before the first job is asked for, and each job is rendered
    before the one ahead of it is printed (so that the last is known: Chromium is stopped
    as soon as it has printed it). With `printer` (entered by the caller, who may have
    started it even earlier), that one is used; it prints nothing after the last job."""
    if printer is not None:
        for job, last in _with_last(jobs):
            yield printer.build(job, last=last)
        return
    with PdfPrinter(chromium=chromium, cache_dir=cache_dir) as started:
        for job, last in _with_last(jobs):
            yield started.build(job, last=last)


def _with_last(jobs: Iterable[PdfJob]) -> Iterator[tuple[PdfJob, bool]]:
    """Each job, and whether it is the last (the next one is asked for first)."""
    iterator = iter(jobs)
    job = next(iterator, None)
    while job is not None:
        following = next(iterator, None)
        yield job, following is None
        job = following


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
        # Untagged: Chromium's structure tree (built from the accessibility tree of every
        # page) costs ~40% of the print time of the seed deck, and a rebuild that puts
        # reprinted pages between the last build's could not keep one tree anyway. Text
        # stays selectable and searchable; it comes from the fonts' ToUnicode maps.
        "generateTaggedPDF": False,
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