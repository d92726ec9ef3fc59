"""Linked snippets run in worker processes (docs/format.md, "Snippets"): the pool, on the
side of the process that checks cards.

A card's `<!-- check: module.function -->` calls `function(card)` from
`snippets/module.py`. Snippets are user code that may loop, exit, crash, eat the
machine's memory or change the interpreter it runs in, so they never run in the
checking process: `SnippetPool` keeps a few workers and sends them one call at a time.
Each worker is a fork server (builder/runner/server.py) that runs every call in a
child of its own (builder/runner/child.py): a call sees a clean interpreter whatever
the calls before it did, and a crash or an exit is that child's, not the worker's.

Why plain `python -m builder.runner.server` subprocesses and not `multiprocessing`: each
worker must be the leader of its own session (so one `killpg` also takes whatever a
snippet started, and a Ctrl-C in the terminal reaches only us, who then kill the
workers), must be killable mid-call and replaced without disturbing a pool object, and
must report *how* a call died (exit status, signal, faulthandler's traceback).
`multiprocessing.Pool` offers no per-call timeout and breaks when a worker dies; a
`Popen` with `start_new_session=True` and a pipe of length-prefixed pickles
(builder/runner/protocol.py) is smaller than bending it.

A call's life: a new worker says `Ready` once it has imported numpy, sympy and the
compiler (that start-up is not a snippet's time); the pool sends `(card, target,
snippets_dir)` and the timeout counts from there. The call's child answers with a
`SnippetOutcome`, which names the files of the snippets folder the call read (the
check cache depends on them), or the worker says `ChildDied(status)`: the exit status
or signal says how, the log (the child's stderr, faulthandler's traceback) says where.
Silence past the timeout: the pool asks the worker's processes for their Python stacks
(SIGUSR1 to the group → faulthandler in the child, to say where it looped; the server
ignores it), then kills the process group and starts a replacement.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import IO, Self

from builder.model import Card, CheckResult, SourceLoc
from builder.resources import PROJECT
from builder.runner.forked import BLAS_THREADS, ForkedServer, can_fork_here
from builder.runner.protocol import (
    OUTPUT_LIMIT,
    ChildDied,
    FrameReader,
    Ready,
    SnippetOutcome,
    display_path,
    pack,
)

__all__ = ["DEFAULT_MEMORY_LIMIT", "DEFAULT_TIMEOUT", "SnippetOutcome", "SnippetPool"]
# SnippetOutcome is protocol.py's, named here too for code that imported it from here.

DEFAULT_TIMEOUT = 10.0
"""Seconds a snippet may run (`sheets check --timeout`)."""
DEFAULT_MEMORY_LIMIT = 4 << 30
"""Address space of each snippet call's process, in bytes: ample for numpy work on a
formula, small enough that a runaway allocation fails in the call's process instead of
swapping the machine."""
_STARTUP_SECONDS = 60.0
"""How long a new worker may take to import numpy, sympy and the compiler before
answering (a loaded CI machine can be slow; this is not the snippet's time)."""
_STACK_DUMP_SECONDS = 3.0  # an upper bound: the dump is read as soon as it is whole
_STOP_SECONDS = 1.0


class _Worker:
    """One worker process and its pipes, seen from the parent."""

    def __init__(self, memory_limit: int | None, *, fork: bool) -> None:
        handle, log = tempfile.mkstemp(prefix="sheets-worker-", suffix=".log")
        os.close(handle)
        self.log = Path(log)
        self.process: subprocess.Popen[bytes] | ForkedServer
        if fork and can_fork_here():
            self.process = ForkedServer(self.log, memory_limit)
        else:
            self.process = self._started(memory_limit)
        assert self.process.stdin is not None and self.process.stdout is not None
        self._to_worker: IO[bytes] = self.process.stdin
        self._from_worker = FrameReader(self.process.stdout.fileno())
        self.ready = False

    def _started(self, memory_limit: int | None) -> subprocess.Popen[bytes]:
        """`python -m builder.runner.server`, in a session of its own."""
        environment = dict(os.environ)
        environment.update(dict.fromkeys(BLAS_THREADS, "1"))
        # The worker imports `builder` as the parent did, installed or not.
        source_root = str(PROJECT)
        environment["PYTHONPATH"] = os.pathsep.join(
            [source_root, *filter(None, [environment.get("PYTHONPATH")])])
        # stderr goes to the log from the start, so that a worker that cannot even
        # import builder.runner.server says why.
        with self.log.open("ab") as early_errors:
            return subprocess.Popen(
                [sys.executable, "-m", "builder.runner.server", str(self.log),
                 str(memory_limit or 0), str(os.getpid())],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=early_errors,
                env=environment, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, message: object) -> None:
        self._to_worker.write(pack(message))
        self._to_worker.flush()

    def receive(self, deadline: float) -> object | None:
        """The next message; None when the worker closed its end (it died); TimeoutError
        past `deadline` (a `time.monotonic()` value)."""
        return self._from_worker.receive(deadline)

    def alive(self) -> bool:
        return self.process.poll() is None

    def dump_stack(self) -> str:
        """The Python stack of the worker's child that is still running (faulthandler
        on SIGUSR1, sent to the group), read from the log."""
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + _STACK_DUMP_SECONDS
        seen = None
        while time.monotonic() < deadline:
            text = self.read_log()
            started = "File " in text.split("Stack (most recent call first)", 1)[-1] \
                or "Current thread" in text
            # faulthandler writes a frame's line in pieces: the dump is read once it has
            # stopped growing, not at its first `File "…` (which may lack its line number).
            if started and text == seen:
                return text
            seen = text if started else None
            time.sleep(0.02)
        return self.read_log()

    def read_log(self) -> str:
        try:
            with self.log.open("rb") as stream:
                stream.seek(0, os.SEEK_END)
                size = stream.tell()
                stream.seek(max(size - 64 * 1024, 0))
                return stream.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_exit(self, seconds: float) -> int | None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self.process.wait(seconds)
        return None

    def stop(self) -> None:
        """Ask the worker to end (the end of its pipe): it reaps its last child and
        exits; `kill` then takes what is left."""
        with contextlib.suppress(OSError):
            self._to_worker.close()

    def kill(self) -> None:
        """End the worker and everything in its process group (the children, what
        they started), and reap it. Waits, briefly, until the group is gone: its
        children are not ours to reap, and a SIGKILL takes effect when it is
        scheduled."""
        if self._to_worker.closed:  # `stop`ped: give it the time to end by itself
            self.wait_exit(_STOP_SECONDS)
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            # Not a group (yet): a forked worker that has not reached its `setsid`.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, signal.SIGKILL)
        self.stop()
        self.process.wait()
        deadline = time.monotonic() + _STOP_SECONDS
        while _group_alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.002)
        with contextlib.suppress(OSError):
            assert self.process.stdout is not None
            self.process.stdout.close()
        with contextlib.suppress(OSError):
            self.log.unlink()


