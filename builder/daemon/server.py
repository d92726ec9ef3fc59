"""The serving side: `sheets daemon` listens on the user's socket and runs each request
through the command line's `main`, one at a time, in the requester's folder and
environment, with its output streamed back as it is printed.

It knows nothing of the stages: the command line hands it `main` and a function that
says the code's version now. A request from another installation, or one that comes
after the code or the installed libraries changed under the daemon, is refused (the run
then goes on in its own process, with the code as it is now), and in the second case
the daemon stops: what it has loaded is out of date.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import signal
import socket
import struct
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from builder.daemon import SERVED_COMMANDS, listening, private_folder
from builder.daemon.client import PACKAGE

__all__ = ["AlreadyRunning", "serve", "stop"]

_REQUEST_SECONDS = 10.0
"""How long a connection may take to send its request."""
_REQUEST_LIMIT = 64 << 20
"""Bytes a request may take (the command line and environment: a few kilobytes)."""


class AlreadyRunning(Exception):
    """Another daemon listens at the socket."""


def serve(path: Path, run: Callable[[list[str]], int],
          code_version: Callable[[], str | None]) -> str:
    """Listen at `path` and run each request with `run` until Ctrl-C, SIGTERM or SIGHUP
    (as a KeyboardInterrupt), `stop`, or a request that finds the code changed. Returns
    why it stopped. `AlreadyRunning` when another daemon listens there; OSError when
    the socket cannot be made (its folder must be the user's alone)."""
    if not private_folder(path.parent, create=True):
        raise OSError(f"{path.parent}: not a folder of this user's alone")
    if listening(path):
        raise AlreadyRunning(str(path))
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # left by a daemon that was killed
    version = code_version()
    with _stop_signals() as stopping:
        return _listen(path, run, code_version, version, stopping)


def _listen(path: Path, run: Callable[[list[str]], int],
            code_version: Callable[[], str | None], version: str | None,
            stopping: _Stopping) -> str:
    _collect()
    # Between runs the daemon stands in `/`: the folder it was started in may go away,
    # and a run's own folder is entered for the run alone.
    os.chdir("/")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
        os.chmod(path, 0o600)
        listener.listen(8)
        _log(f"listening on {path}: `sheets build` and `sheets check` run here now; "
             "Ctrl-C stops it")
        ran = False  # since the last collection
        while True:
            # Garbage is collected once no run has come for a moment: not while one
            # waits, nor between runs that come one after the other.
            listener.settimeout(_IDLE_SECONDS if ran else None)
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                _collect()
                ran = False
                continue
            with connection:
                connection.settimeout(_REQUEST_SECONDS)  # (a client that never asks)
                stopped = _serve_one(connection, run, code_version, version, stopping)
            if stopped is not None:
                return stopped
            ran = True
    except KeyboardInterrupt:
        return "stopped"
    finally:
        listener.close()
        with contextlib.suppress(OSError):
            path.unlink()


def stop(path: Path) -> bool:
    """Ask the daemon at `path` to stop; whether one was there to ask."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect(str(path))
            connection.sendall(b'{"stop": true}\n')
            connection.makefile("rb").readline()
    except OSError:
        return False
    return True


def _serve_one(connection: socket.socket, run: Callable[[list[str]], int],
               code_version: Callable[[], str | None], version: str | None,
               stopping: _Stopping) -> str | None:
    """Answer one connection; why the daemon must stop, or None to go on."""
    if not _same_user(connection):
        return None
    try:
        line = connection.makefile("rb").readline(_REQUEST_LIMIT)
        asked = json.loads(line)
    except (OSError, ValueError):
        return None
    if not isinstance(asked, dict):
        return None
    connection.settimeout(None)  # (the run takes as long as it takes)
    answer = _Answer(connection)
    if asked.get("stop") is True:
        answer.send(exit=0)
        return "stopped on request"
    if asked.get("package") != PACKAGE:
        answer.send(refused=f"this daemon runs {PACKAGE}")
        return None
    if version is None or code_version() != version:
        answer.send(refused="the code changed since the daemon started")
        return "stopped: the code or the installed libraries changed since it started"
    try:
        argv = [str(arg) for arg in asked["argv"]]
        if not argv or argv[0] not in SERVED_COMMANDS:
            raise ValueError(argv)
        cwd = str(asked["cwd"])
        env = {str(key): str(value) for key, value in dict(asked["env"]).items()}
    except (KeyError, TypeError, ValueError):
        answer.send(refused="a malformed request")
        return None
    start = time.perf_counter()
    code = _run_as_asked(run, argv, cwd, env, answer)
    if stopping.asked:  # (the run ended as Ctrl-C ends it: the command line said 130)
        answer.send(stderr="sheets: the daemon was stopped during this run\n")
    answer.send(exit=code)
    _log(f"{' '.join(argv)} (in {cwd}): exit {code}, {time.perf_counter() - start:.2f} s")
    return "stopped during a run" if stopping.asked else None


class _Stopping:
    """Ctrl-C, SIGTERM (`kill`) and SIGHUP (a closed terminal) stop the daemon: the first
    one as a KeyboardInterrupt where it is (in a run, the command line ends the run as
    Ctrl-C ends it, and says 130; then the daemon stops), the others ignored while it
    stops."""

    def __init__(self) -> None:
        self.asked = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if not self.asked:
            self.asked = True
            raise KeyboardInterrupt


@contextlib.contextmanager
def _stop_signals() -> Iterator[_Stopping]:
    stopping = _Stopping()
    previous = {signum: signal.signal(signum, stopping)
                for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield stopping
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


_IDLE_SECONDS = 0.5


def _collect() -> None:
    """Collect the garbage of the runs so far and freeze what is left (the loaded
    stages, what the caches keep), so that the collections during the next run look
    only at what it makes: on a heap that holds sympy and a big sheet's parse, a full
    collection in the middle of a run cost it 0.05 s or more."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _same_user(connection: socket.socket) -> bool:
    """Whether the process at the other end is this user's (the socket's folder already
    keeps others out; this says so for certain)."""
    try:
        credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                            struct.calcsize("3i"))
    except (OSError, AttributeError):
        return False
    uid: int = struct.unpack("3i", credentials)[1]
    return uid == os.getuid()


