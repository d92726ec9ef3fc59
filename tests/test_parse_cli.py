"""Bad sheets through the real command line: `path:line: message` on stderr, exit 2, no
traceback (docs/format.md §2, STYLE.md §3). `sheets check` parses first, so it shows what any
command that parses a sheet does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BAD_SHEETS = [
    pytest.param("---\ntheme: a\nstyle: [x\n---\n# A\n", 3, "malformed front matter",
                 id="front-matter"),
    pytest.param("---\ntheme: gaia\npaginate: true\n\n# A\n", 1,
                 "front matter is not closed", id="unclosed-front-matter"),
]


def _sheets(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "builder", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("text", "line", "message"), BAD_SHEETS)
def test_bad_sheet_is_reported_at_its_line(tmp_path: Path, text: str, line: int,
                                           message: str) -> None:
    sheet = tmp_path / "bad.md"
    sheet.write_text(text, encoding="utf-8")
    result = _sheets("check", str(sheet), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"{sheet}:{line}: {message}")


def test_missing_and_undecodable_sheets(tmp_path: Path) -> None:
    result = _sheets("check", "nope.md", cwd=tmp_path)
    assert (result.returncode, result.stderr.strip()) == (2, "nope.md: no such file")
    (tmp_path / "latin1.md").write_bytes(b"# A\n\n$$ x $$\n\ncaf\xe9\n")
    result = _sheets("check", "latin1.md", cwd=tmp_path)
    assert (result.returncode, result.stderr.strip()) == \
        (2, "latin1.md:5: not UTF-8 text (byte 0xe9)")


def test_a_forgotten_closing_dollar_dollar_is_a_warning_at_its_line(tmp_path: Path) -> None:
    """Marp CLI builds such a sheet (the text below is math), so `sheets build` does too,
    warning at the `$$` that lacks its closing `$$` (not at the last `$$` of the sheet,
    where Marp's pairing runs out); a problem for `--strict` (docs/format.md §2)."""
    sheet = tmp_path / "act.md"
    sheet.write_text("# A\n\n$$\nx = 1\n\ntext\n\n$$\ny = 2\n$$\n", encoding="utf-8")
    warning = (f"{sheet}:3: warning: display math `$$` opened here is never closed "
               "(Marp ends it at the `$$` on line 8)\n")
    for strict, code in (([], 0), (["--strict"], 1)):
        result = _sheets("build", str(sheet), "--to", "html", "-o", str(tmp_path / "out"),
                         *strict, cwd=tmp_path)
        assert (result.returncode, result.stderr) == (code, warning)
        assert (tmp_path / "out" / "act.html").exists()
