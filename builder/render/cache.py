"""`sheets build`'s slide cache: each slide's HTML kept on disk between builds, keyed by
everything that decides it, so that a rebuild renders (and typesets) only the slides
that changed."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import marshal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.atomic import atomic_path
from builder.marp import NOT_SLIDE_LOOK, Deck, Slide
from builder.model import Diagnostic, SourceLoc
from builder.render.headings import heading_slugs
from builder.render.state import Badge
from builder.render.typeset import Glyphs
from builder.render.version import file_state
from builder.resources import KeptReads, sealed, unsealed

# Slide fields that do not decide its HTML: the tokens and what is read from them come
# from `source` (and the directives), and lines only move the warnings, which are kept
# relative to the slide.
_NOT_SLIDE_LOOK = NOT_SLIDE_LOOK | {"notes"}  # presenter notes: not on a printed page
_GLOBAL_KEYS = ("directives", "math", "page_total", "heading_divider")


@dataclass(frozen=True, slots=True)
class CachedSlide:
    """A slide's rendering from the last build."""

    html: str
    warnings: tuple[tuple[int, str], ...]
    """(line relative to the slide's first line, message)."""
    has_math: bool
    images: tuple[str, ...] = ()
    """The image files its HTML inlines (or says are missing)."""
    glyphs: Glyphs | None = None
    """What its math needs of MathJax's CSS (None without math)."""

    def diagnostics(self, slide: Slide) -> Iterable[Diagnostic]:
        """Its warnings, at their lines in `slide` as it is now."""
        for offset, message in self.warnings:
            yield Diagnostic(SourceLoc(slide.loc.path, slide.loc.line + offset), message)


class SlideCache:
    """The slides of the last build of one sheet, by key: a file per sheet under
    `cache_dir`, rewritten (atomically) with just the current slides after each build,
    so it does not grow with edits. Marshalled, not JSON: a big sheet's HTML is some
    megabytes, which marshal reads and writes as they are, in a few milliseconds (JSON
    took a tenth of a second each way), sealed with the user's key (`resources.sealed`):
    marshal is not meant for data from anyone else, such as a cloned `.cache/`.

    A slide's key covers its fields (source, directives, page…), the deck's global
    directives, the theme (`look_key`: size and padding come from it), its badges, the
    counts its heading ids continue from, the sheet's directory (images) and
    `code_version()`. Its HTML holds the images it uses as `data:` URLs: their files'
    states are stored with it and checked on use."""

    def __init__(self, cache_dir: Path, deck: Deck, look_key: str,
                 badges: Mapping[int, list[Badge]]) -> None:
        self.path = self.file(cache_dir, deck)
        self.deck = deck
        self.badges = badges
        common = repr((look_key, str(deck.path.absolute().parent),
                       [slide.index for slide in deck.slides],
                       *(getattr(deck, key) for key in _GLOBAL_KEYS)))
        self.common = hashlib.blake2b(common.encode(), digest_size=16).hexdigest()
        self.keys: dict[int, str] = {}
        self.entries: dict[str, dict[str, Any]] = {}
        self.changed = False

    @staticmethod
    def file(cache_dir: Path, deck: Deck) -> Path:
        """Where the sheet's slides are kept."""
        name = hashlib.blake2b(str(deck.path.absolute()).encode(), digest_size=16)
        return cache_dir / f"slides-{name.hexdigest()}.marshal"

    def lookup(self) -> list[CachedSlide | None]:
        """Per slide: its cached rendering, or None."""
        old: dict[str, dict[str, Any]] = {}
        stored = _stored(self.path)
        if isinstance(stored, tuple) and len(stored) == 2 and stored[0] == self.common \
                and isinstance(stored[1], dict):
            old = stored[1]
        slugs: dict[str, int] = {str(slide.index + 1): 0 for slide in self.deck.slides}
        hits: list[CachedSlide | None] = []
        for slide in self.deck.slides:
            taken = heading_slugs(slide)
            key = hashlib.blake2b(repr((
                self.common,
                [(f.name, getattr(slide, f.name)) for f in dataclasses.fields(slide)
                 if f.name not in _NOT_SLIDE_LOOK],
                self.badges.get(slide.index, ()),
                [slugs.get(slug) for slug in taken],
            )).encode(), digest_size=20).hexdigest()
            for slug in taken:
                count = slugs.get(slug)
                slugs[slug] = 0 if count is None else count + 1
            self.keys[slide.index] = key
            entry = old.get(key)
            hit = None
            if isinstance(entry, dict) and all(
                    file_state(Path(path)) == state
                    for path, state in entry.get("images", {}).items()):
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    glyphs = entry["glyphs"]
                    hit = CachedSlide(str(entry["html"]),
                               tuple((int(line), str(message))
                                     for line, message in entry["warnings"]),
                               bool(entry["math"]), tuple(entry["images"]),
                               glyphs and Glyphs(frozenset(glyphs[0]), frozenset(glyphs[1]),
                                                 bool(glyphs[2])))
                    self.entries[key] = entry
            self.changed = self.changed or hit is None
            hits.append(hit)
        self.changed = self.changed or len(old) != len(self.entries)
        return hits

    def add(self, slide: Slide, html_text: str, found: Sequence[Diagnostic],
            images: Mapping[str, str], glyphs: Glyphs | None) -> None:
        """Keep a slide rendered: its HTML, warnings, images and math's `glyphs`."""
        self.entries[self.keys[slide.index]] = {
            "html": html_text, "math": glyphs is not None, "images": dict(images),
            "warnings": [(d.loc.line - slide.loc.line, d.message) for d in found],
            "glyphs": glyphs and [sorted(glyphs.chars), sorted(glyphs.variants),
                                  glyphs.stretchy],
        }

    def save(self) -> None:
        if not self.changed:
            return
        data = sealed(marshal.dumps((self.common, self.entries)))
        if data is None:
            return
        with contextlib.suppress(OSError), atomic_path(self.path) as temporary:
            temporary.write_bytes(data)  # a read-only or full disk only costs speed
        _SLIDES.keep(self.path, (self.common, self.entries))


def _stored(path: Path) -> Any:
    """What the file of a sheet's slides holds, unmarshalled (None when it cannot be
    read): read once per process while the file stays as it was, so that a daemon's
    next build of the sheet does not read and unseal its megabytes again."""
    try:
        return _SLIDES.read(path, _unmarshalled)
    except OSError:
        return None


def _unmarshalled(path: Path) -> Any:
    try:
        data = unsealed(path.read_bytes())
        return marshal.loads(data) if data is not None else None
    except (OSError, ValueError, EOFError, TypeError):
        return None


_SLIDES: KeptReads[Any] = KeptReads(4)