def _run_as_asked(run: Callable[[list[str]], int], argv: list[str], cwd: str,
                  env: dict[str, str], answer: _Answer) -> int:
    """`run(argv)` in the folder `cwd` with the environment `env`, its stdout and stderr
    sent as it prints them; this process's own folder and environment back after."""
    try:
        with _as_asked(cwd, env), \
                contextlib.redirect_stdout(_Stream(answer, "stdout")), \
                contextlib.redirect_stderr(_Stream(answer, "stderr")):
            try:
                return run(argv)
            except SystemExit as exit_:  # argparse's usage errors and --help
                if exit_.code is None or isinstance(exit_.code, int):
                    return exit_.code or 0
                print(exit_.code, file=sys.stderr)
                return 1
            except Exception:  # our bug: said as the run alone would say it
                traceback.print_exc()
                return 1
    except OSError as error:  # the folder is gone
        answer.send(stderr=f"sheets: {cwd}: {error.strerror}\n")
        return 2


@contextlib.contextmanager
def _as_asked(cwd: str, env: dict[str, str]) -> Iterator[None]:
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.chdir(cwd)
    try:
        os.environ.clear()
        os.environ.update(env)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)


class _Answer:
    """The requester's end: lines of JSON, until it stops reading (a Ctrl-C there): the
    run then goes on, unheard."""

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self._gone = False

    def send(self, **frame: Any) -> None:
        if self._gone:
            return
        try:
            self._connection.sendall(json.dumps(frame).encode() + b"\n")
        except OSError:
            self._gone = True


class _Stream(io.TextIOBase):
    """stdout or stderr of a run, sent to the requester as it is written."""

    def __init__(self, answer: _Answer, name: str) -> None:
        self._answer, self._name = answer, name

    def write(self, text: str) -> int:
        if text:
            self._answer.send(**{self._name: text})
        return len(text)

    def writable(self) -> bool:
        return True


def _log(message: str) -> None:
    print(f"sheets daemon: {message}", file=sys.stderr, flush=True)
