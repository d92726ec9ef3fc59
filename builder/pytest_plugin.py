"""pytest_plugin: `pytest sheets/` checks the sheets' cards (docs/format.md §2, "pytest").

Registered through the `pytest11` entry point, so installing `sheets` is enough. Each
checked card of a collected sheet is one test item, `sheets/nn.md::Card title`; it runs
the card's derivation chains and linked snippets (builder/check.py, snippets in the
builder/worker.py pool), and a failure is reported at the sheet's `path:line` with the
snippet's traceback trimmed to the user's code. A card that cannot be checked (its LaTeX
does not compile) is skipped with the reason; a `nocheck:` card is not collected. A card
that passes with some of its steps not checked passes, and the terminal summary lists it
with how much was checked (with `-v`, each step not checked and why), as pytest lists
skips.

Which Markdown files are sheets: pytest sees every `.md` under the paths it walks, and a
project's own test fixtures or README are not sheets. So a `.md` is collected only when

- it is named on the command line (`pytest sheets/softmax.md`; `.txt` sheets too), or
- it lies under a directory named on the command line that is not one of the project's
  `testpaths` (`pytest sheets/`, `pytest notes/`; but `pytest tests` leaves
  `tests/fixtures/*.md` alone), or
- it lies under a directory listed in the `sheets_paths` ini option (default: `sheets`),
  for a bare `pytest` in a notes repository.

Nothing of the builder is imported until a sheet is collected, so that a broken or
unfinished stage can never break a `pytest` run that has no sheets in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from builder.model import Card, CardResult, CheckResult
    from builder.runner import SnippetOutcome, SnippetPool

_POOL = pytest.StashKey["SnippetPool | None"]()
_IN_PART = pytest.StashKey[list[tuple[str, list[str]]]]()
"""The cards that passed in part: `path:line: title: 2 of 5 steps; 3 not checked`, and
each step not checked (`path:line: step 1: why`)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sheets", "formula sheets (sheets check as tests)")
    group.addoption("--sheets-snippets", metavar="DIR", type=Path, default=None,
                    help="snippets directory for every sheet (default: the nearest "
                         "snippets/ beside the sheet or above it)")
    group.addoption("--sheets-timeout", metavar="SECONDS", type=float, default=10.0,
                    help="time limit of one snippet call (default 10)")
    parser.addini("sheets_paths", "directories whose .md files are sheets to check, "
                  "also when not named on the command line", type="args",
                  default=["sheets"])


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> SheetFile | None:
    if file_path.suffix not in (".md", ".txt"):
        return None
    if not _is_sheet(file_path, parent.config):
        return None
    sheet: SheetFile = SheetFile.from_parent(parent, path=file_path)
    return sheet


def _is_sheet(path: Path, config: pytest.Config) -> bool:
    base = config.invocation_params.dir
    resolved = path.resolve()
    named = [(base / arg.split("::", 1)[0]).resolve() for arg in config.args]
    if resolved in named:
        return True
    if path.suffix != ".md":
        return False
    if config.args_source == pytest.Config.ArgsSource.ARGS:
        own_tests = [(config.rootpath / entry).resolve()
                     for entry in config.getini("testpaths")]
        for directory in named:
            if directory.is_dir() and resolved.is_relative_to(directory) and not any(
                    directory.is_relative_to(tests) for tests in own_tests):
                return True
    return any(resolved.is_relative_to((config.rootpath / entry).resolve())
               for entry in config.getini("sheets_paths"))


def _display_path(path: Path, config: pytest.Config) -> Path:
    """The sheet as the user would name it: relative to where pytest was started."""
    try:
        return path.relative_to(config.invocation_params.dir)
    except ValueError:
        return path


class SheetFile(pytest.File):
    """A sheet: one item per checked card."""

    def collect(self) -> Iterator[pytest.Item]:
        from builder.cards import find_cards
        from builder.marp import parse_file

        shown = _display_path(self.path, self.config)
        # Cards carry the path they were parsed from; parse by the short name when it
        # names the same file, so reports read `sheets/nn.md:42`.
        source = shown if (Path.cwd() / shown).resolve() == self.path.resolve() else self.path
        deck = parse_file(source)
        titles: dict[str, int] = {}
        for card in find_cards(deck):
            titles[card.title] = titles.get(card.title, 0) + 1
        for card in find_cards(deck):
            if card.nocheck is not None:
                continue
            name = card.title or f"line {card.loc.line}"
            if titles.get(card.title, 0) > 1:
                name = f"{name} (line {card.loc.line})"
            yield CardItem.from_parent(self, name=name.replace("::", ": :"), card=card)

    def repr_failure(  # type: ignore[override]
            self, excinfo: pytest.ExceptionInfo[BaseException]) -> str | Any:
        from builder.model import BuildError

        if isinstance(excinfo.value, BuildError):
            return str(excinfo.value)  # the user's sheet is wrong: no traceback
        return super().repr_failure(excinfo)


