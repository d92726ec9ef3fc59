"""Checking cards: each card's derivation (builder/check/plan.py, shared out among
processes by builder/check/parallel.py) and its linked snippets (run in the worker
pool, builder/runner/), through the cache when one is given; a card's verdict is the
worst of its checks."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from builder.check.cache import CheckCache
from builder.model import NEAR_MISS, STD_PREFIX, Card, CardResult, CheckResult

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from builder.check.plan import Derivation
    from builder.runner import SnippetPool

__all__ = ["SnippetRunner", "check_card", "check_cards", "find_snippets_dir",
           "keep_snippet_workers"]

_SEVERITY: dict[str, int] = {"unchecked": 0, "pass": 1, "fail": 2, "error": 3}
_SUBSTITUTION = "substitution, not checked"
"""How a step the card does not explain ends its message (builder/check/plan.py)."""


class SnippetRunner(Protocol):
    """What runs a card's linked snippet: `builder.runner.SnippetPool`, or a wrapper of
    one (the pytest plugin keeps each outcome's traceback)."""

    def run(self, card: Card, target: str, snippets_dir: Path, timeout: float
            ) -> CheckResult: ...


def find_snippets_dir(sheet: Path) -> Path | None:
    """The nearest `snippets/` in the sheet's directory or an ancestor (docs/format.md), as
    pytest finds `conftest.py`."""
    folder = sheet.absolute().parent
    for directory in (folder, *folder.parents):
        if (directory / "snippets").is_dir():
            return directory / "snippets"
    return None


def _snippets(card: Card) -> list[str]:
    """The card's `check:` targets that are snippets (`std.NAME` are library entries)."""
    return [target for target in card.checks if not target.startswith(STD_PREFIX)]


def _card_result(card: Card, checks: Sequence[CheckResult], reasons: Sequence[str],
                 library: tuple[CheckResult, ...] | None = None) -> CardResult:
    # The library (builder/library/) checks the entries the card links, and recognises
    # the standard formulas of a card nothing else could check (`library`: its checks,
    # when a child worked them out with the derivation).
    from builder.library import library_checks

    decided_here = any(check.status != "unchecked" for check in checks)
    failed = any(check.status in ("fail", "error") for check in checks)
    snippets = bool(_snippets(card))
    found = library if library is not None else library_checks(
        card, recognise=not decided_here, confirm=decided_here and not failed and not snippets)
    # A statement the library decided is no longer a substitution left unchecked at its
    # line (`θ_{t+1} = θ_t - η ∇L`). Another step on that line still is: `y = σ(x),
    # \quad dy/dx = y(1 + y)` is no plain pass for the sigmoid it starts with.
    decided_lines = {check.loc for check in found if check.status != "unchecked"}
    checks = [*(check for check in checks if check.status != "unchecked"
                or check.loc not in decided_lines
                or not check.message.endswith(_SUBSTITUTION)), *found]
    decided = [check for check in checks if check.status != "unchecked"]
    if not decided:
        # (A library check left unchecked says why the title's standard formula was
        # not found; a near miss is a warning of its own.)
        unfound = [check.message for check in found if check.status == "unchecked"
                   and not check.message.startswith(NEAR_MISS)]
        reason = reasons[0] if reasons else unfound[0] if unfound \
            else "nothing to check (definitions only)"
        return CardResult(card, "unchecked", reason, tuple(checks))
    worst = max(decided, key=lambda check: _SEVERITY[check.status])
    message = worst.message if worst.status in ("fail", "error") else ""
    if worst.status == "pass" and all(check.kind == "library" for check in decided):
        message = "; ".join(check.message for check in decided)
    return CardResult(card, worst.status, message, tuple(checks))


def check_card(card: Card, *, snippets_dir: Path | None, timeout: float,
               pool: SnippetRunner | None = None, derived: Derivation | None = None
               ) -> CardResult:
    """One card; `pool` is a started `SnippetPool` when the card links snippets;
    `derived`: its derivation, when already worked out elsewhere."""
    if card.nocheck is not None:
        return CardResult(card, "unchecked", f"nocheck: {card.nocheck}" if card.nocheck
                          else "nocheck", ())
    from builder.check.plan import derivation_checks

    derivation = derivation_checks(card) if derived is None else derived
    checks = list(derivation.checks)
    for target in _snippets(card):
        checks.append(_run_snippet(card, target, snippets_dir, timeout, pool))
    return _card_result(card, checks, derivation.reasons)


def _run_snippet(card: Card, target: str, snippets_dir: Path | None, timeout: float,
                 pool: SnippetRunner | None) -> CheckResult:
    if snippets_dir is None:
        return CheckResult("snippet", "error", card.loc,
                           f"{target}: no snippets/ directory next to the sheet or above it")
    if pool is None:
        return CheckResult("snippet", "error", card.loc, f"{target}: no snippet worker")
    return pool.run(card, target, snippets_dir, timeout)


def _snippet_workers(calls: int) -> int:
    """Workers for a pool of `calls` snippet calls: one per core, up to `_MOST_WORKERS`
    (each is a process, and its first call pays for starting it)."""
    return max(1, min(calls, os.cpu_count() or 1, _MOST_WORKERS))


_MOST_WORKERS = 4
"""Snippet workers a check starts at most: more cores than that mostly wait on the
derivation children."""


def _run_snippets(cards: Sequence[Card], calls: Sequence[tuple[int, str]],
                  snippets_dir: Path | None, timeout: float, pool: SnippetRunner | None
                  ) -> dict[int, list[CheckResult]]:
    """The results of `calls` (card index, `module.function`), by card in the order of
    its targets: side by side from as many threads as the pool has workers."""
    def call(job: tuple[int, str]) -> CheckResult:
        index, target = job
        return _run_snippet(cards[index], target, snippets_dir, timeout, pool)

    workers = getattr(pool, "size", 1)
    if workers > 1 and len(calls) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers, thread_name_prefix="sheets-snippets") as threads:
            done = list(threads.map(call, calls))
    else:
        done = [call(job) for job in calls]
    found: dict[int, list[CheckResult]] = {}
    for (index, _), result in zip(calls, done, strict=True):
        found.setdefault(index, []).append(result)
    return found


