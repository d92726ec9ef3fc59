"""Issue 22: `sheets daemon`. A run handed to it prints, writes and exits as the same run
alone, edit after edit (it parses from its own last parse, in memory); it serves only
its own installation and user, from a socket in a folder only the user can enter; it
stops on request, and when the code under it changes. Each test starts a real daemon
(`python -m builder daemon`) and runs the real command line against it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from builder.daemon import socket_path
from builder.daemon.client import request

ROOT = Path(__file__).resolve().parent.parent

SHEET = """# Softmax

$$
\\frac{d}{dx} \\sigma(x) = \\sigma(x)(1 - \\sigma(x))
$$

# Wrong

$$
(a + b)^2 = a^2 + b^2
$$
"""


@dataclass
class Daemon:
    process: subprocess.Popen[str]
    env: dict[str, str]
    """The environment of the runs that reach it (its socket's folder, the cache)."""
    socket: Path

    def log(self) -> str:
        """What it printed, once it has stopped."""
        assert self.process.stderr is not None
        return self.process.stderr.read()


def _environment(runtime: Path, cache: Path, code: Path = ROOT) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "SHEETS_DAEMON"}
    return {**env, "XDG_RUNTIME_DIR": str(runtime), "SHEETS_CACHE_DIR": str(cache),
            "PYTHONPATH": str(code)}


def _start(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """`python -m builder daemon` in `cwd` (which comes first on its path)."""
    return subprocess.Popen([sys.executable, "-m", "builder", "daemon"], env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _listening(process: subprocess.Popen[str]) -> None:
    """Once the daemon says, in its first line, that it listens (or why it cannot)."""
    assert process.stderr is not None
    said = process.stderr.readline()
    assert "sheets daemon: listening on " in said, said + process.stderr.read()


@pytest.fixture
def runtime() -> Iterator[Path]:
    """A folder for the socket, with a short path (a socket's may not pass 107 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="sheets-test-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def daemon(runtime: Path, tmp_path: Path) -> Iterator[Daemon]:
    env = _environment(runtime, tmp_path / "cache")
    process = _start(env, tmp_path)
    path = socket_path(env)
    try:
        _listening(process)
        yield Daemon(process, env, path)
    finally:
        process.terminate()
        process.wait(30)


def _sheets(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "builder", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def _alone(env: dict[str, str], cache: Path) -> dict[str, str]:
    return {**env, "SHEETS_DAEMON": "off", "SHEETS_CACHE_DIR": str(cache)}


def test_a_run_handed_to_the_daemon_says_what_it_says_alone_edit_after_edit(
        daemon: Daemon, tmp_path: Path) -> None:
    work = tmp_path / "notes"
    work.mkdir()
    sheet = work / "notes.md"
    edits = [SHEET, SHEET.replace("a^2 + b^2", "a^2 + 2ab + b^2"),
             SHEET.replace("# Wrong", "# Wrong\n\nA line of prose."),
             "---\nmarp: true\n---\n\n" + SHEET + "\n---\n\n# More\n\n$$\nx = y\n$$\n",
             SHEET.replace("$$\n(a", "$$\n{(a")]  # an unbalanced brace: bad input
    for text in edits:
        sheet.write_text(text, encoding="utf-8")
        for args in (["check", "notes.md"], ["check", "notes.md", "--json", "-"],
                     ["build", "notes.md", "--to", "html", "-o", "out"]):
            handed = _sheets(*args, cwd=work, env=daemon.env)
            handed_html = (work / "out" / "notes.html").read_bytes() \
                if args[0] == "build" and handed.returncode != 2 else b""
            alone = _sheets(*args, cwd=work, env=_alone(daemon.env, tmp_path / "alone"))
            alone_html = (work / "out" / "notes.html").read_bytes() \
                if args[0] == "build" and alone.returncode != 2 else b""
            assert (handed.returncode, handed.stdout, handed.stderr) == \
                (alone.returncode, alone.stdout, alone.stderr), (args, text)
            assert handed_html == alone_html, (args, text)
    assert "unbalanced braces" in _sheets("check", "notes.md", cwd=work, env=daemon.env).stdout
    daemon.process.terminate()
    daemon.process.wait(30)
    log = daemon.log()
    # every run above reached it, each in the folder it was started in
    assert log.count("sheets daemon: check notes.md") == 2 * len(edits) + 1, log
    assert log.count(f"build notes.md --to html -o out (in {work}): exit") == len(edits)


def test_usage_errors_and_help_come_back_as_they_would_alone(daemon: Daemon,
                                                             tmp_path: Path) -> None:
    for args in (["check", "--bogus"], ["check", "--help"], ["build"],
                 ["check", "missing.md"]):
        handed = _sheets(*args, cwd=tmp_path, env=daemon.env)
        alone = _sheets(*args, cwd=tmp_path, env=_alone(daemon.env, tmp_path / "alone"))
        assert (handed.returncode, handed.stdout, handed.stderr) == \
            (alone.returncode, alone.stdout, alone.stderr), args
        assert handed.returncode in (0, 2)


def test_a_run_keeps_its_own_environment_and_folder(daemon: Daemon, tmp_path: Path) -> None:
    """The cache folder is the run's (`SHEETS_CACHE_DIR` of the run, not the daemon's),
    and a relative sheet is found in the run's folder."""
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "s.md").write_text(SHEET.replace("Wrong", name), encoding="utf-8")
        env = {**daemon.env, "SHEETS_CACHE_DIR": str(tmp_path / f"cache-{name}")}
        done = _sheets("check", "s.md", cwd=tmp_path / name, env=env)
        assert f"s.md:10: {name}: step 1" in done.stdout, done.stdout
        assert (tmp_path / f"cache-{name}" / "check").is_dir()


