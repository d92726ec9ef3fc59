"""The big deck of issue 22: `sheets/*.md` repeated thirteen times as one sheet (about
530 KB, 440 slides), the size a term's notes reach; and what the sheet's size costs on it.

`big_deck(directory)` writes it (the first sheet's front matter, every other sheet's front
matter replaced by a slide break) and returns its path; run as a program, this times on it
`parse_file`, `reparse` after a one-line edit, and `sheets build --to html` and
`sheets check` after a one-card edit with a warm cache.

Usage: .venv/bin/python bench/bigdeck.py [--write FILE]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from builder.marp import parse_file, parse_text

try:
    from builder.marp import reparse
except ImportError:  # before issue 22
    reparse = None  # type: ignore[assignment]

REPEATS = 13
_FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.DOTALL)


def big_deck_text() -> str:
    """The sheets of sheets/ in order, thirteen times, as one sheet."""
    sheets = sorted((ROOT / "sheets").glob("*.md"))
    parts: list[str] = []
    for repeat in range(REPEATS):
        for index, sheet in enumerate(sheets):
            text = sheet.read_text(encoding="utf-8")
            if repeat or index:
                text = "---\n\n" + _FRONT_MATTER.sub("", text, count=1)
            parts.append(text.rstrip("\n") + "\n\n")
    return "".join(parts)


def big_deck(directory: Path) -> Path:
    """Write the big deck into `directory` (as `bigdeck.md`) and return its path."""
    path = directory / "bigdeck.md"
    path.write_text(big_deck_text(), encoding="utf-8")
    return path


def _timed(action: object, runs: int) -> list[float]:
    assert callable(action)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _cli(*args: str) -> float:
    """The wall time of `sheets ARGS`; exit status 1 (a card failed) is fine."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "builder", *args], check=False, cwd=ROOT,
                          stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode not in (0, 1):
        raise subprocess.CalledProcessError(done.returncode, done.args)
    return (time.perf_counter() - start) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="only write the big deck to FILE")
    args = parser.parse_args(argv)
    if args.write:
        args.write.write_text(big_deck_text(), encoding="utf-8")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-bigdeck-") as temporary:
        path = big_deck(Path(temporary))
        # Beside a copy of snippets/, as the sheets are: their cards pass and are cached.
        shutil.copytree(ROOT / "snippets", Path(temporary) / "snippets",
                        ignore=shutil.ignore_patterns("__pycache__"))
        text = path.read_text(encoding="utf-8")
        deck = parse_file(path)
        print(f"big deck: {len(text.encode()) // 1024} KB, {len(deck.slides)} slides, "
              f"{text.count(chr(10))} lines")
        full = _timed(lambda: parse_file(path), 5)
        print(f"parse_file            median {statistics.median(full):7.1f} ms "
              f"best {min(full):7.1f} ms")
        headings = [m.start() for m in re.finditer(r"^## .+$", text, re.MULTILINE)]
        spot = text.index("\n", headings[len(headings) * 2 // 5])
        edits = [text[:spot] + f" edit{n}" + text[spot:] for n in range(10)]
        previous = parse_text(text, path)
        times = []
        for edited in edits:
            start = time.perf_counter()
            previous = reparse(previous, edited)
            times.append((time.perf_counter() - start) * 1000)
        print(f"reparse (one line)    median {statistics.median(times):7.1f} ms "
              f"best {min(times):7.1f} ms")
        cache = Path(temporary) / "cache"
        out = Path(temporary) / "html"
        env_cache = ["--cache-dir", str(cache)] if _has_cache_dir() else []
        _cli("build", str(path), "--to", "html", "-o", str(out), *env_cache)
        _cli("check", str(path), *env_cache)
        path.write_text(edits[0], encoding="utf-8")
        build = _cli("build", str(path), "--to", "html", "-o", str(out), *env_cache)
        check = _cli("check", str(path), *env_cache)
        print(f"build --to html, warm, after a one-line edit: {build:7.0f} ms")
        print(f"check, warm, after a one-line edit:           {check:7.0f} ms")
    return 0


def _has_cache_dir() -> bool:
    help_text = subprocess.run([sys.executable, "-m", "builder", "build", "--help"],
                               capture_output=True, text=True, cwd=ROOT, check=False,
                               env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    return "--cache-dir" in help_text


if __name__ == "__main__":
    sys.exit(main())