class _KeptWorkers:
    """The snippet workers of a long-lived process (`sheets daemon`), kept from one check
    to the next. A worker runs snippets in the folder and environment of the check that
    started it (a forked child inherits them), so a check in another folder, or with
    another environment, gets new workers. Variables a shell changes at every command
    (`_`, `OLDPWD`) do not count."""

    def __init__(self) -> None:
        self._pool: SnippetPool | None = None
        self._started_in: object = None

    def pool(self) -> SnippetPool:
        from builder.runner import SnippetPool

        where = (os.getcwd(), sorted((name, value) for name, value in os.environ.items()
                                     if name not in _SHELL_BOOKKEEPING))
        if self._pool is None or where != self._started_in:
            self.close()
            # Each call runs in a child of its worker, so a snippet that changes its
            # interpreter changes nothing for the next check either.
            self._pool = SnippetPool(_snippet_workers(_MOST_WORKERS))
            self._started_in = where
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


_SHELL_BOOKKEEPING = frozenset({"_", "OLDPWD"})
_kept_workers: _KeptWorkers | None = None


def keep_snippet_workers() -> None:
    """From now on, keep the snippet workers a check starts for the next check in this
    process (`sheets daemon`: its second check of a card with a snippet does not wait
    for new workers to import numpy and sympy). They stop when the process does."""
    global _kept_workers
    if _kept_workers is None:
        _kept_workers = _KeptWorkers()


def check_cards(cards: Sequence[Card], *, snippets_dir: Path | None, timeout: float,
                cache: CheckCache | None = None, processes: int | None = None,
                pool: SnippetRunner | None = None) -> tuple[CardResult, ...]:
    """Every card's result, in order. With a cache, unchanged cards are not re-checked.
    The derivations of many cards are checked in `processes` forked children (default:
    one per core; 1: serially here), with the same results as serially. Linked snippets
    run in `pool` (a long-lived process keeps one warm), else in a pool started for
    this call when some card needs it."""
    results: list[CardResult | None] = []
    keys: list[str | None] = []
    for card in cards:
        key = cache.key(card, snippets_dir) if cache is not None else None
        keys.append(key)
        results.append(cache.get(key, card) if cache is not None and key else None)
    todo = [index for index, result in enumerate(results) if result is None]
    if todo:
        # (Here, not at the top: a run whose cards are all kept loads no checker.)
        from builder.check.parallel import LOST, Derivers
        from builder.check.plan import derivation_checks

        derive = [index for index in todo
                  if cards[index].equations and cards[index].nocheck is None]
        with Derivers(cards, derive, processes) as derivers:
            calls = [(index, target) for index in todo if cards[index].nocheck is None
                     for target in _snippets(cards[index])]
            pool_context: AbstractContextManager[SnippetRunner | None] = \
                contextlib.nullcontext(pool)
            if pool is None and snippets_dir is not None and calls:
                from builder.runner import SnippetPool

                if _kept_workers is not None:
                    pool_context = contextlib.nullcontext(_kept_workers.pool())
                else:
                    # Forked from here: this process runs no user code.
                    pool_context = SnippetPool(_snippet_workers(len(calls)), fork=True)
            # The snippets run here while the children work out the derivations.
            with pool_context as runner:
                snippet_results = _run_snippets(cards, calls, snippets_dir, timeout, runner)
            derived = derivers.results()
        for index in todo:
            card = cards[index]
            if card.nocheck is not None:
                result = check_card(card, snippets_dir=snippets_dir, timeout=timeout)
            else:
                derivation = derived.get(index) or derivation_checks(card)
                result = _card_result(card, [*derivation.checks,
                                             *snippet_results.get(index, ())],
                                      derivation.reasons, derivation.library)
            results[index] = result
            key = keys[index]
            if cache is not None and key is not None and not any(
                    LOST in check.message for check in result.checks):
                cache.put(key, result)
    return tuple(result for result in results if result is not None)
