"""The plain data that flows between stages, and the one error type users can cause.

Every stage takes and returns frozen dataclasses from here (or from its own module when
only it and its direct consumer use them); nothing downstream of `parse` sees Markdown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True, slots=True, order=True)
class SourceLoc:
    """A place in a user's sheet."""

    path: Path
    line: int
    """1-based, as editors show it."""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


class BuildError(Exception):
    """Bad input a user can fix: printed as `path:line: message`, never with a traceback."""

    def __init__(self, loc: SourceLoc | None, message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message

    def __str__(self) -> str:
        return f"{self.loc}: {self.message}" if self.loc else self.message


Severity = Literal["warning", "error"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A problem found while building that does not stop the build (a missing image, an
    overflowing slide, an unknown directive)."""

    loc: SourceLoc
    message: str
    severity: Severity = "warning"

    def __str__(self) -> str:
        return f"{self.loc}: {self.severity}: {self.message}"


@dataclass(frozen=True, slots=True)
class Equation:
    """One display equation (`$$…$$`) as written in the sheet."""

    tex: str
    """The LaTeX between the delimiters, untouched (newlines kept, so row lines can be
    counted from `loc`)."""
    loc: SourceLoc
    """The line on which `tex` starts (the line of the opening `$$`)."""


@dataclass(frozen=True, slots=True)
class Card:
    """The innermost heading section that holds display math (docs/format.md §1)."""

    title: str
    """The heading's text; empty for math before any heading on a slide."""
    equations: tuple[Equation, ...]
    checks: tuple[str, ...]
    """`module.function` names from `<!-- check: … -->`, in order."""
    assume: tuple[str, ...]
    """Conditions from `<!-- assume: … -->`, one string each (`0 < p < 1`)."""
    nocheck: str | None
    """The reason given by `<!-- nocheck: … -->`, if any."""
    declarations: tuple[str, ...]
    """Bodies of symbol declaration comments (see README: `<!-- let: … -->`)."""
    code: tuple[str, ...]
    """The card's fenced code blocks, as strings."""
    loc: SourceLoc
    """The heading's line (or the first equation's, for an untitled card)."""
    slide: int
    """0-based index of the slide the card is on."""
    mappings: tuple[str, ...] = ()
    """Bodies of `<!-- map: h = H_in, f_h = F -->`: how the card's symbols are the
    symbols of the library entry it links (`check: std.NAME`)."""
    annotation_lines: tuple[tuple[str, int], ...] = ()
    """`(key, line)` of each annotation in the card's comments, in order (`("assume", 12)`):
    where a warning about one points."""
    context: tuple[Equation, ...] = ()
    """Math earlier in the sheet (display or inline, `Let $\\alpha_t = 1 - \\beta_t$.`)
    that may define a name the card uses: the latest to set each such name, in document
    order. A step that holds only given one of them is checked with it."""


STD_PREFIX = "std."
"""How a `check:` names an entry of the formula library (`check: std.softmax`) rather
than a snippet (`check: module.function`)."""

NEAR_MISS = "near miss"
"""How a library check's message starts when a formula is close to a standard one that
nothing in its card names (reported as a warning, not a verdict)."""

Status = Literal["pass", "fail", "error", "unchecked"]
CheckKind = Literal["derivation", "snippet", "library"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check of a card: a derivation step or a linked snippet."""

    kind: CheckKind
    status: Status
    loc: SourceLoc
    """For a step, the line of its right-hand side; for a snippet, the card's line (or
    the line of an equation the snippet used that does not compile)."""
    message: str
    files_read: tuple[Path, ...] = ()
    """Files besides the sheet that decided the result: for a snippet, its module and
    every module of the snippets folder it imported (the check cache re-checks the card
    when one of them changes)."""
    standard: str = ""
    """For a library check, the entry it compared with (`std.conv_output_size`)."""
    renaming: tuple[tuple[str, str], ...] = ()
    """For a library check, how the card's symbols are the entry's: (card's, entry's)."""


@dataclass(frozen=True, slots=True)
class CardResult:
    """A card's verdict: the worst of its checks (error > fail > pass), or `unchecked`
    with the reason when nothing could be checked. `checks` lists every step, those not
    checked as `unchecked` with why, so that the verdict says how much it covers."""

    card: Card
    status: Status
    message: str
    checks: tuple[CheckResult, ...]

    @property
    def steps(self) -> int:
        """How many checks the card has: every `=` of its derivations (those that could not
        be checked too) and every linked snippet."""
        return len(self.checks)

    @property
    def checked(self) -> int:
        """How many of its checks came to a verdict (pass, fail or error)."""
        return sum(check.status != "unchecked" for check in self.checks)

    @property
    def in_part(self) -> bool:
        """A pass that leaves some of the card's checks unchecked: `pass (2 of 5 steps;
        3 not checked)`, not a card verified whole."""
        return self.status == "pass" and self.checked < self.steps

    @property
    def loc(self) -> SourceLoc:
        """Where to point a reader: the first check with the card's status, else the card."""
        for check in self.checks:
            if check.status == self.status and self.status in ("fail", "error"):
                return check.loc
        return self.card.loc
