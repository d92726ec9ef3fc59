"""The sheet being parsed: its text, its lines, and the warnings found so far (each step
of `builder.marp.parse` reads the one and adds to the other)."""

from __future__ import annotations

import re
from pathlib import Path

from builder.model import Diagnostic, SourceLoc

__all__ = ["SheetSource"]


class SheetSource:
    """One parse of one text. Lines are 0-based here, 1-based in every `SourceLoc`."""

    def __init__(self, text: str, path: Path) -> None:
        self.text = text.replace("\r\n", "\n").replace("\r", "\n")
        self.path = path
        self.lines = self.text.split("\n")
        self.diagnostics: list[Diagnostic] = []

    def loc(self, line0: int) -> SourceLoc:
        return SourceLoc(self.path, line0 + 1)

    def warn(self, line0: int, message: str) -> None:
        self.diagnostics.append(Diagnostic(self.loc(line0), message))

    def key_line(self, first: int, end: int, key: str) -> int:
        """The line in `first`..`end` where YAML sets `key` (for a message at the key
        rather than at the start of its comment); `first` when none does."""
        for line in range(first, min(end, len(self.lines))):
            if re.match(rf"\s*['\"]?{re.escape(key)}['\"]?\s*:", self.lines[line]):
                return line
        return first
