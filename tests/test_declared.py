"""`assume:` and `let:` that the checker cannot use are warnings at their lines, never
dropped without a word: a part it cannot read, and a name none of the card's equations has
(the names are the compiler's: `\\Delta x` is `Delta_x`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SHEET = r"""---
marp: true
---

## Root
<!-- assume: \Delta x > 0 -->
$$\sqrt{(\Delta x)^2} = \Delta x$$

## Typo
<!-- assume: dx > 0, x => 0 -->
<!-- let: q scalar -->
$$\sqrt{(\Delta x)^2} = \Delta x$$

## Array
<!-- assume: 0 < z < 1 -->
$$(1 - z_t) h_{t-1} + z_t g_t = h_{t-1} + z_t (g_t - h_{t-1})$$
"""


def _sheets(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "SHEETS_CACHE_DIR": str(cwd / ".c")}
    environment.pop("GITHUB_ACTIONS", None)
    return subprocess.run([sys.executable, "-m", "builder", *args], cwd=cwd, check=False,
                          capture_output=True, text=True, timeout=120, env=environment)


def test_unusable_assumptions_and_declarations_are_warned_at_their_lines(
        tmp_path: Path) -> None:
    (tmp_path / "s.md").write_text(SHEET, encoding="utf-8")
    run = _sheets("check", "s.md", cwd=tmp_path)
    warnings = [line for line in run.stdout.splitlines() if ": warning: " in line]
    assert warnings == [
        "s.md:10: warning: assume: `x => 0`: not a bound (write >= or <=); this part is "
        "ignored",
        "s.md:10: warning: assume: `dx` is in none of this card's equations (they name "
        "Delta_x); ignored",
        "s.md:11: warning: let: `q` is in none of this card's equations (they name "
        "Delta_x); ignored",
    ], run.stdout
    # The first card's assumption took effect; the second card's did not, so it fails.
    assert run.stdout.splitlines()[-1] == "2 passed (0 in part), 1 failed, 0 errors, 0 unchecked"
    assert "s.md:12: Typo: step 1: " in run.stdout


def test_build_warns_of_them_under_strict_only(tmp_path: Path) -> None:
    (tmp_path / "s.md").write_text(SHEET, encoding="utf-8")
    relaxed = _sheets("build", "s.md", "--to", "html", "-o", "out", cwd=tmp_path)
    assert (relaxed.returncode, relaxed.stderr) == (0, "")
    strict = _sheets("build", "s.md", "--to", "html", "-o", "out", "--strict", cwd=tmp_path)
    assert strict.returncode == 1
    assert [line.split(": warning: ")[1][:9] for line in strict.stderr.splitlines()
            if ": warning: " in line] == ["assume: `", "assume: `", "let: `q` "]
