"""Save → new word in the DOM: `sheets preview` against Marp CLI's watch mode.

Both run on a copy of the seed deck (`../shared/seeds/001_…`, 67 slides) with the
`portrait_A4_note` theme, in the Debian Chromium (headless, driven by Playwright). A word on
one slide in the middle of the deck is changed 20 times; each time the clock starts just
before the file is written and stops when the page's DOM holds the new word:
- `sheets preview` patches the changed slide in place: a MutationObserver in the page
  notes the time (`Date.now()`, the same wall clock Python reads) when the word appears;
- `marp -w` rewrites the HTML and its page reloads itself: a script run at the start of
  every load notes the time at DOMContentLoaded if the new word is there.

`--deck FILE` measures another deck; `--big` the 440-slide deck of bench/bigdeck.py;
`--newline` puts the word on a line of its own under the heading, so that every slide
below moves down a line (what pressing Enter does).

Usage: .venv/bin/python bench/preview.py [--runs N] [--only sheets|marp] [--deck FILE|--big]
       [--newline]
Prints p50/p95 (ms) for each, side by side. Targets for sheets: p50 < 100, p95 < 250.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT.parent / "shared" / "seeds" / "001_cc6ebc1a6c562421.txt"
if not SEED.exists():
    SEED = Path("/work/shared/seeds/001_cc6ebc1a6c562421.txt")
THEME = ROOT / "builder" / "themes" / "portrait_A4_note.css"
MARP = ROOT / "bench" / "node_modules" / ".bin" / "marp"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TIMEOUT_S = 30.0

# The word edited: the heading of a slide about 40% into the deck (slide 30 or so).
TARGET_PATTERN = re.compile(r"^## .+$", re.MULTILINE)


def target_line(text: str) -> str:
    headings = TARGET_PATTERN.findall(text)
    return headings[len(headings) * 2 // 5]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@contextmanager
def process(command: list[str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        yield child
    finally:
        os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def read_until(child: subprocess.Popen[str], pattern: str) -> re.Match[str]:
    assert child.stdout is not None
    seen = []
    for line in child.stdout:
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise RuntimeError(f"{child.args!r} ended before printing {pattern!r}:\n{''.join(seen)}")


def measure(page: Page, sheet: Path, runs: int,
            seen_at: Callable[[Page, str], float], newline: bool = False) -> list[float]:
    text = sheet.read_text(encoding="utf-8")
    line = target_line(text)
    latencies = []
    before = text
    for run in range(runs + 1):
        word = f"benchword{run}x{os.getpid()}"
        # A new line under the heading at each edit (the lines added before stay), or
        # the heading with another word at its end.
        edited = before.replace(line, f"{line}\n\n{word}", 1) if newline \
            else text.replace(line, f"{line} {word}", 1)
        if newline:
            before = edited
        page.evaluate("w => { window.sessionStorage.setItem('want', w); "
                      "window.sessionStorage.removeItem('seenAt'); window.watchFor(w); }", word)
        started = time.time() * 1000
        sheet.write_text(edited, encoding="utf-8")
        latency = seen_at(page, word) - started
        if run > 0:  # the first edit warms caches on both sides
            latencies.append(latency)
    sheet.write_text(text, encoding="utf-8")
    return latencies


# Installed in every page load. `watchFor` (sheets) watches the live DOM; the
# DOMContentLoaded hook catches Marp's reloaded page.
INIT_SCRIPT = """
window.watchFor = (word) => {
  if (window.watcher) window.watcher.disconnect();
  const check = () => {
    if (document.body && document.body.textContent.includes(word)) {
      sessionStorage.setItem('seenAt', String(Date.now()));
      window.watcher.disconnect();
    }
  };
  window.watcher = new MutationObserver(check);
  window.watcher.observe(document, {childList: true, subtree: true, characterData: true});
};
document.addEventListener('DOMContentLoaded', () => {
  const word = sessionStorage.getItem('want');
  if (word && document.body.textContent.includes(word)) {
    sessionStorage.setItem('seenAt', String(Date.now()));
  }
});
"""


def wait_seen(page: Page, word: str) -> float:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            page.wait_for_function("() => sessionStorage.getItem('seenAt')",
                                   timeout=TIMEOUT_S * 1000, polling=10)
            return float(page.evaluate("Number(sessionStorage.getItem('seenAt'))"))
        except Exception as error:  # the page navigated (Marp reloads it): look again
            if "context was destroyed" not in str(error) and "navigat" not in str(error):
                raise
    raise TimeoutError(f"{word} never appeared")


def bench_sheets(page: Page, workdir: Path, runs: int, newline: bool) -> list[float]:
    sheet = workdir / "deck.md"
    command = [sys.executable, "-m", "builder", "preview", str(sheet), "--port", "0",
               "--no-open"]
    if THEME.exists():
        command[5:5] = ["--theme-set", str(workdir / THEME.name)]
    with process(command, cwd=ROOT) as child:
        url = read_until(child, r"(http://127\.0\.0\.1:\d+/)")[1]
        page.goto(url)
        page.wait_for_function("() => window.sheetsPreview && sheetsPreview.slides.length > 0",
                               timeout=TIMEOUT_S * 1000)
        # The first check of every card runs right after the first render; measure the
        # edits (which re-check one card each) after it, as a user's editing would be.
        page.wait_for_function("() => sheetsPreview.badgeVersion > 0", timeout=300_000)
        return measure(page, sheet, runs, wait_seen, newline)


def bench_marp(page: Page, workdir: Path, runs: int, newline: bool) -> list[float]:
    sheet = workdir / "deck.md"
    output = workdir / "marp.html"
    command = [str(MARP), "-w", str(sheet), "-o", str(output), "--html"]
    if THEME.exists():
        command += ["--theme-set", str(workdir / THEME.name)]
    env_command = command
    with process(env_command, cwd=workdir) as child:
        read_until(child, r"Start watching")
        page.goto(output.as_uri())
        page.wait_for_function("() => document.querySelectorAll('section').length > 0",
                               timeout=TIMEOUT_S * 1000)
        return measure(page, sheet, runs, wait_seen, newline)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--only", choices=("sheets", "marp"))
    parser.add_argument("--deck", type=Path, default=SEED, help="the deck to edit")
    parser.add_argument("--big", action="store_true",
                        help="the 440-slide deck of bench/bigdeck.py")
    parser.add_argument("--newline", action="store_true",
                        help="each edit adds a line (the slides below move down)")
    args = parser.parse_args(argv)

    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-preview-") as temporary, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             headless=True, args=CHROMIUM_ARGS)
        benches = {"sheets preview": bench_sheets, "marp -w": bench_marp}
        if args.only == "sheets":
            del benches["marp -w"]
        elif args.only == "marp":
            del benches["sheets preview"]
        if not MARP.exists():
            print(f"{MARP} missing: PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix bench "
                  "@marp-team/marp-cli", file=sys.stderr)
            benches.pop("marp -w", None)
        for name, bench in benches.items():
            workdir = Path(temporary) / name.split()[0]
            workdir.mkdir()
            if args.big:
                sys.path.insert(0, str(ROOT / "bench"))
                from bigdeck import big_deck_text

                (workdir / "deck.md").write_text(big_deck_text(), encoding="utf-8")
            else:  # copyfile: not the seed's read-only mode
                shutil.copyfile(args.deck, workdir / "deck.md")
            if THEME.exists():
                shutil.copyfile(THEME, workdir / THEME.name)
            page = browser.new_page(viewport={"width": 1000, "height": 1400})
            page.add_init_script(INIT_SCRIPT)
            try:
                results[name] = bench(page, workdir, args.runs, args.newline)
            finally:
                page.close()
        browser.close()

    deck = "the big deck" if args.big else args.deck.name
    edits = "line-adding edits" if args.newline else "edits"
    print(f"save → new word in the DOM, {deck}, {args.runs} {edits} (ms)")
    print(f"{'':16}{'p50':>8}{'p95':>8}{'min':>8}{'max':>8}")
    for name, latencies in results.items():
        print(f"{name:16}{percentile(latencies, 0.5):8.0f}{percentile(latencies, 0.95):8.0f}"
              f"{min(latencies):8.0f}{max(latencies):8.0f}")
    if not THEME.exists():
        print(f"(no {THEME.relative_to(ROOT)} yet: both ran with their default theme)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
