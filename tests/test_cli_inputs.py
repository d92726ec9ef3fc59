"""Odd inputs through the real command line: each is the right result or a clear
`path:line: message`, never a traceback, and never a lost or half-written output."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pikepdf
import pytest

ROOT = Path(__file__).resolve().parent.parent

CARD = "---\nmarp: true\n---\n\n## Card\n\n$$\ny = (x+1)^2 = x^2+2x+{constant}\n$$\n"


def _sheets(*args: str, cwd: Path, preexec: Callable[[], None] | None = None
            ) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "SHEETS_CACHE_DIR": str(cwd / ".c"),
                   "PYTHONDONTWRITEBYTECODE": "1"}
    environment.pop("GITHUB_ACTIONS", None)
    run = subprocess.run([sys.executable, "-m", "builder", *args], cwd=cwd,
                         capture_output=True, text=True, timeout=300, check=False,
                         env=environment, preexec_fn=preexec)
    assert "Traceback" not in run.stderr, run.stderr
    return run


def _card(constant: int) -> str:
    return CARD.format(constant=constant)


@pytest.mark.parametrize(("name", "encode"), [
    ("crlf", lambda text: text.replace("\n", "\r\n").encode()),
    ("bom", lambda text: b"\xef\xbb\xbf" + text.encode()),
    ("tabs", lambda text: text.replace("y = ", "\ty =\t").encode()),
])
def test_line_endings_a_bom_and_tabs_keep_verdicts_and_lines(
        tmp_path: Path, name: str, encode: Callable[[str], bytes]) -> None:
    (tmp_path / "good.md").write_bytes(encode(_card(1)))
    (tmp_path / "wrong.md").write_bytes(encode(_card(2)))
    good = _sheets("check", "good.md", cwd=tmp_path)
    assert (good.returncode, good.stdout.splitlines()[-1]) == \
        (0, "1 passed (0 in part), 0 failed, 0 errors, 0 unchecked")
    wrong = _sheets("check", "wrong.md", cwd=tmp_path)
    assert wrong.returncode == 1
    assert wrong.stdout.startswith("wrong.md:8: Card: step 2: "), wrong.stdout


def test_a_sheet_reached_through_a_symlink_is_reported_at_the_name_given(
        tmp_path: Path) -> None:
    (tmp_path / "real.md").write_text(_card(2), encoding="utf-8")
    (tmp_path / "link.md").symlink_to(tmp_path / "real.md")
    run = _sheets("check", "link.md", cwd=tmp_path)
    assert run.returncode == 1
    assert run.stdout.startswith("link.md:8: Card: ")
    built = _sheets("build", "link.md", "--to", "html", "-o", "out", cwd=tmp_path)
    assert built.returncode == 0 and (tmp_path / "out" / "link.html").is_file()


def test_a_file_that_is_not_a_sheet_is_bad_input_not_an_empty_sheet(tmp_path: Path) -> None:
    (tmp_path / "snippets").mkdir()
    (tmp_path / "snippets" / "x.py").write_text("x = 1\n", encoding="utf-8")
    run = _sheets("check", "snippets/x.py", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr == "snippets/x.py: not a sheet (a sheet is a .md or .txt file)\n"
    built = _sheets("build", "snippets/x.py", "--to", "html", cwd=tmp_path)
    assert built.returncode == 2 and not (tmp_path / "build").exists()


def test_a_bad_sheet_among_several_does_not_stop_the_others(tmp_path: Path) -> None:
    (tmp_path / "bad.md").write_text("---\nmarp: [1\n---\n\n## C\n$$x=1$$\n", encoding="utf-8")
    (tmp_path / "wrong.md").write_text(_card(2), encoding="utf-8")
    (tmp_path / "good.md").write_text(_card(1), encoding="utf-8")
    run = _sheets("check", "bad.md", "wrong.md", "good.md", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.startswith("bad.md:2: malformed front matter")
    assert run.stdout.startswith("wrong.md:8: Card: step 2: ")
    assert run.stdout.splitlines()[-1] == \
        "1 passed (0 in part), 1 failed, 0 errors, 0 unchecked; 1 sheet not read"


def test_json_on_stdout_reports_input_errors_as_a_document(tmp_path: Path) -> None:
    (tmp_path / "bad.md").write_text("---\nmarp: [1\n---\n", encoding="utf-8")
    (tmp_path / "good.md").write_text(_card(1), encoding="utf-8")
    run = _sheets("check", "--json", "-", "bad.md", "missing.md", "good.md", cwd=tmp_path)
    assert run.returncode == 2
    document = json.loads(run.stdout)
    assert [card["status"] for card in document["cards"]] == ["pass"]
    assert [(error["file"], error["line"]) for error in document["errors"]] == \
        [("bad.md", 2), ("missing.md", None)]
    assert document["errors"][1]["message"] == "missing.md: no such file"


def test_json_to_a_path_that_cannot_be_written_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text(_card(1), encoding="utf-8")
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    run = _sheets("check", "--json", "a-file/out.json", "good.md", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.startswith("sheets check: cannot write a-file/out.json: ")


def test_a_snippets_option_that_is_not_a_folder_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text(_card(1), encoding="utf-8")
    run = _sheets("check", "--snippets", "good.md", "good.md", cwd=tmp_path)
    assert (run.returncode, run.stderr) == (2, "--snippets good.md: not a directory\n")


def test_an_output_folder_that_cannot_be_made_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text(_card(1), encoding="utf-8")
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    run = _sheets("build", "good.md", "--to", "html", "-o", "a-file/out", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.startswith("sheets build: cannot write: ")


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:  # a disk that fills up half-way through the write
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_write_that_fails_half_way_keeps_the_old_file(tmp_path: Path) -> None:
    (tmp_path / "s.md").write_text(_card(1), encoding="utf-8")
    first = _sheets("build", "s.md", "--to", "html", "-o", "out", cwd=tmp_path)
    assert first.returncode == 0
    old = (tmp_path / "out" / "s.html").read_bytes()
    assert len(old) > 20_000
    (tmp_path / "s.md").write_text(_card(1) + "\n## More\n\ntext\n", encoding="utf-8")
    full = _sheets("build", "s.md", "--to", "html", "-o", "out", cwd=tmp_path,
                   preexec=_file_size_limit(20_000))
    assert full.returncode == 2
    assert full.stderr.endswith(f"cannot write: out{os.sep}s.html: File too large\n")
    assert (tmp_path / "out" / "s.html").read_bytes() == old
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["s.html"]


def test_warnings_read_the_same_in_build_and_check_in_line_order(tmp_path: Path) -> None:
    (tmp_path / "s.md").write_text(
        "---\nmarp: true\n---\n\n## Card\n<!-- chek: x.y -->\n\n![](gone.png)\n\n"
        "$$\nx = 1\n\ntext\n\n$$\ny = 2\n$$\n", encoding="utf-8")
    check = _sheets("check", "s.md", cwd=tmp_path)
    build = _sheets("build", "s.md", "--to", "html", "-o", "out", cwd=tmp_path)
    check_warnings = [line for line in check.stdout.splitlines() if ": warning: " in line]
    build_warnings = [line for line in build.stderr.splitlines() if ": warning: " in line]
    assert [line.split(":")[1] for line in build_warnings] == ["6", "8", "10"], build.stderr
    # build sees more (an image is a renderer's matter); what check sees reads the same
    assert check_warnings == [line for line in build_warnings if ":8:" not in line]


def test_many_cards_and_a_big_sheet_are_checked_and_built(tmp_path: Path) -> None:
    cards = "".join(f"## Card {index}\n\n$$\ny_{{{index}}} = (x+{index})^2 = "
                    f"x^2+{2 * index}x+{index * index + (index == 4321)}\n$$\n\n"
                    for index in range(5000))
    (tmp_path / "many.md").write_text("---\nmarp: true\n---\n\n" + cards, encoding="utf-8")
    run = _sheets("check", "many.md", cwd=tmp_path)
    assert run.returncode == 1
    assert run.stdout.splitlines()[-1] == "4999 passed (0 in part), 1 failed, 0 errors, 0 unchecked"
    assert run.stdout.startswith(f"many.md:{4 + 6 * 4321 + 4}: Card 4321: ")
    prose = "Prose that fills a line of a note, with $x^2$ inline. " * 4 + "\n"
    text = "".join((f"## Part {index}\n\n" if index % 50 == 0 else "") + prose
                   for index in range(30_000))
    (tmp_path / "big.md").write_text("---\nheadingDivider: 2\n---\n\n" + text,
                                     encoding="utf-8")
    assert (tmp_path / "big.md").stat().st_size > 6_000_000
    built = _sheets("build", "big.md", "--to", "html", "-o", "out", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "out" / "big.html").read_text(encoding="utf-8").count("<section") == 600


def test_two_builds_of_one_sheet_at_once_both_finish_with_a_whole_pdf(tmp_path: Path) -> None:
    (tmp_path / "s.md").write_text(_card(1) + "\n---\n\n## Two\n\n$$a^2 = a a$$\n",
                                   encoding="utf-8")
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "SHEETS_CACHE_DIR": str(tmp_path)}
    runs = [subprocess.Popen([sys.executable, "-m", "builder", "build", "s.md", "-o", "out"],
                             cwd=tmp_path, env=environment, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], results
    assert all(out == "sheets build: wrote out/s.pdf (2 pages)\n" for out, _ in results)
    with pikepdf.open(tmp_path / "out" / "s.pdf") as pdf:
        assert len(pdf.pages) == 2
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["s.pdf"]


def test_a_reader_that_stops_reading_ends_the_program_quietly(tmp_path: Path) -> None:
    """`sheets library --json | head -1`: once the pipe is closed, no traceback; the exit
    status says the pipe broke, as it does for other programs."""
    reader, writer = os.pipe()
    with subprocess.Popen([sys.executable, "-m", "builder", "library", "--json"],
                          stdout=writer, stderr=subprocess.PIPE, cwd=tmp_path) as program:
        os.close(writer)
        assert os.read(reader, 10)  # the start of the document, then the reader leaves
        os.close(reader)
        _, errors = program.communicate(timeout=120)
    assert program.returncode == 141
    assert b"Traceback" not in errors and b"BrokenPipeError" not in errors, errors
