"""A plain note printed as an A4 document: `sheets build` vs md-to-pdf 5.2.5.

Both print the seed note 004 (RNN/LSTM course notes, long code listings, no `marp:
true`: a document to sheets) on the same Chromium, each run a fresh process, the two
tools alternating so that drift in the machine's load hits both alike:
- `sheets build --to pdf` cold: an empty cache (SHEETS_CACHE_DIR pointed at a fresh
  directory), so every formula is typeset by MathJax and every page printed;
- md-to-pdf (marked + puppeteer: the common Markdown→PDF command line), which leaves
  the formulas as raw TeX, with its defaults (A4), its Chromium set by
  `--launch-options '{"executablePath": …}'`.

Target (issue 18): sheets ≤ 1.0× md-to-pdf's time.

md-to-pdf is in bench/package.json: `PUPPETEER_SKIP_DOWNLOAD=1 npm ci --prefix bench`
installs it (no browser download); `MD_TO_PDF=PATH` runs another copy.

Usage: .venv/bin/python bench/document.py [--runs N] [--chrome PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pikepdf

from builder.pdf import find_chromium

ROOT = Path(__file__).resolve().parent.parent
SEED = Path(os.environ.get("SHEETS_SEEDS", ROOT.parent / "shared" / "seeds")) / (
    "004_906f046e30d56744.txt")
if not SEED.exists():
    SEED = Path("/work/shared/seeds/004_906f046e30d56744.txt")
MD_TO_PDF = Path(os.environ.get("MD_TO_PDF", ROOT / "bench" / "node_modules" / ".bin" /
                                "md-to-pdf"))


def ensure_md_to_pdf() -> None:
    if MD_TO_PDF.exists():
        return
    print("installing md-to-pdf into bench/node_modules (no browser download)", flush=True)
    env = {**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"}
    subprocess.run(["npm", "ci", "--prefix", str(ROOT / "bench"), "--no-audit", "--no-fund",
                    "--loglevel=error"], check=True, env=env)


def timed(command: list[str], *, cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def pages(pdf: Path) -> int:
    with pikepdf.open(pdf) as document:
        return len(document.pages)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chrome", type=Path, default=None,
                        help="the Chromium both use (default: the one sheets would use)")
    args = parser.parse_args()
    chrome = args.chrome or find_chromium()
    ensure_md_to_pdf()
    with tempfile.TemporaryDirectory(prefix="sheets-bench-document-") as temporary:
        work = Path(temporary)
        note = work / "004.md"  # md-to-pdf takes .md files only
        shutil.copyfile(SEED, note)
        launch = json.dumps({"executablePath": str(chrome),
                             "args": ["--no-sandbox", "--disable-gpu"]})
        base = {**os.environ, "CHROME_PATH": str(chrome)}
        sheets_times: list[float] = []
        md_times: list[float] = []
        for run in range(args.runs):
            cache = work / f"cache-{run}"
            sheets_times.append(timed(
                [sys.executable, "-m", "builder", "build", str(note), "-o", str(work / "sheets")],
                cwd=ROOT, env={**base, "SHEETS_CACHE_DIR": str(cache)}))
            md_times.append(timed([str(MD_TO_PDF), "--launch-options", launch, str(note)],
                                  cwd=work, env=base))
            shutil.rmtree(cache, ignore_errors=True)
        sheets_pages = pages(work / "sheets" / "004.pdf")
        md_pages = pages(work / "004.pdf")
    ours, theirs = statistics.median(sheets_times), statistics.median(md_times)
    print(f"Chromium: {chrome}")
    print(f"sheets build (cold)  median {ours:.2f} s  "
          f"(runs: {', '.join(f'{t:.2f}' for t in sheets_times)})  {sheets_pages} pages")
    print(f"md-to-pdf 5.2.5      median {theirs:.2f} s  "
          f"(runs: {', '.join(f'{t:.2f}' for t in md_times)})  {md_pages} pages")
    print(f"ratio {ours / theirs:.2f}x (target <= 1.0x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
