"""bench: snippet workers and `sheets check` on sheets/ (issue 5: ≤ 3 s with a warm pool;
issue 15, each call in a child forked from a clean worker: ≤ 1.4 s).

Prints:
- worker start-up: from spawning a worker to its first answer (numpy, sympy imported);
- one snippet call through a warm pool (round trip, median of 200: a fork, the
  snippet's import and call, the child's exit);
- `sheets check` on sheets/ with a warm pool: parse, cards, derivations and every linked
  snippet through a pool that is already running (no result cache), best of 3;
- `sheets check` as a command on sheets/: with an empty cache, then with a warm cache;
- how long each kind of misbehaving snippet takes to become its card's error, with a
  1 s timeout (the promise: within timeout + 2 s).

Run by `make bench` (bench/run.py), or alone: `.venv/bin/python bench/snippets.py`.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from builder.model import Card, SourceLoc
from builder.runner import SnippetPool

MISBEHAVING = '''
import ctypes, os, sys
import numpy as np

def passes(card):
    assert card.line == 1

def loops(card):
    while True:
        pass

def exits(card):
    sys.exit(0)

def hard_exit(card):
    os._exit(1)

def segfault(card):
    ctypes.string_at(0)

def fifty_gigabytes(card):
    return np.ones(50 * 1024**3 // 8)

def raises(card):
    raise ValueError("no")
'''


def _card() -> Card:
    return Card("bench", (), (), (), None, (), (), SourceLoc(Path("bench.md"), 1), 0)


def worker_startup(snippets: Path) -> None:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        with SnippetPool() as pool:
            pool.run(_card(), "probe.passes", snippets, 30)
        times.append(time.perf_counter() - start)
    print(f"worker start-up + first call: best {min(times) * 1000:.0f} ms "
          f"(median {statistics.median(times) * 1000:.0f} ms)")


def warm_call(snippets: Path) -> None:
    with SnippetPool() as pool:
        pool.run(_card(), "probe.passes", snippets, 30)
        times = []
        for _ in range(200):
            start = time.perf_counter()
            pool.run(_card(), "probe.passes", snippets, 30)
            times.append(time.perf_counter() - start)
    print(f"one snippet call, warm pool: median {statistics.median(times) * 1e6:.0f} µs, "
          f"max {max(times) * 1e6:.0f} µs")


def misbehaving(snippets: Path) -> None:
    timeout = 1.0
    with SnippetPool() as pool:
        pool.run(_card(), "probe.passes", snippets, 30)
        for name in ("loops", "exits", "hard_exit", "segfault", "fifty_gigabytes", "raises"):
            start = time.perf_counter()
            result = pool.run(_card(), f"probe.{name}", snippets, timeout)
            took = time.perf_counter() - start
            verdict = "ok" if result.status == "error" and took <= timeout + 2 else "SLOW/WRONG"
            print(f"  {name:16s} {result.status:5s} in {took * 1000:6.0f} ms  [{verdict}]  "
                  f"{result.message[:90]}")


def check_with_warm_pool(sheets: list[Path]) -> None:
    from builder.cards import find_cards
    from builder.check import check_card, find_snippets_dir
    from builder.marp import parse_file

    with SnippetPool() as pool:
        pool.run(_card(), "probe.passes", PROBE, 30)  # warm
        times = []
        for _ in range(3):
            start = time.perf_counter()
            cards = 0
            counts: dict[str, int] = {}
            for sheet in sheets:
                snippets_dir = find_snippets_dir(sheet)
                for card in find_cards(parse_file(sheet)):
                    result = check_card(card, snippets_dir=snippets_dir, timeout=10, pool=pool)
                    counts[result.status] = counts.get(result.status, 0) + 1
                    cards += 1
            times.append(time.perf_counter() - start)
    print(f"sheets check on {len(sheets)} sheets ({cards} cards: {counts}), warm pool, "
          f"no cache: best {min(times):.2f} s (target ≤ 1.4 s)")


def check_command(sheets: list[Path]) -> None:
    with tempfile.TemporaryDirectory() as cache:
        environment = {**os.environ, "SHEETS_CACHE_DIR": cache}
        for label in ("empty cache", "warm cache"):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "builder", "check",
                                   *map(str, sheets)], check=False, cwd=ROOT, env=environment,
                                  capture_output=True, text=True)
            took = time.perf_counter() - start
            summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
            print(f"`sheets check` command, {label}: {took:.2f} s (exit {done.returncode}: "
                  f"{summary})")


PROBE = Path(tempfile.mkdtemp(prefix="sheets-bench-")) / "snippets"


def main() -> int:
    try:
        return _main()
    finally:
        shutil.rmtree(PROBE.parent, ignore_errors=True)


def _main() -> int:
    PROBE.mkdir()
    (PROBE / "probe.py").write_text(MISBEHAVING)
    worker_startup(PROBE)
    warm_call(PROBE)
    print("misbehaving snippets, timeout 1 s:")
    misbehaving(PROBE)
    sheets = sorted((ROOT / "sheets").glob("*.md"))
    if not sheets:
        print("sheets/ has no sheets: nothing more to time")
        return 0
    os.chdir(ROOT)
    sheets = [sheet.relative_to(ROOT) for sheet in sheets]
    check_with_warm_pool(sheets)
    check_command(sheets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
