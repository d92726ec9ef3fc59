"""The pages that print one document, and the PDF parts they give back joined into one.

A big page is printed in parts, one per core, each a page of consecutive slides loaded,
laid out and printed by a renderer process of its own; a page's diagrams are drawn
aside, by a page of only their slides. A rebuild prints a page of only the slides that
changed (`page_of`). The parts' PDFs are joined in order (`joined`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from builder.render import has_mermaid
from builder.resources import JAVASCRIPT

if TYPE_CHECKING:  # pikepdf is imported where it is used: Chromium starts before it loads
    import pikepdf


# A slide with a diagram (render.py draws ```mermaid blocks as these), and the page's
# scripts that draw them.


# The diagrams' page draws them with mermaid's ES module build, beside the library that
# render.py puts in the page (the same release, `JAVASCRIPT`): mermaid then imports the
# code of the diagram kinds the page has, where the library is 3.5 MB of script for the
# page's main thread to compile: the same SVG, drawn sooner. As render.py's scripts do,
# it draws every diagram of the page; the promise is what `_DRAWN_DIAGRAMS` waits for
# (the fitting script's, if any, too).
_MERMAID_MODULE = JAVASCRIPT.mermaid_module
_DRAW_DIAGRAMS = f"""<script type="module">
import mermaid from {json.dumps(_MERMAID_MODULE.as_uri())};
mermaid.initialize({{ startOnLoad: false }});
const drawn = mermaid.run({{ querySelector: "div.marpit .mermaid" }}).catch(
  (error) => console.error("mermaid:", error));
window.sheetsReady = Promise.all([window.sheetsReady, drawn]);
</script>
"""


def page_of(prefix: str, fragments: Sequence[str], suffix: str) -> str:
    """A page with only some of the slides. When none of them has a diagram, the
    diagram library is left out: parsing its 3.5 MB of script is most of the time
    Chromium spends loading a page of one or two slides."""
    if not any(map(has_mermaid, fragments)):
        prefix, suffix = _without_diagram_scripts(prefix), _without_diagram_scripts(suffix)
    return prefix + "".join(fragments) + suffix


def _without_diagram_scripts(html: str) -> str:
    """`html` without the `<script data-diagrams …>` elements render.py writes (a loop of
    `find`s: a non-greedy regex is slow to cross an inlined library's 3.5 MB)."""
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


def split_document(document: str, fragments: Sequence[str]) -> tuple[str, str] | None:
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


# How a page is split into parts printed side by side: at most one per core (and
# `_MAX_PARTS`), each with at least `_PART_MIN_CHARS` of slide HTML. Below that a part's
# renderer process (slow to start) and its copy of the fonts cost more than sharing the
# work saves: seed 001 has 539 KB in 67 slides, a sheet of sheets/ ~40 KB in 4.
_MAX_PARTS = 4
_PART_MIN_CHARS = 150_000


def part_count(slides: int, chars: int) -> int:
    """Parts to print `slides` slides of `chars` characters of HTML in."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    return max(1, min(cores, _MAX_PARTS, chars // _PART_MIN_CHARS, slides))


@dataclass(frozen=True, slots=True)
class PrintPages:
    """What `PdfPrinter` loads to print one document."""

    parts: tuple[str, ...]
    """Pages of consecutive slides, in order, together all of them (without the diagram
    library when `diagrams` draws their diagrams)."""
    diagrams: str | None = None
    """A page of only the slides with diagrams (and what draws them), or None."""
    prefix: str = ""
    """The document's head and all before its slides (when `groups`)."""
    groups: Sequence[Sequence[str]] = ()
    """The parts' slides: `full_part` is made of them, `prefix` and `suffix` when a part
    must draw its own diagrams (rarely: not made otherwise)."""
    suffix: str = ""
    """All after the slides, the diagram library's scripts included (when `groups`)."""

    def full_part(self, index: int) -> str:
        """Part `index` with the diagram library, to draw its own diagrams."""
        if not self.groups:
            return self.parts[index]
        return self.prefix + "".join(self.groups[index]) + self.suffix


def pages_to_print(document: str, fragments: Sequence[str], parts: int) -> PrintPages:
    """The pages that print `document`, whose slides are `fragments`: `parts` of them
    when it can be split (see `splittable`), with the diagrams drawn aside when it has
    any (and the library that draws them: a page not made by render.py has none)."""
    split = split_document(document, fragments)
    if split is None:
        return PrintPages((document,))
    prefix, suffix = split
    groups = balanced(fragments, parts if splittable(prefix, fragments) else 1)
    with_diagrams = [fragment for fragment in fragments if has_mermaid(fragment)]
    plain_prefix, plain_suffix = _without_diagram_scripts(prefix), _without_diagram_scripts(suffix)
    plain = tuple(plain_prefix + "".join(group) + plain_suffix for group in groups)
    if (plain_prefix, plain_suffix) == (prefix, suffix):
        return PrintPages(plain)  # no library: nothing to strip, nothing to draw aside
    if not with_diagrams:
        return PrintPages(plain, None, prefix, groups, suffix)
    if not _MERMAID_MODULE.is_file():
        return PrintPages(plain, page_of(prefix, with_diagrams, suffix), prefix, groups, suffix)
    return PrintPages(plain,
                      plain_prefix + "".join(with_diagrams) + _DRAW_DIAGRAMS + plain_suffix,
                      prefix, groups, suffix)


def splittable(prefix: str, fragments: Sequence[str]) -> bool:
    """Whether slides printed apart print as they would together: not when a link goes
    to an anchor in the page (Chromium links it within the one PDF it writes), nor when
    CSS counters may run from slide to slide (the head's or a slide's scoped style)."""
    return "counter-" not in prefix and not any(
        'href="#' in fragment or "counter-" in fragment for fragment in fragments)


def balanced(fragments: Sequence[str], parts: int) -> list[list[str]]:
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


def with_base(document: str, base_dir: Path | None) -> str:
    """The document with a `<base>` for its relative URLs, unless it already has one."""
    if base_dir is None or "<base " in document[:20000].lower():
        return document
    base = f'<base href="{base_dir.resolve().as_uri()}/">'
    head = document.find("<head>")
    if head < 0:
        return base + document
    return document[: head + 6] + base + document[head + 6:]


def read_in(data: bytes) -> pikepdf.Pdf:
    """A printed part opened with all its objects read: copying them into another part
    then takes less time than reading them on demand while copying."""
    import pikepdf

    pdf = pikepdf.open(io.BytesIO(data))
    for _ in pdf.objects:
        pass
    return pdf


@contextlib.contextmanager
def joined(parts: Sequence[bytes | pikepdf.Pdf]) -> Iterator[pikepdf.Pdf]:
    """The printed parts as one PDF: the last, with the others' pages put in before its
    own. The last part is the one printed last as a rule, the others were read while it
    printed (`read_in`): what is left once it is in is copying them."""
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


