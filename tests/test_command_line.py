"""The `sheets` command line as a command line: `--version`, help for every option with its
default, options that take one value each so that they never swallow the sheets;
`sheets doctor`, `sheets init`, and where the caches go."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builder import __version__
from builder.cli import command_parser
from builder.pdf import install_hint
from builder.resources import cache_location, repository_root

ROOT = Path(__file__).resolve().parent.parent


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = command_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def test_version_prints_the_packages_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        command_parser().parse_args(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"sheets {__version__}"


def test_every_option_of_every_subcommand_has_help_with_its_default() -> None:
    commands = _subcommands()
    assert {"build", "check", "preview", "doctor", "init"} <= set(commands)
    for name, command in commands.items():
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            what = f"sheets {name} {'/'.join(action.option_strings) or action.dest}"
            assert action.help, f"{what} has no help"
            if action.option_strings:
                assert "default" in action.help, f"{what}: its help gives no default"


def test_theme_set_takes_one_file_and_leaves_the_sheets_alone() -> None:
    args = command_parser().parse_args(["build", "--theme-set", "x.css", "ml.md"])
    assert [str(path) for path in args.theme_set] == ["x.css"]
    assert [str(path) for path in args.sheets] == ["ml.md"]
    args = command_parser().parse_args(
        ["build", "--theme-set", "x.css", "--theme-set", "y.css", "ml.md", "other.md"])
    assert [str(path) for path in args.theme_set] == ["x.css", "y.css"]
    assert [str(path) for path in args.sheets] == ["ml.md", "other.md"]
    preview = command_parser().parse_args(["preview", "--theme-set", "x.css", "ml.md"])
    assert str(preview.sheet) == "ml.md"
    assert [str(path) for path in preview.theme_set] == ["x.css"]


def test_without_theme_set_there_are_no_theme_files() -> None:
    assert command_parser().parse_args(["build", "a.md"]).theme_set == []
    assert command_parser().parse_args(["build", "a.md"]).theme_set == []  # not shared


# ---------------------------------------------------------------- sheets doctor


def _sheets(*args: str, cwd: Path, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "builder", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=300, check=False)


def test_doctor_finds_what_this_machine_has(tmp_path: Path) -> None:
    run = _sheets("doctor", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    for name in ("Python", "sheets", "node", "MathJax", "Chromium", "CJK fonts", "cache"):
        assert f"ok       {name}: " in run.stdout
    assert f"sheets: {__version__}" in run.stdout
    assert re.search(r"Chromium: Chromium \d+", run.stdout)


def test_doctor_without_chromium_says_how_to_install_it_and_exits_1(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node is not None
    bin_dir = tmp_path / "bin"  # node and fc-list, but no Chromium
    bin_dir.mkdir()
    for program in ("node", "fc-list"):
        found = shutil.which(program)
        if found:
            (bin_dir / program).symlink_to(found)
    run = _sheets("doctor", cwd=tmp_path, env={"CHROME_PATH": "", "PATH": str(bin_dir)})
    assert run.returncode == 1
    assert "MISSING  Chromium: no Chromium found: install it with `sudo " in run.stdout
    assert "CHROME_PATH" in run.stdout
    assert "sheets doctor: missing Chromium" in run.stdout
    nowhere = _sheets("doctor", cwd=tmp_path, env={"CHROME_PATH": str(tmp_path / "nothing")})
    assert nowhere.returncode == 1
    assert f"CHROME_PATH={tmp_path / 'nothing'} is not an executable" in nowhere.stdout


@pytest.mark.parametrize(("platform", "os_release", "command"), [
    ("linux", 'ID=debian\nVERSION_ID="12"\n', "sudo apt-get install chromium fonts-noto-cjk"),
    ("linux", "ID=ubuntu\nID_LIKE=debian\n", "sudo apt-get install chromium-browser"),
    ("linux", "ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n", "sudo apt-get install chromium-b"),
    ("linux", 'ID=fedora\nVERSION_ID=40\n', "sudo dnf install chromium"),
    ("darwin", "", "brew install --cask chromium"),
    ("win32", "", "winget install --id Hibbiki.Chromium"),
])
def test_the_missing_chromium_message_has_the_platforms_command(
        platform: str, os_release: str, command: str) -> None:
    hint = install_hint(platform, os_release)
    assert f"install it with `{command}" in hint and "CHROME_PATH" in hint


def test_building_a_pdf_without_chromium_gives_the_same_message(tmp_path: Path) -> None:
    sheet = tmp_path / "note.md"
    sheet.write_text("# A\n\ntext\n", encoding="utf-8")
    run = _sheets("build", "note.md", cwd=tmp_path,
                  env={"CHROME_PATH": "", "PATH": str(tmp_path), "SHEETS_CACHE_DIR":
                       str(tmp_path / "cache")})
    assert run.returncode == 2
    assert install_hint() in run.stderr


# ---------------------------------------------------------------- sheets init


def test_init_lays_out_a_repository_whose_checks_pass(tmp_path: Path) -> None:
    run = _sheets("init", "repo", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    repo = tmp_path / "repo"
    for name in ("sheets/example.md", "snippets/example.py", ".github/workflows/sheets.yml",
                 "pyproject.toml", ".gitignore", "README.md"):
        assert (repo / name).is_file(), name
    assert "pip install sheets-formula" in (repo / ".github/workflows/sheets.yml").read_text(
        encoding="utf-8")
    checked = _sheets("check", cwd=repo)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip().endswith("3 passed (0 in part), 0 failed, 0 errors, "
                                           "0 unchecked")
    assert (repo / ".cache" / "check").is_dir()  # at the repository's root
    tested = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
                            cwd=repo, capture_output=True, text=True, timeout=300,
                            check=False, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert tested.returncode == 0, tested.stdout
    assert "3 passed" in tested.stdout


def test_init_never_overwrites_a_file(tmp_path: Path) -> None:
    (tmp_path / "sheets").mkdir()
    (tmp_path / "sheets" / "example.md").write_text("mine\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("my notes\n", encoding="utf-8")
    run = _sheets("init", cwd=tmp_path)
    assert run.returncode == 0
    assert (tmp_path / "sheets" / "example.md").read_text(encoding="utf-8") == "mine\n"
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == "my notes\n"
    assert f"skipped {Path('.') / 'sheets' / 'example.md'} (already there)" in run.stdout
    assert "skipped README.md (already there)" in run.stdout
    assert (tmp_path / "snippets" / "example.py").is_file()


# ---------------------------------------------------------------- where the caches go


def test_the_cache_is_at_the_repositorys_root_else_the_users(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    (notes / "sheets" / "deep").mkdir(parents=True)
    (notes / "pyproject.toml").write_text("", encoding="utf-8")
    sheet = notes / "sheets" / "deep" / "a.md"
    found = cache_location(sheet, {})
    assert found.path == notes.resolve() / ".cache"
    assert str(notes.resolve()) in found.why
    assert cache_location(sheet, {"SHEETS_CACHE_DIR": "/x"}).path == Path("/x")
    loose = tmp_path / "loose"
    loose.mkdir()
    if repository_root(loose) is None:  # (a temp folder inside a repository: no second case)
        assert cache_location(loose, {"XDG_CACHE_HOME": "/xdg"}).path == Path("/xdg/sheets")
        assert cache_location(loose, {}).path == Path.home() / ".cache" / "sheets"


def test_a_check_outside_any_repository_leaves_no_cache_in_the_folder(tmp_path: Path) -> None:
    if repository_root(tmp_path) is not None:
        pytest.skip("the temporary folder is inside a repository")
    (tmp_path / "note.md").write_text("## Square\n\n$$\n(a+b)^2 = a^2 + 2ab + b^2\n$$\n",
                                      encoding="utf-8")
    env = {"SHEETS_CACHE_DIR": "", "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    run = _sheets("check", "note.md", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert not (tmp_path / ".cache").exists()
    assert (tmp_path / "xdg" / "sheets" / "check").is_dir()
    doctor = _sheets("doctor", cwd=tmp_path, env=env)
    assert f"cache: {tmp_path / 'xdg' / 'sheets'} (not inside a notes repository" in doctor.stdout


def test_an_option_the_command_lacks_is_said_with_that_commands_usage(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A new-user trial: `sheets check --frobnicate` printed the program's usage
    (`usage: sheets [-h] [--version] COMMAND ...`), which does not list check's options."""
    from builder.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["check", "--frobnicate", "x.md"])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("usage: sheets check ")
    assert error.endswith("sheets check: error: unrecognized arguments: --frobnicate\n")
