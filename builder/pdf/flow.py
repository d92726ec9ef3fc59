"""A document printed (docs/format.md §1, "Slides or a document"): the page flows over
as many A4 pages as it needs, Chromium paginating it under the page's own CSS
(builder/render/flow.py: cards kept whole when they fit, headings kept with what
follows, the running head and "n / N" in the page's margin boxes).

The page has a hidden link to each card, so Chromium writes a named destination for
each (`/Dests`: its page and height there): the outline's entries are read from them,
so each bookmark opens its heading's page at the heading. The page is measured as a
deck's is (builder/pdf/measure.py) for what did not load: images, diagrams."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from builder.model import Diagnostic
from builder.pdf.browser import Tab
from builder.pdf.jobs import OutlineEntry, PdfJob
from builder.pdf.measure import OVERFLOW_TOLERANCE_PX, SlideMeasure, measure_script
from builder.pdf.parts import with_base

if TYPE_CHECKING:
    import pikepdf


def print_document(tab: Tab, job: PdfJob, file: Path, *,
                   timeout: float) -> tuple[bytes, list[SlideMeasure]]:
    """Load `job`'s page from `file` in `tab`, wait until it is ready (fonts, diagrams),
    measure its sections and print it at the page's CSS size: the PDF's bytes and the
    measurements."""
    file.write_text(with_base(job.document, job.base_dir), encoding="utf-8")
    tab.open(file.as_uri())
    sections = [SlideMeasure.from_json(section)
                for section in tab.evaluate(measure_script(timeout))["slides"]]
    # Fonts and diagrams are in: sizes are final (builder/js/flow.js).
    tab.evaluate("window.sheetsFitDocument && window.sheetsFitDocument(document)")
    reply = tab.call("Page.printToPDF", {
        "printBackground": True,
        "preferCSSPageSize": True,
        # Untagged, as decks are (builder/pdf/printer.py): text stays searchable.
        "generateTaggedPDF": False,
        "displayHeaderFooter": False,
    }, timeout=timeout)
    return base64.b64decode(reply["data"]), sections


def place_outline(pdf: pikepdf.Pdf, outline: Sequence[OutlineEntry]) -> tuple[OutlineEntry, ...]:
    """The outline's entries that name a destination, each on the page (and at the
    height) Chromium printed it; those whose destination is not in the PDF are left
    out."""
    import pikepdf

    found: dict[str, tuple[int, float | None]] = {}
    pages = {page.obj.objgen: index for index, page in enumerate(pdf.pages)}
    dests = pdf.Root.get("/Dests")
    if isinstance(dests, pikepdf.Dictionary):
        for name, target in dests.items():
            if isinstance(target, pikepdf.Array) and len(target) >= 4 \
                    and isinstance(target[0], pikepdf.Dictionary):
                page: int | None = pages.get(target[0].objgen)
                top = target[3]
                if page is not None:
                    found[name.lstrip("/")] = (
                        page, float(top) if isinstance(top, int | float | Decimal) else None)
    placed = []
    for entry in outline:
        where = found.get(entry.destination)
        if where is not None:
            placed.append(OutlineEntry(entry.title, entry.level, where[0],
                                       entry.destination, where[1]))
    return tuple(placed)


def document_diagnostics(job: PdfJob,
                         sections: Sequence[SlideMeasure]) -> tuple[Diagnostic, ...]:
    """Warnings for what a document's sections show wrong: content wider than the
    page, images that did not load, diagrams mermaid could not read; each at the
    section's first line."""
    found = []
    for index, section in enumerate(sections):
        if index >= len(job.slide_locs):
            break
        loc = job.slide_locs[index]
        if section.overflow_x > OVERFLOW_TOLERANCE_PX:
            found.append(Diagnostic(loc, f"content runs {section.overflow_x} px past the "
                                         "page's width"))
        found.extend(Diagnostic(loc, f"image not found: {source}")
                     for source in section.broken)
        if section.broken_diagrams:
            found.append(Diagnostic(loc, "a diagram with a mermaid syntax error (drawn as "
                                         "mermaid's error picture)"))
    return tuple(found)
