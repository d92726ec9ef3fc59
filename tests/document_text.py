"""What of a sheet's prose and code a reader finds in its PDF: the sheet's text as the
parser reads it (headings, paragraphs, lists, tables, code; not the TeX of formulas,
which prints as glyphs) looked up in `pdftotext`'s text of the PDF, both without
white space (line breaks fall elsewhere on paper) and with the running head and page
numbers of each page left out."""

from __future__ import annotations

import re
import subprocess
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path

from markdown_it.token import Token

from builder.marp import parse_file

_SPACE = re.compile(r"\s+")
_PAGE_NUMBER = re.compile(r"^\s*\d+\s*/\s*\d+\s*$")


def normalized(text: str) -> str:
    """NFKC, without white space."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text))


def sheet_segments(sheet: Path) -> list[str]:
    """The sheet's text, one segment per line of prose or code (a formula or a picture
    in a line ends a segment), normalized (empty ones left out)."""
    deck = parse_file(sheet)
    segments = [normalized(text) for slide in deck.slides for text in _texts(slide.tokens)]
    return [segment for segment in segments if segment]


def _texts(tokens: Sequence[Token]) -> Iterator[str]:
    for token in tokens:
        if token.type in ("fence", "code_block") and token.info.strip() != "mermaid":
            yield from token.content.splitlines()
        elif token.type == "inline" and token.children:
            line: list[str] = []
            for child in token.children:
                if child.type in ("text", "code_inline"):
                    line.append(child.content)
                elif child.type in ("softbreak", "hardbreak", "math_inline", "image"):
                    yield "".join(line)
                    line = []
            yield "".join(line)


def pdf_text(pdf: Path) -> str:
    """The PDF's text, normalized, without each page's running head (its first line when
    every page starts with the same one) and page number ("n / N")."""
    raw = subprocess.run(["pdftotext", "-raw", "-enc", "UTF-8", str(pdf), "-"], capture_output=True,
                         text=True, check=True).stdout
    pages = [[line for line in page.splitlines() if line.strip()]
             for page in raw.split("\f") if page.strip()]
    heads = {page[0] for page in pages if page}
    running_head = heads.pop() if len(heads) == 1 and len(pages) > 1 else None
    kept: list[str] = []
    for page in pages:
        lines = page[1:] if running_head is not None and page[0] == running_head else page
        kept.extend(line for line in lines if not _PAGE_NUMBER.match(line))
    return normalized("".join(kept))


def found_share(segments: Sequence[str], text: str) -> tuple[float, list[str]]:
    """The share of the segments' characters found in `text` (each segment whole), and
    the segments not found."""
    missing = [segment for segment in segments if segment not in text]
    total = sum(map(len, segments))
    return (1 - sum(map(len, missing)) / total if total else 1.0), missing
