"""Metadata and outline: what pikepdf adds to the PDF Chromium printed (the title,
author, subject and language from the front matter; one bookmark per titled slide,
nested by heading level), before the file is written atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from builder.atomic import atomic_path
from builder.pdf.jobs import OutlineEntry, PdfJob

if TYPE_CHECKING:  # pikepdf is imported where it is used: Chromium starts before it loads
    import pikepdf


def finish(pdf: pikepdf.Pdf, job: PdfJob) -> int:
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
        item = pikepdf.OutlineItem(entry.title, entry.page, "Fit") if entry.top is None \
            else pikepdf.OutlineItem(entry.title, entry.page, "XYZ", top=entry.top)
        while stack and stack[-1][0] >= entry.level:
            stack.pop()
        (stack[-1][1].children if stack else roots).append(item)
        stack.append((entry.level, item))
    return roots


def _write_atomically(pdf: pikepdf.Pdf, output: Path) -> None:
    """Saved with object streams (PDF 1.5): Chromium writes each glyph of its Type 3
    fonts as small objects, which then compress together: a smaller file, saved faster."""
    import pikepdf

    with atomic_path(output) as temporary:
        pdf.save(temporary, object_stream_mode=pikepdf.ObjectStreamMode.generate)
