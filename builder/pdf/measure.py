"""Measuring a loaded page: once it is ready to print (its scripts done, diagrams drawn,
fonts loaded), each slide's content is measured against its box, so that an overflowing
slide is reported, never cut off silently. The page's script answers in JSON, read here
once into `SlideMeasure`s."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from builder.model import Diagnostic
from builder.pdf.jobs import PdfJob

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
      id: section.id, width: box.width, height: box.height,
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


def measure_script(timeout: float) -> str:
    """The script that waits for the page (diagrams for a tenth of `timeout` at most)
    and measures its slides: its value is read by `SlideMeasure.from_json`."""
    return _PREPARE_AND_MEASURE % {
        "sections": json.dumps(SECTIONS),
        "mermaid_timeout_ms": int(timeout * 100),
    }


@dataclass(frozen=True, slots=True)
class SlideMeasure:
    """One slide as the page laid it out (CSS pixels)."""

    width: float
    height: float
    overflow_y: int
    """How far the content runs past the box the theme leaves for it, downwards
    (Chromium's scrollable overflow includes the block-end padding, which holds header,
    footer and page number)."""
    overflow_x: int
    """The same, sideways."""
    broken: tuple[str, ...] = ()
    """The sources of the slide's images that did not load."""
    broken_diagrams: int = 0
    """Diagrams mermaid drew as its error picture (it could not read them)."""
    identifier: str = ""
    """The section's `id` (render gives slide N the id "N"), which says which slides
    the page holds when some went missing."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SlideMeasure:
        """A slide as the page's script (or a page cache's manifest) gives it; KeyError,
        TypeError or ValueError when it is not one."""
        width, height = data["width"], data["height"]
        if not all(isinstance(value, int | float) for value in (width, height)):
            raise TypeError(f"not a slide's size: {width!r}, {height!r}")
        return cls(width=width, height=height,
                   overflow_y=int(data["overflowY"]), overflow_x=int(data["overflowX"]),
                   broken=tuple(str(source) for source in data["broken"]),
                   broken_diagrams=int(data.get("brokenDiagrams", 0)),
                   identifier=str(data.get("id", "")))

    def to_json(self) -> dict[str, Any]:
        """The form `from_json` reads (the page cache keeps it in its manifest)."""
        return {"width": self.width, "height": self.height, "overflowY": self.overflow_y,
                "overflowX": self.overflow_x, "broken": list(self.broken),
                "brokenDiagrams": self.broken_diagrams, "id": self.identifier}


def diagnostics(job: PdfJob, slides: Sequence[SlideMeasure]) -> tuple[Diagnostic, ...]:
    """Warnings for the slides that overflow their page or have broken images or
    diagrams, each at its slide's first line (`job.slide_locs`). (Pages that are not
    one per slide are an error: `check_pages`.)"""
    found = []
    for index, slide in enumerate(slides):
        loc = job.slide_locs[index] if index < len(job.slide_locs) else None
        if loc is None:
            continue
        number = index + 1
        over_y, over_x = slide.overflow_y, slide.overflow_x
        if over_y > OVERFLOW_TOLERANCE_PX:
            hint = ""
            if over_y > slide.height:  # a sheet without slide breaks, most likely
                pages = math.ceil((over_y + slide.height) / slide.height)
                hint = (f": its content needs about {pages} pages; split it with `---` or "
                        "a `headingDivider` directive")
            found.append(Diagnostic(
                loc, f"slide {number} overflows its page by {over_y} px{hint}"))
        if over_x > OVERFLOW_TOLERANCE_PX:
            found.append(Diagnostic(
                loc, f"slide {number} overflows its page by {over_x} px horizontally"))
        for source in slide.broken:
            found.append(Diagnostic(loc, f"slide {number}: image not found: {source}"))
        diagrams = slide.broken_diagrams
        if diagrams:
            what = "a diagram" if diagrams == 1 else f"{diagrams} diagrams"
            found.append(Diagnostic(loc, f"slide {number}: {what} with a mermaid syntax "
                                         "error (drawn as mermaid's error picture)"))
    return tuple(found)


class MissingPages(Exception):
    """A page printed other than one PDF page per slide: the PDF is not written (the
    last good one stays) and `diagnostic` is the error, at the sheet's line of the
    first slide concerned."""

    def __init__(self, diagnostic: Diagnostic, pages: int) -> None:
        super().__init__(str(diagnostic))
        self.diagnostic = diagnostic
        self.pages = pages


def check_pages(job: PdfJob, pages: int, slides: Sequence[SlideMeasure],
                indices: Sequence[int] | None = None, *,
                page_height: float | None = None) -> None:
    """Raise `MissingPages` unless the printed page holds the slides it was given, each
    printed on one page: `pages` PDF pages and `slides` measured for the slides
    `indices` of the sheet (all of them when None, as for a whole sheet printed), on
    paper `page_height` tall (else as tall as most of the slides).

    A slide is missing when the page holds fewer sections than slides (HTML that left
    the slides' container: the render stage closes each slide's HTML so that none
    does); a slide taller than the page prints on more than one."""
    expected = list(range(len(job.slide_locs))) if indices is None else list(indices)
    if pages == len(expected) and len(slides) == len(expected):
        return
    found = [slide.identifier for slide in slides]
    missing = next((index for position, index in enumerate(expected)
                    if position >= len(found)
                    or found[position] not in ("", str(index + 1))), None)
    counts = f"{pages} page{'s' * (pages != 1)} printed for {len(expected)} " \
             f"slide{'s' * (len(expected) != 1)}"
    if missing is not None:
        what = f"slide {missing + 1} is missing from the PDF ({counts})"
    else:
        if page_height is None:
            heights = Counter(slide.height for slide in slides)
            page_height = heights.most_common(1)[0][0] if heights else 0
        split = next((index for slide, index in zip(slides, expected, strict=True)
                      if slide.height > page_height + OVERFLOW_TOLERANCE_PX), None)
        missing = split if split is not None else expected[0]
        what = f"slide {missing + 1} does not print on one page ({counts})"
    raise MissingPages(Diagnostic(
        job.slide_locs[missing],
        f"{what}; {job.output.name} is not written (the last one is kept)", "error"),
        pages)
