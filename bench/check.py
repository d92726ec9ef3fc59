"""`sheets check` time on the seed deck 001: cold (empty check cache) and warm (nothing
changed since the last run), each a fresh process as a user runs it, plus the five seeds
together. Targets (issue 4): cold ≤ 2 s, warm ≤ 0.3 s on seed 001.

Usage: .venv/bin/python bench/check.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = Path(os.environ.get("SHEETS_SEEDS", ROOT.parent / "shared" / "seeds"))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_check(sheets: list[Path], cache: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one run; CPU (user + sys, the forked children included) is
    what to compare when the machine is busy with other work."""
    env = {**os.environ, "SHEETS_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    # As a user runs it: with the builder's bytecode cached in __pycache__ after the first
    # run (a shell with PYTHONDONTWRITEBYTECODE would time recompiling it on every run).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("GITHUB_ACTIONS", None)
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "builder", "check", *map(str, sheets)],
                          cwd=ROOT, env=env, check=False, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    cpu = _children_cpu() - cpu
    if done.returncode not in (0, 1):
        raise SystemExit(f"sheets check failed ({done.returncode}):\n{done.stderr}")
    return elapsed, cpu


def measure(label: str, sheets: list[Path], runs: int) -> tuple[float, float]:
    colds, warms, cold_cpu, warm_cpu = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-check-") as scratch:
        cache = Path(scratch) / "cache"
        for _ in range(runs):
            shutil.rmtree(cache, ignore_errors=True)
            wall, cpu = run_check(sheets, cache)
            colds.append(wall)
            cold_cpu.append(cpu)
            wall, cpu = run_check(sheets, cache)
            warms.append(wall)
            warm_cpu.append(cpu)
    cold, warm = statistics.median(colds), statistics.median(warms)
    print(f"{label}: cold median {cold:.2f} s (min {min(colds):.2f}, "
          f"CPU {statistics.median(cold_cpu):.2f} s), "
          f"warm median {warm:.3f} s (min {min(warms):.3f}, "
          f"CPU {statistics.median(warm_cpu):.3f} s), {runs} runs each", flush=True)
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
