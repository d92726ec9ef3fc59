"""`sheets check --coverage` on a corpus of real public notes that none of us wrote
(issue 16): per file, how many display equations compiled, how many cards, and their
verdicts; then the totals, the most frequent reasons for not compiling, and every `fail`
(file:line and message), so that each can be checked by hand: on this corpus every `fail`
must be a real mistake in the note.

The corpus stays outside the repository (most of its licences do not let us commit it;
tests/corpus/SOURCES.md lists where each file comes from). Each file is checked in a
fresh process with an empty check cache, as a user runs it. A file the checker does not
take by its name (`.mdx`) is checked through a `.md` copy.

Usage: .venv/bin/python bench/corpus.py [--jobs N] [--reasons N] [--json FILE]
The folder: $SHEETS_CORPUS; without it, the few files whose licences let us commit them
(tests/corpus/files/), so that `make bench` measures something on any machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("SHEETS_CORPUS") or ROOT / "tests" / "corpus" / "files")
SHEET_SUFFIXES = (".md", ".txt")
VERDICTS = ("pass", "fail", "error", "unchecked")


@dataclass
class FileResult:
    """One corpus file's numbers, from its `sheets check --coverage --json -` run."""

    name: str
    equations: int = 0
    compiled: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    fails: list[tuple[int, str]] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    problem: str = ""

    @property
    def cards(self) -> int:
        return sum(self.verdicts.values())


def check_file(source: Path, scratch: Path) -> FileResult:
    """Run the checker on one file, cold (its own empty cache), and read its JSON."""
    result = FileResult(source.name)
    sheet = source
    if source.suffix not in SHEET_SUFFIXES:
        sheet = scratch / (source.name + ".md")
        shutil.copyfile(source, sheet)
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "SHEETS_CACHE_DIR": str(scratch / f"cache-{source.name}")}
    env.pop("GITHUB_ACTIONS", None)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "builder", "check", "--coverage",
                           "--json", "-", str(sheet)],
                          cwd=ROOT, env=env, check=False, capture_output=True, text=True)
    result.seconds = time.perf_counter() - started
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        result.problem = f"exit {done.returncode}: {done.stderr.strip()[-300:]}"
        return result
    found = report.get("coverage", {})
    result.equations = found.get("total", 0)
    result.compiled = found.get("compiled", 0)
    for group in found.get("reasons", []):
        result.reasons[group["reason"]] += group["count"]
    for card in report.get("cards", []):
        result.verdicts[card["status"]] += 1
        for check in card.get("checks", []):
            if check["status"] == "fail":
                result.fails.append((check.get("line") or card["line"], check["message"]))
        if card["status"] == "fail" and not card.get("checks"):
            result.fails.append((card["line"], card["message"]))
    return result


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "–"


def table(results: list[FileResult]) -> list[str]:
    """The per-file table and its totals row."""
    width = max(len(r.name) for r in results)
    head = (f"{'file':<{width}}  {'eqs':>4} {'comp':>4} {'%':>5}  {'cards':>5} "
            + " ".join(f"{v:>6}" for v in VERDICTS) + "   secs")
    lines = [head, "-" * len(head)]
    total = FileResult("total")
    for r in results:
        lines.append(f"{r.name:<{width}}  {r.equations:4d} {r.compiled:4d} "
                     f"{percent(r.compiled, r.equations):>5}  {r.cards:5d} "
                     + " ".join(f"{r.verdicts[v]:6d}" for v in VERDICTS)
                     + f" {r.seconds:6.1f}" + (f"  {r.problem}" if r.problem else ""))
        total.equations += r.equations
        total.compiled += r.compiled
        total.verdicts += r.verdicts
        total.seconds += r.seconds
    lines.append("-" * len(head))
    lines.append(f"{'total':<{width}}  {total.equations:4d} {total.compiled:4d} "
                 f"{percent(total.compiled, total.equations):>5}  {total.cards:5d} "
                 + " ".join(f"{total.verdicts[v]:6d}" for v in VERDICTS)
                 + f" {total.seconds:6.1f}")
    verdict = total.verdicts["pass"] + total.verdicts["fail"]
    share = percent(total.compiled, total.equations)
    lines.append(f"\n{len(results)} files; display equations compiled: "
                 f"{total.compiled} of {total.equations} ({share}); "
                 f"cards with a verdict (pass or fail): {verdict} of {total.cards} "
                 f"({percent(verdict, total.cards)}); "
                 + ", ".join(f"{v} {total.verdicts[v]}" for v in VERDICTS)
                 + f"; {1000 * total.seconds / max(total.equations, 1):.0f} ms per equation")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="files checked at once")
    parser.add_argument("--reasons", type=int, default=20,
                        help="how many of the most frequent refusal reasons to list")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    if not CORPUS.is_dir():
        raise SystemExit(f"{CORPUS}: no such folder (SHEETS_CORPUS names the corpus)")
    sources = sorted(path for path in CORPUS.iterdir()
                     if path.is_file() and path.name != "LICENSES.md")
    if not sources:
        raise SystemExit(f"{CORPUS}: no files (set SHEETS_CORPUS)")
    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as scratch_name:
        scratch = Path(scratch_name)
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(lambda source: check_file(source, scratch), sources))
    print("\n".join(table(results)))
    reasons: Counter[str] = Counter()
    for r in results:
        reasons += r.reasons
    print(f"\nmost frequent reasons for not compiling ({args.reasons} of {len(reasons)}):")
    for reason, count in reasons.most_common(args.reasons):
        print(f"  {count:4d}  {reason}")
    fails = [(r.name, line, message) for r in results for line, message in r.fails]
    print(f"\nfail ({len(fails)}; each must be a real mistake in the note):")
    for name, line, message in fails:
        print(f"  {name}:{line}: {message}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            [{"file": r.name, "equations": r.equations, "compiled": r.compiled,
              "verdicts": dict(r.verdicts), "fails": r.fails, "reasons": dict(r.reasons),
              "seconds": round(r.seconds, 2), "problem": r.problem} for r in results],
            ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
