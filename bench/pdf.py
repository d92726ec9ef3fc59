"""PDF build time and memory: `sheets build` vs Marp CLI on the seed deck 001.

Both build the same deck (67 A4 slides, theme portrait_A4_note from builder/themes), each
run a fresh process, the two tools alternating so that drift in the machine's load hits
both alike. Each uses the Chromium it would use for a user: `sheets` its own choice
(CHROME_PATH, else the headless shell if installed, else chromium: builder.pdf.browser), Marp
CLI /usr/bin/chromium as issue 6 sets it up (`--marp-chrome` changes it: Marp CLI drives
the headless shell too, and is faster with it; the closing note gives both).

- cold: `sheets` with an empty math cache (SHEETS_CACHE_DIR pointed at a fresh
  directory) vs Marp CLI, which has no cache;
- rebuild: one slide edited, then built again with the cache of the previous build
  (what a user does between two builds), vs Marp CLI on the same edit;
- peak memory: the largest total resident memory of the build's process tree (Python or
  Node plus every Chromium process), sampled every 25 ms.

Targets (issue 6): cold ≤ 0.5× Marp CLI; rebuild ≤ 0.2×.

Usage: .venv/bin/python bench/pdf.py [--runs N]
Marp CLI is installed into bench/node_modules on first use (npm, no browser download).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from builder.pdf import find_chromium

ROOT = Path(__file__).resolve().parent.parent
SEED = Path(os.environ.get("SHEETS_SEEDS", ROOT.parent / "shared" / "seeds")) / (
    "001_cc6ebc1a6c562421.txt")
THEME = ROOT / "builder" / "themes" / "portrait_A4_note.css"
MARP = ROOT / "bench" / "node_modules" / ".bin" / "marp"
# The slide edited for the rebuild: a line of the first formula slide.
EDIT_FROM, EDIT_TO = "- $\\lambda$　は固有値", "- $\\lambda$　は固有値 (edited)"


def ensure_marp() -> None:
    if MARP.exists():
        return
    print("installing Marp CLI into bench/node_modules (no browser download)", flush=True)
    env = {**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"}
    command = ["npm", "ci" if (ROOT / "bench" / "package-lock.json").exists() else "install",
               "--prefix", str(ROOT / "bench"), "--no-audit", "--no-fund", "--loglevel=error"]
    subprocess.run(command, check=True, env=env)


PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
TICKS = os.sysconf("SC_CLK_TCK")


def tree_usage(root: int) -> tuple[int, dict[int, int]]:
    """Resident memory of `root` and all its descendants, in KiB, and the CPU time
    (clock ticks) each of them has used so far. One read of /proc/PID/stat per process
    (parent, times, resident pages): the sampler runs beside the build on the same two
    cores, and must take as little of them as it can."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stream:
                fields = stream.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pid = int(name)
        parents[pid] = int(fields[1])
        rss[pid] = int(fields[21]) * PAGE_KIB
        ticks[pid] = int(fields[11]) + int(fields[12])
    total = 0
    used: dict[int, int] = {}
    for pid, kib in rss.items():
        ancestor = pid
        while ancestor not in (0, 1) and ancestor != root:
            ancestor = parents.get(ancestor, 0)
        if ancestor == root:
            total += kib
            used[pid] = ticks[pid]
    return total, used