def _ask(path: Path, asked: dict[str, object]) -> list[dict[str, object]]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(str(path))
        connection.sendall(json.dumps(asked).encode() + b"\n")
        return [json.loads(line) for line in connection.makefile("rb")]


def test_it_refuses_another_installation_and_commands_it_does_not_run(
        daemon: Daemon, tmp_path: Path) -> None:
    asked = request(["check", str(tmp_path / "s.md")])
    assert "refused" in _ask(daemon.socket, {**asked, "package": "/elsewhere/builder"})[0]
    assert "refused" in _ask(daemon.socket, {**asked, "argv": ["preview", "s.md"]})[0]
    assert "refused" in _ask(daemon.socket, {**asked, "argv": ["daemon", "--stop"]})[0]
    assert daemon.process.poll() is None  # and still serving


def test_a_second_daemon_is_refused_and_stop_stops_the_first(daemon: Daemon) -> None:
    second = _sheets("daemon", cwd=ROOT, env=daemon.env)
    assert second.returncode == 2
    assert "already running" in second.stderr
    stopped = _sheets("daemon", "--stop", cwd=ROOT, env=daemon.env)
    assert (stopped.returncode, stopped.stderr) == (0, "sheets daemon: stopped\n")
    assert daemon.process.wait(30) == 0
    assert not daemon.socket.exists()
    again = _sheets("daemon", "--stop", cwd=ROOT, env=daemon.env)
    assert (again.returncode, again.stderr) == (1, "sheets daemon: none is running\n")


def test_a_socket_folder_others_can_enter_is_not_used(runtime: Path, tmp_path: Path) -> None:
    env = _environment(runtime, tmp_path / "cache")
    folder = socket_path(env).parent
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    started = _sheets("daemon", cwd=tmp_path, env=env)
    assert started.returncode == 2
    assert "cannot listen" in started.stderr and "alone" in started.stderr
    # nor does a run connect to a socket someone put there
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as planted:
        planted.bind(str(socket_path(env)))
        planted.listen(1)
        (tmp_path / "s.md").write_text(SHEET, encoding="utf-8")
        done = _sheets("check", "s.md", cwd=tmp_path, env=env)
    assert done.returncode == 1 and "1 failed" in done.stdout


def test_it_stops_when_the_code_under_it_changes(runtime: Path, tmp_path: Path) -> None:
    """Run from a copy of the package: an edit to the copy makes the next run go on
    alone, with the new code, and the daemon stop (what it loaded is out of date)."""
    code = tmp_path / "code"
    shutil.copytree(ROOT / "builder", code / "builder",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = _environment(runtime, tmp_path / "cache", code)
    process = _start(env, tmp_path)
    try:
        _listening(process)
        (tmp_path / "s.md").write_text(SHEET, encoding="utf-8")
        assert _sheets("check", "s.md", cwd=tmp_path, env=env).returncode == 1
        with (code / "builder" / "model.py").open("a", encoding="utf-8") as module:
            module.write("\n# an edit\n")
        done = _sheets("check", "s.md", cwd=tmp_path, env=env)
        assert done.returncode == 1 and "1 failed" in done.stdout
        try:
            assert process.wait(30) == 0
        except subprocess.TimeoutExpired:
            process.kill()
            raise AssertionError(process.stderr.read() if process.stderr else "") from None
    finally:
        process.kill()
        process.wait(30)
    log = process.stderr.read() if process.stderr else ""
    assert log.count("check s.md") == 1, log
    assert "stopped: the code or the installed libraries changed" in log


def test_a_kill_during_a_run_ends_the_run_as_ctrl_c_does_and_stops_the_daemon(
        daemon: Daemon, tmp_path: Path) -> None:
    """A new-user trial: SIGTERM in the middle of a run ended the run (exit 130, said
    nothing) and the daemon went on serving. Now the run ends as Ctrl-C ends it, says
    why, and the daemon stops, its socket gone."""
    # The snippet says it has started (it connects to `started`), then waits a minute.
    started = daemon.socket.parent / "started.sock"
    (tmp_path / "snippets").mkdir()
    (tmp_path / "snippets" / "slow.py").write_text(
        "import socket\nimport time\n\n\ndef check(card):\n"
        "    socket.socket(socket.AF_UNIX).connect(" + repr(str(started)) + ")\n"
        "    time.sleep(60)\n", encoding="utf-8")
    (tmp_path / "s.md").write_text("# Slow\n<!-- check: slow.check -->\n\n$$\nx = 1\n$$\n",
                                   encoding="utf-8")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(started))
        listener.listen(1)
        listener.settimeout(120)
        client = subprocess.Popen([sys.executable, "-m", "builder", "check", "s.md"],
                                  cwd=tmp_path, env=daemon.env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        listener.accept()[0].close()  # the run is under way, in its snippet
    assert client.poll() is None
    daemon.process.terminate()
    _, stderr = client.communicate(timeout=60)
    assert client.returncode == 130
    assert "sheets: the daemon was stopped during this run" in stderr
    assert daemon.process.wait(60) == 0
    assert "sheets daemon: stopped during a run" in daemon.log()
    assert not daemon.socket.exists()


def test_doctor_says_whether_a_daemon_is_listening(daemon: Daemon, tmp_path: Path) -> None:
    said = _sheets("doctor", cwd=tmp_path, env=daemon.env).stdout
    assert f"ok       daemon: listening on {daemon.socket}: build and check runs go to it" \
        in said, said
    stopped = _sheets("daemon", "--stop", cwd=tmp_path, env=daemon.env)
    assert stopped.returncode == 0
    assert daemon.process.wait(30) == 0
    said = _sheets("doctor", cwd=tmp_path, env=daemon.env).stdout
    assert "ok       daemon: none running (`sheets daemon` keeps the stages loaded" in said
