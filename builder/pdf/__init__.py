"""pdf: rendered decks printed to A4 PDF by a headless Chromium.

The stage's public API: `PdfPrinter` (one browser for a run's sheets) prints a `PdfJob`
(made by `job_for_deck` from a parsed deck and its HTML) to a `PdfResult`; `build_pdfs`
prints several. `Browser`/`find_chromium` drive Chromium over the DevTools protocol;
`BrowserError` is our bug or the machine's, never the user's.
"""

from builder.pdf.browser import Browser, BrowserError, Tab, find_chromium, install_hint
from builder.pdf.jobs import OutlineEntry, PdfJob, PdfMetadata, PdfResult
from builder.pdf.measure import SlideMeasure
from builder.pdf.printer import (
    DeckSource,
    PdfPrinter,
    SlideSource,
    build_pdfs,
    job_for_deck,
    outline_entries,
    slide_title,
)

__all__ = ["Browser", "BrowserError", "DeckSource", "OutlineEntry", "PdfJob", "PdfMetadata",
           "PdfPrinter", "PdfResult", "SlideMeasure", "SlideSource", "Tab", "build_pdfs",
           "find_chromium", "install_hint", "job_for_deck", "outline_entries", "slide_title"]