class CardFailed(Exception):
    """A card failed or errored: what to report, at the sheet's line."""

    def __init__(self, result: CardResult, outcomes: dict[str, SnippetOutcome]) -> None:
        super().__init__(result.message)
        self.result = result
        self.outcomes = outcomes


class _RecordingPool:
    """Hands calls to the session's pool and keeps each snippet's full outcome (trimmed
    traceback, output), which `check_card`'s one-line `CheckResult` has no room for."""

    def __init__(self, pool: SnippetPool) -> None:
        self.pool = pool
        self.outcomes: dict[str, SnippetOutcome] = {}

    def run(self, card: Card, target: str, snippets_dir: Path, timeout: float) -> CheckResult:
        from builder.model import CheckResult

        outcome = self.pool.run_outcome(card, target, snippets_dir, timeout)
        self.outcomes[target] = outcome
        return CheckResult("snippet", outcome.status, card.loc, outcome.message)


class CardItem(pytest.Item):
    """One card of a sheet: its derivation steps and its linked snippets."""

    def __init__(self, *, card: Card, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.card = card

    def runtest(self) -> None:
        from builder.check import check_card, find_snippets_dir

        option = self.config.getoption("sheets_snippets")
        snippets_dir = option if option is not None else find_snippets_dir(self.path)
        recorder = None
        if self.card.checks and snippets_dir is not None:
            recorder = _RecordingPool(_session_pool(self.config))
        result = check_card(self.card, snippets_dir=snippets_dir,
                            timeout=self.config.getoption("sheets_timeout"), pool=recorder)
        if result.status == "pass":
            if result.in_part:
                self._note_in_part(result)
            return
        if result.status == "unchecked":
            pytest.skip(f"unchecked: {result.message}")
        raise CardFailed(result, recorder.outcomes if recorder else {})

    def _note_in_part(self, result: CardResult) -> None:
        """Keep the pass in part for the terminal summary (`pytest_terminal_summary`)."""
        from builder.check import how_much_checked, unchecked_steps

        shown = _display_path(self.path, self.config)
        title = f"{self.card.title}: " if self.card.title else ""
        steps = [f"{shown}:{loc.line}: {why}" for loc, why in unchecked_steps(result)]
        self.config.stash.setdefault(_IN_PART, []).append(
            (f"{shown}:{self.card.loc.line}: {title}{how_much_checked(result)}", steps))

    def repr_failure(
            self, excinfo: pytest.ExceptionInfo[BaseException],
            style: Any = None) -> str | Any:
        if not isinstance(excinfo.value, CardFailed):
            return super().repr_failure(excinfo)  # our bug: the whole traceback
        result = excinfo.value.result
        title = f"{self.card.title}: " if self.card.title else ""
        lines = [f"{result.loc}: {title}{result.message}"]
        failing = [check for check in result.checks if check.status in ("fail", "error")]
        for check in failing:
            if len(failing) > 1:
                lines.append(f"  {check.loc}: {check.kind} {check.status}: {check.message}")
            target = check.message.split(":", 1)[0].split(" ", 1)[0]
            outcome = excinfo.value.outcomes.get(target) if check.kind == "snippet" else None
            if outcome is not None and outcome.traceback:
                lines += ["", *("    " + line for line in outcome.traceback.rstrip().splitlines())]
            if outcome is not None and outcome.output.strip():
                lines += ["", "    what the snippet printed:",
                          *("    | " + line for line in outcome.output.rstrip().splitlines())]
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Path, int, str]:
        shown = _display_path(self.path, self.config)
        return self.path, self.card.loc.line - 1, f"{shown}:{self.card.loc.line}: {self.name}"


def _session_pool(config: pytest.Config) -> SnippetPool:
    from builder.runner import SnippetPool

    pool = config.stash.get(_POOL, None)
    if pool is None:
        pool = SnippetPool()
        config.stash[_POOL] = pool
    return pool


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    """The cards that passed with some steps not checked, as pytest lists skips: a pass
    that covers part of a card must not read as one that covers all of it."""
    found = config.stash.get(_IN_PART, [])
    if not found:
        return
    terminalreporter.write_sep("=", f"{len(found)} sheet card{'' if len(found) == 1 else 's'}"
                                    f" passed in part")
    for line, steps in found:
        terminalreporter.write_line(f"PASSED IN PART {line}")
        if config.get_verbosity() > 0:
            for step in steps:
                terminalreporter.write_line(f"  {step}")


def pytest_unconfigure(config: pytest.Config) -> None:
    pool = config.stash.get(_POOL, None)
    if pool is not None:
        pool.close()
        config.stash[_POOL] = None


__all__ = ["CardFailed", "CardItem", "SheetFile"]
