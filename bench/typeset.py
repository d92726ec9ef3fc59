"""Math typesetting speed (builder/typeset.py): node + MathJax start-up, the seed deck's
formulas cold (a fresh cache: every formula through MathJax, one batch; in one node
process, and split over two), warm (from the in-memory and the on-disk cache: no node at
all), and the stylesheet. Medians of RUNS runs, each with new node processes and an empty
cache directory. Cold times depend on the machine's load (2 cores here)."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from markdown_it.token import Token

from builder.marp import parse_file
from builder.render.typeset import Typesetter

SEEDS = ROOT.parent / "shared" / "seeds"
DECK = SEEDS / "001_cc6ebc1a6c562421.txt"
RUNS = 5
T = TypeVar("T")


def math_of(tokens: Sequence[Token]) -> Iterator[tuple[str, bool]]:
    for token in tokens:
        if token.type in ("math_inline", "math_block"):
            yield token.content, token.type == "math_block"
        if token.children:
            yield from math_of(token.children)


def formulas(path: Path) -> list[tuple[str, bool]]:
    return [item for slide in parse_file(path).slides for item in math_of(slide.tokens)]


def timed(call: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = call()
    return (time.perf_counter() - start) * 1000, result


def main() -> int:
    if not DECK.exists():
        print(f"no seed deck at {DECK}", file=sys.stderr)
        return 1
    deck = formulas(DECK)
    everything = [item for seed in sorted(SEEDS.glob("*.txt")) for item in formulas(seed)]
    times: dict[str, list[float]] = {}
    css_size = 0
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as cache:
            with Typesetter(cache_dir=Path(cache), processes=1) as typesetter:
                times.setdefault("node start-up + first formula", []).append(
                    timed(lambda t=typesetter: t.typeset([("x", False)]))[0])
                times.setdefault("seed 001 cold, 1 process (after start-up)", []).append(
                    timed(lambda t=typesetter: t.typeset(deck))[0])
                times.setdefault("seed 001 again, same process (memory)", []).append(
                    timed(lambda t=typesetter: t.typeset(deck))[0])
                elapsed, css = timed(lambda t=typesetter: t.stylesheet())
                times.setdefault("stylesheet, first (CSS from node)", []).append(elapsed)
                css_size = len(css)
            with Typesetter(cache_dir=Path(cache)) as typesetter:
                times.setdefault("seed 001 warm, new process (disk)", []).append(
                    timed(lambda t=typesetter: t.typeset(deck))[0])
                times.setdefault("stylesheet, warm (disk)", []).append(
                    timed(lambda t=typesetter: t.stylesheet())[0])
                assert typesetter.node_started == 0, "a warm build must not start node"
        with tempfile.TemporaryDirectory() as cache, \
                Typesetter(cache_dir=Path(cache), processes=2) as typesetter:
            times.setdefault("seed 001 cold, 2 processes (with start-up)", []).append(
                timed(lambda t=typesetter: t.typeset(deck))[0])
        for processes in (1, 2):
            with tempfile.TemporaryDirectory() as cache, \
                    Typesetter(cache_dir=Path(cache), processes=processes) as typesetter:
                times.setdefault(f"five seeds cold, {processes} process(es), with start-up",
                                 []).append(timed(lambda t=typesetter: t.typeset(everything))[0])
    print(f"seed 001: {len(deck)} formulas ({len(set(deck))} distinct); five seeds: "
          f"{len(everything)} ({len(set(everything))} distinct); {RUNS} runs")
    for name, values in times.items():
        print(f"{name:<48} median {statistics.median(values):8.1f} ms   best {min(values):8.1f} ms")
    print(f"seed 001 stylesheet: {css_size / 1024:.0f} KiB (fonts inlined)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
