"""`sheets build --to html` and `sheets check` on the big deck of issue 22 (bench/bigdeck.py:
440 slides, about 530 KB, beside a copy of snippets/ so that its cards pass and are kept),
cold (empty cache), warm with no change, and warm after an edit in one card:

- `prose`: a line of text in a card (its slide's HTML changes, not what is checked);
- `title`: the card's heading (a card with a linked snippet: the snippet runs again, since
  `card.title` is the snippet's to read);
- `formula`: a term of the card's display math (checked and typeset again).

Each warm figure is the median of `--runs` runs (a new edit each time), wall clock and
CPU (user + system) of the command's process, side by side for the two commands.

With `--daemon`, a `sheets daemon` of the same code is started first (its socket in a
folder of the bench's own) and every run is handed to it: the wall clock is then the
whole run, and the CPU time that of the requesting process alone.

Usage: .venv/bin/python bench/warm.py [--runs N] [--deck FILE] [--code CHECKOUT] [--daemon]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bigdeck import big_deck_text

CARD = "## エントロピー\n"
"""The card edited: a card with a linked snippet, about 40% into the deck."""


def _edits(text: str) -> dict[str, Callable[[int], str]]:
    start = text.index(CARD, len(text) * 2 // 5)
    head, card = text[:start], text[start:]
    prose = card.index("- 分布の")
    formula = card.index("\\log p_i") + len("\\log p_i")

    def at(position: int, insert: str) -> Callable[[int], str]:
        return lambda n: head + card[:position] + insert.format(n=n) + card[position:]

    return {"prose": at(prose, "(edit {n}) "),
            "title": at(len(CARD) - 1, " edit {n}"),
            "formula": at(formula, " + {n} - {n}")}


def _environment(code: Path, runtime: Path) -> dict[str, str]:
    """The runs' environment: `code` first on the path, and the daemon's socket (if
    one is started) under `runtime`. (Bytecode written and kept, as on a user's machine:
    with PYTHONDONTWRITEBYTECODE set, every run would compile the package again, a tenth
    of a second of its own.)"""
    environment = {key: value for key, value in os.environ.items()
                   if key != "PYTHONDONTWRITEBYTECODE"}
    return {**environment, "PYTHONPATH": str(code), "XDG_RUNTIME_DIR": str(runtime)}


def _run(args: list[str], cwd: Path, cache: Path, environment: dict[str, str]
         ) -> tuple[float, float]:
    """Wall and CPU seconds of `sheets ARGS` (exit 1, a failed card, is fine)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "builder", *args], cwd=cwd, check=False,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env={**environment, "SHEETS_CACHE_DIR": str(cache)})
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"sheets {' '.join(args)}: exit {done.returncode}\n{done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@contextlib.contextmanager
def _daemon(environment: dict[str, str], runtime: Path) -> Iterator[None]:
    """A `sheets daemon` for the runs, listening once this returns; stopped after."""
    daemon = subprocess.Popen([sys.executable, "-m", "builder", "daemon"], env=environment,
                              stderr=subprocess.DEVNULL)
    socket = runtime / "sheets" / "daemon.sock"
    deadline = time.monotonic() + 60
    while not socket.exists():
        if daemon.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("sheets daemon did not start")
        time.sleep(0.05)
    try:
        yield
    finally:
        daemon.terminate()
        daemon.wait(30)


def _median(times: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="warm runs per figure (default 3)")
    parser.add_argument("--deck", type=Path, help="another deck (default: the big deck)")
    parser.add_argument("--code", type=Path, default=ROOT,
                        help="the checkout whose `builder` runs, to compare two (default: "
                        "this one)")
    parser.add_argument("--daemon", action="store_true",
                        help="hand every run to a `sheets daemon` (default: each run alone)")
    args = parser.parse_args(argv)
    text = args.deck.read_text(encoding="utf-8") if args.deck else big_deck_text()
    edits = _edits(text) if CARD in text else {}
    commands = {"build --to html": ["build", "deck.md", "--to", "html", "-o", "out"],
                "check": ["check", "deck.md"]}
    rows: dict[str, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-warm-") as temporary, \
            contextlib.ExitStack() as stack:
        folder = Path(temporary)
        shutil.copytree(ROOT / "snippets", folder / "snippets",
                        ignore=shutil.ignore_patterns("__pycache__"))
        runtime = folder / "runtime"
        runtime.mkdir(mode=0o700)
        environment = _environment(args.code, runtime)
        if args.daemon:
            stack.enter_context(_daemon(environment, runtime))
        sheet = folder / "deck.md"
        for name, command in commands.items():
            cache = folder / f"cache-{command[0]}"
            sheet.write_text(text, encoding="utf-8")
            rows.setdefault("cold", {})[name] = _run(command, folder, cache, environment)
            rows.setdefault("warm, no change", {})[name] = _median(
                [_run(command, folder, cache, environment) for _ in range(args.runs)])
            for kind, edit in edits.items():
                times = []
                for n in range(args.runs):
                    sheet.write_text(edit(n + 1), encoding="utf-8")
                    times.append(_run(command, folder, cache, environment))
                rows.setdefault(f"warm, one card: {kind}", {})[name] = _median(times)
    print(f"deck: {len(text.encode()) // 1024} KB, {text.count(chr(10))} lines; code: "
          f"{args.code}{' (through a daemon)' if args.daemon else ''}; load average: "
          f"{os.getloadavg()[0]:.1f}; seconds, wall (CPU)")
    print(f"{'':28}" + "".join(f"{name:>22}" for name in commands))
    for row, figures in rows.items():
        print(f"{row:28}" + "".join(f"{figures[name][0]:>13.2f} ({figures[name][1]:5.2f})"
                                    for name in commands))
    return 0


if __name__ == "__main__":
    sys.exit(main())
