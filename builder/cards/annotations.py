"""Annotations: the comments that tell the checker what to do with a card
(`<!-- check: probability.softmax -->`, `assume:`, `nocheck:`, `let:`, `map:`; the keys are
`builder.marp.ANNOTATIONS`, which the parser also knows so as not to call them unknown
directives). A comment may hold several, one per line; a line without `key:` continues
the one before it."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from builder.marp import ANNOTATIONS, Comment

__all__ = ["Annotations", "annotation_entries", "misspelled_keys", "parse_annotations"]

_KEYS = tuple(sorted(ANNOTATIONS))
_ANNOTATION = re.compile(rf"^\s*({'|'.join(_KEYS)})\s*:(.*)$")
_KEY_LIKE = re.compile(r"^\s*([A-Za-z][\w-]*)\s*:")


@dataclass(frozen=True, slots=True)
class Annotations:
    """What a card's comments say, as `Card` holds it."""

    checks: tuple[str, ...]
    """`check:` targets, `module.function`, in order."""
    assume: tuple[str, ...]
    """`assume:` conditions, one per part (`0 < p < 1, x > 0` is two)."""
    nocheck: str | None
    """`nocheck:` reasons joined with `; ` ("" for a bare `nocheck:`); None without one."""
    declarations: tuple[str, ...]
    """`let:` values."""
    mappings: tuple[str, ...] = ()
    """`map:` values (`h = H_in, f_h = F`)."""


def parse_annotations(comments: Sequence[Comment]) -> Annotations:
    """The annotations of a card's comments."""
    checks: list[str] = []
    assume: list[str] = []
    nocheck: list[str] = []
    declarations: list[str] = []
    mappings: list[str] = []
    for comment in comments:
        for key, value in annotation_entries(comment.text):
            if key == "check":
                checks.extend(name.strip() for name in value.split(",") if name.strip())
            elif key == "assume":
                assume.extend(_split_top_level(value))
            elif key == "nocheck":
                nocheck.append(value)
            elif key == "map":
                mappings.append(value)
            else:
                declarations.append(value)
    reason = "; ".join(reason for reason in nocheck if reason) if nocheck else None
    return Annotations(tuple(checks), tuple(assume), reason, tuple(declarations),
                       tuple(mappings))


def annotation_entries(text: str) -> list[tuple[str, str]]:
    """`(key, value)` of each annotation of one comment body."""
    entries: list[tuple[str, str]] = []
    for line in text.splitlines():
        match = _ANNOTATION.match(line)
        if match:
            entries.append((match.group(1), match.group(2).strip()))
        elif entries:
            entries[-1] = (entries[-1][0], f"{entries[-1][1]}\n{line.strip()}".strip())
    return entries


def misspelled_keys(text: str) -> list[tuple[str, str]]:
    """`(word, key)` for each `word:` at the start of a comment's lines that is close to
    an annotation's key without being one (`chek`, `Assume`, `nochek`), and for a comment
    that is an annotation but for its colon (`assume x > 0`, `chek std.sigmoid`: silently
    ignored, it changed a verdict in a new-user trial); other comments (notes, Marp
    directives such as `_class:`) are nobody's business here."""
    found = []
    for line in text.splitlines():
        match = _KEY_LIKE.match(line)
        if match and (key := _close_key(match.group(1))) is not None:
            found.append((match.group(1), key))
    colonless = _COLONLESS.match(text)
    if colonless and not found and not annotation_entries(text):
        word, value = colonless.group(1), colonless.group(2)
        key = word.lower() if word.lower() in ANNOTATIONS else _close_key(word)
        if key is not None and _VALUE_LOOKS.get(key, _NEVER).search(value):
            found.append((word, key))
    return found


_COLONLESS = re.compile(r"^\s*([A-Za-z]+)\s+(\S.*?)\s*$", re.S)
"""A one-word start and the rest, as in `assume x > 0`."""
_VALUE_LOOKS = {
    "check": re.compile(r"^[\w.]+\.\w+(\s*,\s*[\w.]+\.\w+)*$"),
    "assume": re.compile(r"[<>=]|\\(?:le|ge|leq|geq|neq|in)\b"),
    "let": re.compile(r"\b(?:functions?|scalars?|vectors?|matri(?:x|ces)|ind(?:ex|ices))$"),
    "map": re.compile(r"^\w+\s*=\s*\w+"),
}
"""What the rest of such a comment looks like when it is that annotation's value (a
comment that says `check this later` is a note, not a `check:` without its colon)."""
_NEVER = re.compile(r"(?!)")


def _close_key(word: str) -> str | None:
    if word in ANNOTATIONS:
        return None
    close = difflib.get_close_matches(word.lower(), _KEYS, n=1, cutoff=0.75)
    return close[0] if close else None


def _split_top_level(text: str) -> list[str]:
    """`0 < p < 1, f(a, b) > 0` → two conditions: commas inside brackets do not split,
    nor LaTeX's thin space `\\,` (`\\int p(x) \\, dx = 1` is one condition)."""
    parts: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(depth - 1, 0)
        if char == "," and depth == 0 and not current.endswith("\\"):
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]
