"""What values an entry's symbol takes (`int 1..5`, `prob`, `dist`…), and drawing them.

The entry says it in its YAML (`symbols: {F: filter size | int 1..5 | f, K}`): a formula
is compared where it means something (a stride is a whole number of at least 1, a
distribution is positive and sums to 1), so that a right card is never failed on values
its notes never meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["DOMAIN_KINDS", "ValueDomain", "parse_value_domain"]

DOMAIN_KINDS = ("real", "positive", "prob", "int A..B", "range A..B", "vector", "posvector",
                "dist", "onehot", "matrix", "posmatrix", "distrows", "onehotrows")
"""The kinds an entry's symbol may take, as written in the YAML."""
_LENGTH = 4
_ROWS = 3


@dataclass(frozen=True, slots=True)
class ValueDomain:
    kind: str
    low: float = 0.0
    high: float = 0.0

    @property
    def ndim(self) -> int:
        """0 for a scalar, 1 for a vector, 2 for a matrix."""
        if self.kind in ("vector", "posvector", "dist", "onehot"):
            return 1
        if self.kind in ("matrix", "posmatrix", "distrows", "onehotrows"):
            return 2
        return 0

    def draw(self, rng: Any) -> Any:
        """One value (a float or a numpy array), drawn with `rng` (numpy's Generator)."""
        import numpy as np

        kind = self.kind
        if kind == "real":
            return float(np.round(rng.uniform(-2.5, 2.5), 3))
        if kind == "positive":
            return float(np.round(rng.uniform(0.2, 2.5), 3))
        if kind == "prob":
            return float(np.round(rng.uniform(0.05, 0.95), 3))
        if kind == "int":
            return float(rng.integers(int(self.low), int(self.high) + 1))
        if kind == "range":
            return float(rng.uniform(self.low, self.high))
        if kind == "vector":
            return rng.uniform(-2.0, 2.0, _LENGTH)
        if kind == "posvector":
            return rng.uniform(0.2, 2.0, _LENGTH)
        if kind == "dist":
            values = rng.uniform(0.1, 1.0, _LENGTH)
            return values / values.sum()
        if kind == "onehot":
            return np.eye(_LENGTH)[rng.integers(0, _LENGTH)]
        if kind == "matrix":
            return rng.uniform(-2.0, 2.0, (_ROWS, _LENGTH))
        if kind == "posmatrix":
            return rng.uniform(0.2, 2.0, (_ROWS, _LENGTH))
        if kind == "distrows":
            values = rng.uniform(0.1, 1.0, (_ROWS, _LENGTH))
            return values / values.sum(axis=1, keepdims=True)
        if kind == "onehotrows":
            return np.eye(_LENGTH)[rng.integers(0, _LENGTH, _ROWS)]
        raise ValueError(f"unknown domain {kind!r}")


_RANGE = re.compile(r"^(int|range)\s+(-?[\d.]+)\s*\.\.\s*(-?[\d.]+)$")


def parse_value_domain(text: str) -> ValueDomain:
    """`int 1..5` → whole numbers 1 to 5; `prob` → (0, 1); ValueError when unknown."""
    text = text.strip()
    match = _RANGE.match(text)
    if match:
        low, high = float(match.group(2)), float(match.group(3))
        if low > high:
            raise ValueError(f"empty range {text!r}")
        return ValueDomain(match.group(1), low, high)
    if text in DOMAIN_KINDS:
        return ValueDomain(text)
    raise ValueError(f"unknown domain {text!r} (known: {', '.join(DOMAIN_KINDS)})")
