"""`sheets check` time on the seed deck 001: cold (empty check cache) and warm (nothing
changed since the last run), each a fresh process as a user runs it, plus the five seeds
together. Targets (issue 4): cold ≤ 2 s, warm ≤ 0.3 s on seed 001.

Usage: .venv/bin/python bench/check.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = Path(os.environ.get("SHEETS_SEEDS", ROOT.parent / "shared" / "seeds"))


def run_check(sheets: list[Path], cache: Path) -> float:
    env = {**os.environ, "SHEETS_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    env.pop("GITHUB_ACTIONS", None)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "builder", "check", *map(str, sheets)],
                          cwd=ROOT, env=env, check=False, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"sheets check failed ({done.returncode}):\n{done.stderr}")
    return elapsed


def measure(label: str, sheets: list[Path], runs: int) -> tuple[float, float]:
    colds, warms = [], []
    with tempfile.TemporaryDirectory(prefix="bench-check-") as scratch:
        cache = Path(scratch) / "cache"
        for _ in range(runs):
            shutil.rmtree(cache, ignore_errors=True)
            colds.append(run_check(sheets, cache))
            warms.append(run_check(sheets, cache))
    cold, warm = statistics.median(colds), statistics.median(warms)
    print(f"{label}: cold median {cold:.2f} s (min {min(colds):.2f}), "
          f"warm median {warm:.3f} s (min {min(warms):.3f}), {runs} runs each", flush=True)
    return cold, warm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    seed = sorted(SEEDS.glob("001_*.txt"))
    cold, warm = measure("seed 001", seed, args.runs)
    measure("all five seeds", sorted(SEEDS.glob("*.txt")), max(1, args.runs // 2))
    print(f"targets: cold ≤ 2 s ({'met' if cold <= 2 else 'NOT met'}), "
          f"warm ≤ 0.3 s ({'met' if warm <= 0.3 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