def timed(command: list[str], env: dict[str, str]) -> tuple[float, int, float]:
    """Wall time of a command, the peak memory of its process tree (MiB) and the CPU
    time of that tree (s; sampled, so a process's last 25 ms may be missed). Sampled
    rather than taken from rusage: Chromium's helpers, orphaned when Marp CLI's browser
    exits, are reaped by init and would be missing from Marp's."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    peak = 0
    cpu: dict[int, int] = {}
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            kib, used = tree_usage(process.pid)
            peak = max(peak, kib)
            cpu.update(used)
            done.wait(0.025)  # memory plateaus for seconds; 10 ms cost a third of a core

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, errors = process.communicate()
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    if process.returncode not in (0, 1):  # 1: built, with warnings under --strict only
        raise SystemExit(f"{command[0]} failed ({process.returncode}):\n{errors}")
    return elapsed, peak // 1024, sum(cpu.values()) / TICKS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=("sheets", "marp"))
    parser.add_argument("--marp-chrome", default="/usr/bin/chromium", metavar="PATH",
                        help="the Chromium Marp CLI drives (default: /usr/bin/chromium)")
    args = parser.parse_args(argv)
    chrome = str(find_chromium())
    ensure_marp()
    print(f"sheets drives {chrome}; Marp CLI drives {args.marp_chrome}", flush=True)

    work = Path(tempfile.mkdtemp(prefix="sheets-bench-pdf-"))
    try:
        deck = work / "seed001.md"
        shutil.copyfile(SEED, deck)
        env = dict(os.environ)
        # As a user runs it: with the builder's bytecode cached in __pycache__ after the
        # first run (PYTHONDONTWRITEBYTECODE would time recompiling it on every run).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        sheets = [sys.executable, "-m", "builder", "build", str(deck), "-o", str(work / "ours")]
        marp = [str(MARP), "--theme-set", str(THEME), "--pdf", "--allow-local-files",
                str(deck), "-o", str(work / "marp" / "seed001.pdf")]

        times: dict[str, list[float]] = {"sheets cold": [], "marp cold": [],
                                          "sheets rebuild": [], "marp rebuild": []}
        memory: dict[str, list[int]] = {key: [] for key in times}
        cpu: dict[str, list[float]] = {key: [] for key in times}
        load_before = os.getloadavg()[0]

        def run(label: str, command: list[str], extra_env: dict[str, str]) -> None:
            if args.only and not label.startswith(args.only):
                return
            seconds, mib, cpu_seconds = timed(command, {**env, **extra_env})
            times[label].append(seconds)
            memory[label].append(mib)
            cpu[label].append(cpu_seconds)

        original = deck.read_text(encoding="utf-8")
        assert EDIT_FROM in original, "the bench's edit no longer applies to the seed"
        for round_ in range(args.runs):
            cache = work / f"cache-{round_}"
            deck.write_text(original, encoding="utf-8")
            pair = [("sheets cold", sheets, {"SHEETS_CACHE_DIR": str(cache),
                                             "CHROME_PATH": chrome}),
                    ("marp cold", marp, {"CHROME_PATH": args.marp_chrome})]
            for label, command, extra in pair if round_ % 2 == 0 else pair[::-1]:
                run(label, command, extra)
            # Edit one slide; the cache is the one the cold build just filled.
            deck.write_text(original.replace(EDIT_FROM, EDIT_TO, 1), encoding="utf-8")
            pair = [("sheets rebuild", sheets, {"SHEETS_CACHE_DIR": str(cache),
                                                "CHROME_PATH": chrome}),
                    ("marp rebuild", marp, {"CHROME_PATH": args.marp_chrome})]
            for label, command, extra in pair if round_ % 2 == 0 else pair[::-1]:
                run(label, command, extra)
            print(f"run {round_ + 1}/{args.runs}: " + ", ".join(
                f"{label} {values[-1]:.2f}s" for label, values in times.items() if values),
                flush=True)

        median = {label: statistics.median(values) for label, values in times.items()
                  if values}
        print(f"\nseed 001 ({SEED.name}), {args.runs} runs each, alternating; medians "
              f"(load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after):")
        for label, seconds in median.items():
            print(f"  {label:15} {seconds:6.2f} s   CPU {statistics.median(cpu[label]):5.2f} s"
                  f"   peak memory {max(memory[label]):5d} MiB (tree RSS)")
        if "sheets cold" in median and "marp cold" in median:
            cold = median["sheets cold"] / median["marp cold"]
            rebuild = median["sheets rebuild"] / median["marp cold"]
            print(f"  cold:    sheets/marp = {cold:.2f}  (target <= 0.5)")
            print(f"  rebuild: sheets/marp cold = {rebuild:.2f}  (target <= 0.2)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