def _group_alive(group: int) -> bool:
    """Whether a process of `group` is still running (not a zombie: those are gone for
    good, waiting for whoever reaps them)."""
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        for stat_file in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                stat = stat_file.read_text()
                fields = stat[stat.rindex(")") + 2:].split()
                if int(fields[2]) == group and fields[0] != "Z":
                    return True
    except OSError:
        return True  # no /proc: the group exists, so something of it may run
    return False


_POOLS: weakref.WeakSet[SnippetPool] = weakref.WeakSet()


@atexit.register
def _close_all_pools() -> None:
    """A pool the program forgot to close still takes its workers with it."""
    for pool in list(_POOLS):
        pool.close()


class SnippetPool:
    """Worker processes that run linked snippets, reused across cards.

    ```python
    with SnippetPool() as pool:
        result = pool.run(card, "softmax.sums_to_one", Path("snippets"), timeout=10)
    ```

    `size` workers start at once (they import numpy and sympy while the caller does other
    work) and are kept warm; a worker that died or was killed is replaced straight away.
    Calls may come from several threads; each takes a free worker. Closing the pool
    (also on Ctrl-C, through `with`, and at interpreter exit) kills every worker's
    process group, so no process is left behind.

    `fork=True`, for a process that runs no user code (`sheets check`): the workers are
    forked from it while it has one thread and has not loaded numpy
    (builder/runner/forked.py), and so start with what it imported; otherwise, or
    later, they are new interpreters.
    """

    def __init__(self, size: int = 1, *,
                 memory_limit: int | None = DEFAULT_MEMORY_LIMIT, fork: bool = False
                 ) -> None:
        self.size = max(1, size)
        self.memory_limit = memory_limit
        self.fork = fork
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._closed = False
        for _ in range(self.size):
            self._idle.append(_Worker(memory_limit, fork=fork))
        _POOLS.add(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def pids(self) -> tuple[int, ...]:
        """The worker processes now in the pool (each also the id of its process group)."""
        with self._lock:
            return tuple(worker.pid for worker in (*self._idle, *self._busy))

    def run(self, card: Card, target: str, snippets_dir: Path,
            timeout: float = DEFAULT_TIMEOUT) -> CheckResult:
        """Run `target` (`module.function`) on `card`: a snippet `CheckResult` at the
        card's line (or at the line of an equation the snippet used that does not
        compile), with the files the call read."""
        outcome = self.run_outcome(card, target, snippets_dir, timeout)
        loc = SourceLoc(card.loc.path, outcome.line) if outcome.line else card.loc
        return CheckResult("snippet", outcome.status, loc, outcome.message,
                           outcome.files_read)

    def run_outcome(self, card: Card, target: str, snippets_dir: Path,
                    timeout: float = DEFAULT_TIMEOUT) -> SnippetOutcome:
        """`run`, with the trimmed traceback and the output (for the pytest plugin)."""
        worker = self._acquire()
        try:
            outcome, healthy = self._call(worker, card, target, snippets_dir, timeout)
        except BaseException:
            # Ctrl-C (or our bug) mid-call: the worker's state is unknown, and the
            # caller is on its way out, so no replacement either.
            self._release(worker, healthy=False, replace=False)
            raise
        self._release(worker, healthy=healthy, replace=True)
        return outcome

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers = [*self._idle, *self._busy]
            self._idle.clear()
            self._busy.clear()
        for worker in workers:
            worker.stop()
        for worker in workers:
            worker.kill()

    # ---------------------------------------------------------------- internals

    def _acquire(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise RuntimeError("the snippet pool is closed")
            worker = self._idle.pop() if self._idle \
                else _Worker(self.memory_limit, fork=self.fork)
            self._busy.add(worker)
            return worker

    def _release(self, worker: _Worker, *, healthy: bool, replace: bool) -> None:
        with self._lock:
            self._busy.discard(worker)
            keep = healthy and not self._closed and len(self._idle) < self.size
            if keep:
                self._idle.append(worker)
            elif replace and not self._closed \
                    and len(self._idle) + len(self._busy) < self.size:
                # Start the replacement now: it warms up while the caller moves on.
                self._idle.append(_Worker(self.memory_limit, fork=self.fork))
        if not keep:
            worker.kill()

    def _call(self, worker: _Worker, card: Card, target: str, snippets_dir: Path,
              timeout: float) -> tuple[SnippetOutcome, bool]:
        """(outcome, whether the worker can be reused)."""
        try:
            if not worker.ready:
                if not isinstance(worker.receive(time.monotonic() + _STARTUP_SECONDS), Ready):
                    return self._died(worker, target, snippets_dir, starting=True), False
                worker.ready = True
            worker.send((card, target, str(Path(snippets_dir).absolute())))
            answer = worker.receive(time.monotonic() + timeout)
        except TimeoutError:
            return self._timed_out(worker, target, snippets_dir, timeout), False
        except BrokenPipeError:
            return self._died(worker, target, snippets_dir, starting=True), False
        if isinstance(answer, ChildDied):  # the call's child, not the worker
            return self._died(worker, target, snippets_dir, status=answer.status), True
        if answer is None:
            return self._died(worker, target, snippets_dir), False
        assert isinstance(answer, SnippetOutcome)
        return answer, True

    def _timed_out(self, worker: _Worker, target: str, snippets_dir: Path,
                   timeout: float) -> SnippetOutcome:
        stack = worker.dump_stack() if worker.ready and worker.alive() else worker.read_log()
        worker.kill()
        where, trace = _fault_location(stack, Path(snippets_dir))
        at = f" in {where}" if where else ""
        return SnippetOutcome(
            "error", f"{target}: timed out after {timeout:g} s{at} (the worker was stopped)",
            where, trace)

    def _died(self, worker: _Worker, target: str, snippets_dir: Path, *,
              starting: bool = False, status: int | None = None) -> SnippetOutcome:
        """A call that ended without an outcome: its child died (`status`, said by the
        worker), or the worker itself did (its own status)."""
        if status is None:
            status = worker.wait_exit(2.0)
        log = worker.read_log()
        where, trace = _fault_location(log, Path(snippets_dir))
        at = f" in {where}" if where else ""
        if starting:
            last = log.strip().splitlines()[-1:] or ["no output"]
            how = f"the snippet worker did not start ({_exit_description(status)}): {last[0]}"
        elif status is not None and status < 0:
            how = f"the worker crashed with {_exit_description(status)}{at}"
        elif status is not None:
            how = (f"the snippet ended its worker process with exit status {status}"
                   f"{at} (os._exit or a C library's exit(); raise an exception instead)")
        else:
            how = "the worker closed its pipe and did not exit"
        output = log if not trace else ""
        return SnippetOutcome("error", f"{target}: {how}", where, trace,
                              output[-OUTPUT_LIMIT:])


def _exit_description(status: int | None) -> str:
    if status is None:
        return "still running"
    if status >= 0:
        return f"exit status {status}"
    number = -status
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    meaning = {"SIGSEGV": "segmentation fault", "SIGBUS": "bus error",
               "SIGABRT": "abort", "SIGFPE": "arithmetic fault",
               "SIGILL": "illegal instruction",
               "SIGKILL": "killed: out of memory, or by someone else"}.get(name)
    return f"{name} ({meaning})" if meaning else name


def _fault_location(log: str, snippets_dir: Path) -> tuple[str | None, str]:
    """The snippet's innermost line in a faulthandler dump (most recent call first), and
    the dump's frames that are in the user's snippet files."""
    base = str(snippets_dir.absolute())
    frames = []
    for line in log.splitlines():
        stripped = line.strip()
        if not stripped.startswith('File "'):
            continue
        try:
            file_name, rest = stripped[6:].split('"', 1)
        except ValueError:
            continue
        if file_name.startswith(base + os.sep):
            frames.append((file_name, rest))
    if not frames:
        return None, ""
    innermost_file, rest = frames[0]
    number = rest.replace(",", " ").split()
    line_number = number[1] if len(number) > 1 and number[0] == "line" else "?"
    where = f"{display_path(Path(innermost_file))}:{line_number}"
    trace = "\n".join(f'  File "{display_path(Path(name))}"{rest}'
                      for name, rest in frames)
    return where, trace
