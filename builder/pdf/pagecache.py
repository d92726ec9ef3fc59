"""The pdf stage's page cache: the last PDF built for each output, with a key per page,
so that a rebuild prints only the slides whose key changed and copies the other pages."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from builder.atomic import write_text_atomically
from builder.pdf.jobs import PdfJob
from builder.pdf.measure import SlideMeasure
from builder.pdf.parts import page_of, split_document

if TYPE_CHECKING:  # pikepdf is imported where it is used: Chromium starts before it loads
    import pikepdf


# Part of every cache key: bump it when printing or measuring changes.
_CACHE_FORMAT = "sheets-pdf-2"
# Local files a page uses (images, stylesheets): their state is part of the cache key.
# One pattern per form, each starting with a literal: the regex engine then skips ahead
# to candidates, where one alternation would be tried at every position of a 4 MB page.
_URLS = (
    re.compile(r"""src\s*=\s*["']([^"'#]+)"""),
    re.compile(r"""href\s*=\s*["']([^"'#]+)"""),
    re.compile(r"""url\(\s*["']?([^"')]+)"""),
)


@dataclass(slots=True)
class Plan:
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
    slides: list[SlideMeasure | None] = field(default_factory=list)
    """Per slide: its measurements from the last build (None for changed slides)."""
    base: pikepdf.Pdf | None = None

    def close(self) -> None:
        if self.base is not None:
            self.base.close()


class PageCache:
    """The last PDF built for each output, with a key per page: a rebuild prints only
    the slides whose key changed and copies the other pages."""

    def __init__(self, root: Path, chromium: Path) -> None:
        self.root = root
        stat = chromium.stat()
        self.identity = f"{_CACHE_FORMAT}\0{chromium.resolve()}\0{stat.st_mtime_ns}\0{stat.st_size}"

    def _manifest(self, output: Path) -> Path:
        name = hashlib.sha256(str(output.resolve()).encode()).hexdigest()[:32]
        return self.root / f"{name}.json"

    def plan(self, job: PdfJob) -> Plan | None:
        """What to print: None when the page cannot be cached (it is not made of
        `job.slides`); all of it when there is no last build (its keys left to `keys`)
        or when most slides changed; else the changed slides."""
        split = split_document(job.document, job.slides)
        if split is None:
            return None
        try:
            manifest = json.loads(self._manifest(job.output).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return Plan(None, None)
        import pikepdf

        keys = self.keys(job, split)
        prefix, suffix = split
        try:
            where = {key: page for page, key in enumerate(manifest["keys"])}
            measured = [SlideMeasure.from_json(slide) for slide in manifest["slides"]]
            if len(measured) != len(manifest["keys"]):
                return Plan(keys, None)
            base = pikepdf.open(self.root / manifest["pdf"])
        except (OSError, KeyError, TypeError, ValueError, pikepdf.PdfError):
            return Plan(keys, None)
        pages = [where.get(key, -1) for key in keys]
        changed = [index for index, page in enumerate(pages) if page < 0]
        if len(changed) * 2 > len(keys) or len(measured) != len(base.pages):
            base.close()  # mostly new: one print of the whole page is faster
            return Plan(keys, None)
        return Plan(
            keys, changed,
            changed_document=page_of(prefix, [job.slides[index] for index in changed], suffix),
            pages=pages,
            slides=[measured[page] if page >= 0 else None for page in pages],
            base=base,
        )

    def has_base(self, output: Path) -> bool:
        """Whether a last build of `output` is kept (a rebuild may patch it)."""
        return self._manifest(output).is_file()

    def keys(self, job: PdfJob, split: tuple[str, str] | None = None) -> tuple[str, ...]:
        """One key per slide (`job.slides`; `split`: the page around them)."""
        prefix, suffix = split or split_document(job.document, job.slides) or ("", "")
        common = _digest(self.identity, prefix, suffix, _file_states(prefix + suffix, job))
        return tuple(_digest(common, fragment, _file_states(fragment, job))
                     for fragment in job.slides)

    def store(self, job: PdfJob, keys: Sequence[str], slides: Sequence[SlideMeasure]) -> None:
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
        manifest = {"pdf": pdf_name, "keys": list(keys),
                    "slides": [slide.to_json() for slide in slides]}
        write_text_atomically(manifest_path, json.dumps(manifest))
        if old and old != pdf_name:
            (self.root / old).unlink(missing_ok=True)


def _file_states(html: str, job: PdfJob) -> str:
    """The local files that `html` refers to, with their size and time (or absence)."""
    states = []
    for match in (match for pattern in _URLS for match in pattern.finditer(html)):
        url = match.group(1).strip()
        if not url or (":" in url.split("/", 1)[0] and not url.startswith("file:")):
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


