"""Where the seed notes are (`../shared/seeds/`, read-only fixtures beside the clone).

Looked for in `$SHEETS_SEEDS`, then `../shared/seeds` next to this repository, then
`/work/shared/seeds` (a clone made elsewhere on the team's machine). Under CI a missing
seed directory is an error, not a reason to skip the tests that need it.
"""

from __future__ import annotations

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
_CANDIDATES = [
    *([Path(os.environ["SHEETS_SEEDS"])] if os.environ.get("SHEETS_SEEDS") else []),
    _ROOT.parent / "shared" / "seeds",
    Path("/work/shared/seeds"),
]

SEEDS: Path = next((path for path in _CANDIDATES if path.is_dir()), _CANDIDATES[0])
"""The seed directory (the first candidate when none exists, so paths still read well)."""

SEED_FILES: list[Path] = sorted(SEEDS.glob("*.txt"))
SEED_DECK: Path = SEEDS / "001_cc6ebc1a6c562421.txt"

if os.environ.get("CI") == "true" and not SEED_FILES:
    tried = ", ".join(str(path) for path in _CANDIDATES)
    raise RuntimeError(f"the seed notes are missing (looked in {tried}); set SHEETS_SEEDS")
