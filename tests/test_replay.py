"""Warm runs (issue 22): `sheets check` and `sheets build --to html` of sheets whose inputs
did not change say and write what the last run did, without the work (`builder.replay`),
and any change to an input the run read (the sheet, a snippet, a helper it imports, an
image, the page written) runs it again. A warm run after an edit gives, byte for byte,
what a cold run of the edited sheet gives."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SHEET = """\
---
marp: true
paginate: true
---

# Replays

## Square
<!-- check: square.expands -->

$$ (a+b)^2 = a^2 + 2ab + b^2 $$

## Line
![w:100](figure.png)

$$ y = 2x $$

---

## Wrong
$$ (a-b)^2 = a^2 - b^2 $$
"""

SNIPPET = "import helper\n\ndef expands(card):\n    assert helper.FACTOR == 2\n"


def _sheets(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT),
                   "SHEETS_CACHE_DIR": str(cwd / "cache")}
    environment.pop("GITHUB_ACTIONS", None)
    return subprocess.run([sys.executable, "-m", "builder", *args], cwd=cwd, check=False,
                          capture_output=True, text=True, env=environment, timeout=300)


def _notes(folder: Path) -> Path:
    (folder / "snippets").mkdir(parents=True)
    (folder / "snippets" / "square.py").write_text(SNIPPET, encoding="utf-8")
    (folder / "snippets" / "helper.py").write_text("FACTOR = 2\n", encoding="utf-8")
    sheet = folder / "notes.md"
    sheet.write_text(SHEET, encoding="utf-8")
    return sheet


def _said(run: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    return run.returncode, run.stdout, run.stderr


def test_a_check_is_replayed_until_a_file_it_read_changes(tmp_path: Path) -> None:
    _notes(tmp_path)
    first = _sheets("check", "notes.md", "--json", "out.json", cwd=tmp_path)
    assert first.returncode == 1, first.stderr
    assert "notes.md:21: Wrong: step 1" in first.stdout
    document = (tmp_path / "out.json").read_text(encoding="utf-8")
    # The cards' cache gone: a replay does not need it, so it stays empty.
    shutil.rmtree(tmp_path / "cache" / "check")
    (tmp_path / "out.json").unlink()
    assert _said(_sheets("check", "notes.md", "--json", "out.json", cwd=tmp_path)) \
        == _said(first)
    assert (tmp_path / "out.json").read_text(encoding="utf-8") == document
    assert not (tmp_path / "cache" / "check").exists()

    # A helper the snippet imports is an input too: the card is checked again, and fails.
    (tmp_path / "snippets" / "helper.py").write_text("FACTOR = 3\n", encoding="utf-8")
    changed = _sheets("check", "notes.md", "--json", "out.json", cwd=tmp_path)
    assert changed.returncode == 1
    assert "notes.md:8: Square: square.expands failed: " in changed.stdout
    assert (tmp_path / "cache" / "check").is_dir()
    # Other options are other runs.
    assert _sheets("check", "notes.md", cwd=tmp_path).stdout == changed.stdout


def test_an_html_build_is_replayed_until_an_image_or_its_page_changes(tmp_path: Path) -> None:
    _notes(tmp_path)
    first = _sheets("build", "notes.md", "--to", "html", "-o", "out", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "notes.md:14: warning: image not found: figure.png" in first.stderr
    page = (tmp_path / "out" / "notes.html").read_bytes()
    shutil.rmtree(tmp_path / "cache" / "render")
    assert _said(_sheets("build", "notes.md", "--to", "html", "-o", "out", cwd=tmp_path)) \
        == _said(first)
    assert not (tmp_path / "cache" / "render").exists()
    assert (tmp_path / "out" / "notes.html").read_bytes() == page

    # A page that is not as the build wrote it is written again.
    (tmp_path / "out" / "notes.html").write_text("edited", encoding="utf-8")
    again = _sheets("build", "notes.md", "--to", "html", "-o", "out", cwd=tmp_path)
    assert _said(again) == _said(first)
    assert (tmp_path / "out" / "notes.html").read_bytes() == page

    # The image the page missed is there now: inlined, and no warning.
    _png(tmp_path / "figure.png")
    found = _sheets("build", "notes.md", "--to", "html", "-o", "out", cwd=tmp_path)
    assert found.returncode == 0
    assert "image not found" not in found.stderr
    assert "data:image/png;base64," in (tmp_path / "out" / "notes.html").read_text()


def _png(path: Path) -> Path:
    """A 1×1 PNG."""
    import base64

    path.write_bytes(base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
        "RU5ErkJggg=="))
    return path


def test_a_warm_run_after_an_edit_says_what_a_cold_run_of_the_edited_sheet_says(
        tmp_path: Path) -> None:
    warm, cold = tmp_path / "warm", tmp_path / "cold"
    sheet = _notes(warm)
    for args in (("build", "notes.md", "--to", "html", "-o", "out"),
                 ("check", "notes.md", "--json", "out.json")):
        assert _sheets(*args, cwd=warm).returncode in (0, 1)
    edited = SHEET.replace("## Line\n", "## Line, edited\n\nA new paragraph.\n")
    sheet.write_text(edited, encoding="utf-8")
    _notes(cold).write_text(edited, encoding="utf-8")
    for args, output in ((("build", "notes.md", "--to", "html", "-o", "out"),
                          "out/notes.html"),
                         (("check", "notes.md", "--json", "out.json"), "out.json")):
        assert _said(_sheets(*args, cwd=warm)) == _said(_sheets(*args, cwd=cold))
        assert (warm / output).read_bytes() == (cold / output).read_bytes()


def test_a_warm_build_of_more_sheets_than_reparse_keeps_renders_each_from_its_kept_parse(
        tmp_path: Path) -> None:
    # Every slide to render again (the slide cache gone), from decks parsed from the
    # last run's parse, their slides without tokens: each sheet is parsed again in full
    # when it is rendered, the first as the last.
    warm, cold = tmp_path / "warm", tmp_path / "cold"
    sheets = sorted((ROOT / "sheets").glob("*.md"))[:6]
    names = [f"sheets/{sheet.name}" for sheet in sheets]
    for folder in (warm, cold):
        (folder / "sheets").mkdir(parents=True)
        for sheet in sheets:
            shutil.copy(sheet, folder / "sheets" / sheet.name)
    args = ("build", *names, "--to", "html", "-o", "out")
    assert _sheets(*args, cwd=warm).returncode == 0
    assert len(list((warm / "cache" / "parse").glob("*.pickle"))) == len(sheets)
    shutil.rmtree(warm / "cache" / "render")
    for folder in (warm, cold):
        for name in names:
            with (folder / name).open("a", encoding="utf-8") as text:
                text.write("\nedited\n")
    assert _said(_sheets(*args, cwd=warm)) == _said(_sheets(*args, cwd=cold))
    for sheet in sheets:
        page = f"out/{sheet.stem}.html"
        assert (warm / page).read_bytes() == (cold / page).read_bytes()


def test_every_option_is_part_of_what_is_replayed(tmp_path: Path) -> None:
    """A run with another option (here `-q`, which hides the unchecked cards' lines, and
    `--as document`, another page) is another run, not the replay of the last one."""
    sheet = _notes(tmp_path)
    sheet.write_text(SHEET + "\n## Odd\n$$ \\weird{x} = 1 $$\n", encoding="utf-8")
    said = _sheets("check", "notes.md", cwd=tmp_path).stdout
    quiet = _sheets("check", "notes.md", "-q", cwd=tmp_path).stdout
    assert ": unchecked: " in said
    assert ": unchecked: " not in quiet
    assert _sheets("check", "notes.md", cwd=tmp_path).stdout == said
    build = ("build", "notes.md", "--to", "html", "-o", "out")
    assert _sheets(*build, cwd=tmp_path).returncode == 0
    slides = (tmp_path / "out" / "notes.html").read_bytes()
    assert _sheets(*build, "--as", "document", cwd=tmp_path).returncode == 0
    assert (tmp_path / "out" / "notes.html").read_bytes() != slides
