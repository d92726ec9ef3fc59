"""Parse speed: the preview re-parses the whole sheet on every save, so `parse_text` (and
`find_cards`) must stay well under the time a keystroke-to-screen update may take.
Prints the median and best of 30 runs per seed (after one warm-up), in milliseconds."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from builder.cards import find_cards
from builder.marp import parse_text

SEEDS = ROOT.parent / "shared" / "seeds"
RUNS = 30


def measure(text: str, path: Path) -> tuple[list[float], list[float]]:
    parse_text(text, path)
    parse_times, card_times = [], []
    for _ in range(RUNS):
        start = time.perf_counter()
        deck = parse_text(text, path)
        middle = time.perf_counter()
        find_cards(deck)
        parse_times.append((middle - start) * 1000)
        card_times.append((time.perf_counter() - middle) * 1000)
    return parse_times, card_times


def main() -> int:
    seeds = sorted(SEEDS.glob("*.txt"))
    if not seeds:
        print(f"no seeds in {SEEDS}", file=sys.stderr)
        return 1
    print(f"{'sheet':<28} {'lines':>6} {'parse median':>13} {'best':>7} {'cards median':>13}")
    for seed in seeds:
        text = seed.read_text(encoding="utf-8")
        parse_times, card_times = measure(text, seed)
        print(f"{seed.name:<28} {text.count(chr(10)):>6} "
              f"{statistics.median(parse_times):>10.1f} ms {min(parse_times):>4.1f} ms "
              f"{statistics.median(card_times):>10.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
