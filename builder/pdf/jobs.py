"""What the pdf stage is given for one sheet, and what it gives back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from builder.model import Diagnostic, SourceLoc


@dataclass(frozen=True, slots=True)
class OutlineEntry:
    """One bookmark: a titled slide."""

    title: str
    level: int
    """The heading level of the slide's title (1 for `#`); deeper entries nest under the
    nearest shallower one before them."""
    page: int
    """0-based page (= slide) index."""
    destination: str = ""
    """In a document, the named destination of the heading's card (its page is known
    once printed: builder/pdf/flow.py)."""
    top: float | None = None
    """Where on its page the heading is (PDF points from the bottom), when known."""


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
    flowing: bool = False
    """A document (builder/pdf/flow.py): its slides flow over as many pages as they
    need, rather than one page each."""


@dataclass(frozen=True, slots=True)
class PdfResult:
    output: Path
    pages: int
    diagnostics: tuple[Diagnostic, ...]
    printed: int = 0
    """How many slides Chromium printed (the others came from the last build)."""
    written: bool = True
    """Whether `output` was written. It is not when the pages printed are not one per
    slide (an error in `diagnostics`): the last good PDF is kept."""


