"""A snippet worker forked from the checking process itself, for a pool whose process
runs no user code (`sheets check`): the worker starts with what that process has
imported already (sympy, the compiler), instead of a new interpreter importing them
again before the first call.

`ForkedServer` offers the part of `subprocess.Popen`'s interface the pool uses (`pid`,
`stdin`, `stdout`, `poll`, `wait`), so a worker is driven the same way however it
started. The forked process becomes what `python -m builder.runner.server` is: the
leader of a session of its own, the pipes on its stdin and stdout, its stderr the log,
every other descriptor of the checking process closed, and then `serve`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import IO, NoReturn

__all__ = ["BLAS_THREADS", "ForkedServer", "can_fork_here"]

BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""One BLAS/OpenMP thread per worker: two cores are shared with the checker, and
per-thread buffers would count against the memory limit. Read when numpy loads."""


def can_fork_here() -> bool:
    """Whether a worker may be forked from this process: it has `fork`, runs one thread
    (a fork copies the locks other threads hold, never their owners), and has not loaded
    numpy yet (its BLAS would keep the threads it started with)."""
    return hasattr(os, "fork") and threading.active_count() == 1 \
        and threading.current_thread() is threading.main_thread() \
        and "numpy" not in sys.modules


class ForkedServer:
    """A fork server forked from this process, seen from the pool."""

    def __init__(self, log: Path, memory_limit: int | None) -> None:
        to_server, requests = os.pipe()
        answers, from_server = os.pipe()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()  # or the child would write our buffered output again
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _become_server(to_server, from_server, log, memory_limit or 0, parent)
        os.close(to_server)
        os.close(from_server)
        self.pid = pid
        self.stdin: IO[bytes] = os.fdopen(requests, "wb")
        self.stdout: IO[bytes] = os.fdopen(answers, "rb", buffering=0)
        self._status: int | None = None

    def poll(self) -> int | None:
        """The exit status (minus the signal's number) once it ended, else None."""
        if self._status is None:
            with contextlib.suppress(ChildProcessError):
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    self._status = os.waitstatus_to_exitcode(status)
        return self._status

    def wait(self, timeout: float | None = None) -> int:
        """Wait for it to end, as `Popen.wait` does (`TimeoutExpired` past `timeout`)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.0005
        while (status := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"snippet worker {self.pid}", timeout or 0)
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
        return status


def _become_server(requests: int, answers: int, log: Path, memory_limit: int,
                   parent: int) -> NoReturn:
    """The forked child's whole life: become the worker `python -m
    builder.runner.server` would be, and serve."""
    code = 70
    try:
        os.setsid()
        for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGPIPE"):
            with contextlib.suppress(AttributeError, ValueError):
                signal.signal(getattr(signal, name), signal.SIG_DFL)
        os.dup2(requests, 0)
        os.dup2(answers, 1)
        log_fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(log_fd, 2)
        # Nothing of the checking process stays open here: not its files, nor the
        # pipes of its other children (whose ends it waits on).
        os.closerange(3, _descriptor_limit())
        for name in BLAS_THREADS:
            os.environ[name] = "1"
        from builder.runner.server import serve

        code = serve(log, memory_limit, parent)
    except BaseException:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
            sys.stderr.flush()
    finally:
        os._exit(code)


def _descriptor_limit() -> int:
    try:
        return min(os.sysconf("SC_OPEN_MAX"), 1 << 20)
    except (ValueError, OSError):
        return 4096
