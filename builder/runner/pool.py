"""Linked snippets run in worker processes (docs/format.md, "Snippets").

A card's `<!-- check: module.function -->` calls `function(card)` from
`snippets/module.py`. Snippets are user code that may loop, exit, crash or eat the
machine's memory, so they never run in the checking process: `SnippetPool` keeps a few
worker processes and sends them one call at a time.

Why plain `python -m builder.runner.pool` subprocesses and not `multiprocessing`: each worker
must be the leader of its own session (so one `killpg` also takes whatever the snippet
started, and a Ctrl-C in the terminal reaches only us, who then kill the workers), must be
killable mid-call and replaced without disturbing a pool object, and must report *how* it
died (exit status, signal, faulthandler's traceback). `multiprocessing.Pool` offers no
per-call timeout and breaks when a worker dies; a `Popen` with `start_new_session=True`
and a pipe of length-prefixed pickles is smaller than bending it.

A call's life: the parent sends `(card, target, snippets_dir)`; the worker answers
`started` (the timeout counts from here, so start-up and imports are not the snippet's
time), runs the function and answers with a `SnippetOutcome`, which names the files of
the snippets folder the call read (builder/runner/imports.py: the check cache depends
on them). Silence past the timeout: the parent asks the worker for its Python stack
(SIGUSR1 → faulthandler, to say where it looped), then kills the process group and
starts a replacement. End of the pipe: the worker died, and its exit status or signal
says how.

Inside a worker: RLIMIT_AS caps memory (a 50 GB allocation is a `MemoryError` at once,
not a swapping machine), no core files, one BLAS thread, the worker dies with its parent
(PR_SET_PDEATHSIG), and the snippet's prints go to a log file, not to the protocol pipe.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO, Any, Self

from builder.model import Card, CheckResult, SourceLoc, Status
from builder.resources import PROJECT
from builder.runner.imports import ImportRecorder

__all__ = ["DEFAULT_MEMORY_LIMIT", "DEFAULT_TIMEOUT", "SnippetOutcome", "SnippetPool"]

DEFAULT_TIMEOUT = 10.0
"""Seconds a snippet may run (`sheets check --timeout`)."""
DEFAULT_MEMORY_LIMIT = 4 << 30
"""Address space of a worker, in bytes: ample for numpy work on a formula, small enough
that a runaway allocation fails in the worker instead of swapping the machine."""
_STARTUP_SECONDS = 60.0
"""How long a new worker may take to import numpy and sympy before answering (a loaded
CI machine can be slow; this is not the snippet's time)."""
_STACK_DUMP_SECONDS = 0.5
_OUTPUT_LIMIT = 4000
_MESSAGE_LIMIT = 300
_HEADER = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class SnippetOutcome:
    """What one snippet call came to, with the detail a test runner shows."""

    status: Status
    """`pass`, `fail` (AssertionError) or `error` (anything else)."""
    message: str
    """One line: `module.function failed: message (snippets/m.py:7)`."""
    where: str | None = None
    """`snippets/m.py:7`: the snippet's line that failed, when known."""
    traceback: str = ""
    """The traceback trimmed to the user's snippet files (or faulthandler's stack)."""
    output: str = ""
    """What the snippet printed (its tail)."""
    line: int | None = None
    """The sheet's line the outcome is about when not the card's: an equation the
    snippet used that does not compile."""
    files_read: tuple[Path, ...] = ()
    """The files of the snippets folder the call read: the snippet's module and every
    local module it imported (directly or not), absolute (`ImportRecorder`)."""


# =========================================================================== parent side

class _Worker:
    """One worker process and its pipes, seen from the parent."""

    def __init__(self, memory_limit: int | None) -> None:
        handle, log = tempfile.mkstemp(prefix="sheets-worker-", suffix=".log")
        os.close(handle)
        self.log = Path(log)
        environment = dict(os.environ)
        # One BLAS/OpenMP thread: two cores are shared with the checker, and per-thread
        # buffers would count against RLIMIT_AS.
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            environment[name] = "1"
        # The worker imports `builder` as the parent did, installed or not.
        source_root = str(PROJECT)
        environment["PYTHONPATH"] = os.pathsep.join(
            [source_root, *filter(None, [environment.get("PYTHONPATH")])])
        # stderr goes to the log from the start, so that a worker that cannot even
        # import builder.runner.pool says why.
        with self.log.open("ab") as early_errors:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "builder.runner.pool", str(self.log),
                 str(memory_limit or 0), str(os.getpid())],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=early_errors,
                env=environment, start_new_session=True)
        assert self.process.stdin is not None and self.process.stdout is not None
        self._to_worker: IO[bytes] = self.process.stdin
        self._from_worker = self.process.stdout.fileno()
        self._buffer = b""

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, message: object) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self._to_worker.write(_HEADER.pack(len(data)) + data)
        self._to_worker.flush()

    def receive(self, deadline: float) -> object | None:
        """The next message; None when the worker closed its end (it died); TimeoutError
        past `deadline` (a `time.monotonic()` value)."""
        while True:
            if len(self._buffer) >= _HEADER.size:
                (size,) = _HEADER.unpack_from(self._buffer)
                if len(self._buffer) >= _HEADER.size + size:
                    data = self._buffer[_HEADER.size:_HEADER.size + size]
                    self._buffer = self._buffer[_HEADER.size + size:]
                    message: object = pickle.loads(data)
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self._from_worker], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._from_worker, 1 << 16)
            if not chunk:
                return None
            self._buffer += chunk

    def alive(self) -> bool:
        return self.process.poll() is None

    def dump_stack(self) -> str:
        """The Python stack of a worker that is still running (faulthandler on SIGUSR1),
        read from its log."""
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + _STACK_DUMP_SECONDS
        while time.monotonic() < deadline:
            text = self.read_log()
            if "File " in text.split("Stack (most recent call first)", 1)[-1] \
                    or "Current thread" in text:
                return text
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

    def kill(self) -> None:
        """Kill the worker and everything in its process group, and reap it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self._to_worker.close()
        self.process.wait()
        with contextlib.suppress(OSError):
            assert self.process.stdout is not None
            self.process.stdout.close()
        with contextlib.suppress(OSError):
            self.log.unlink()


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
    """

    def __init__(self, size: int = 1, *,
                 memory_limit: int | None = DEFAULT_MEMORY_LIMIT) -> None:
        self.size = max(1, size)
        self.memory_limit = memory_limit
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._closed = False
        for _ in range(self.size):
            self._idle.append(_Worker(memory_limit))
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
            worker.kill()

    # ---------------------------------------------------------------- internals

    def _acquire(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise RuntimeError("the snippet pool is closed")
            worker = self._idle.pop() if self._idle else _Worker(self.memory_limit)
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
                self._idle.append(_Worker(self.memory_limit))
        if not keep:
            worker.kill()

    def _call(self, worker: _Worker, card: Card, target: str, snippets_dir: Path,
              timeout: float) -> tuple[SnippetOutcome, bool]:
        """(outcome, whether the worker can be reused)."""
        try:
            worker.send((card, target, str(Path(snippets_dir).absolute())))
            started = worker.receive(time.monotonic() + _STARTUP_SECONDS)
            if started is None:
                return self._died(worker, target, snippets_dir, starting=True), False
            answer = worker.receive(time.monotonic() + timeout)
        except TimeoutError:
            return self._timed_out(worker, target, snippets_dir, timeout), False
        except BrokenPipeError:
            return self._died(worker, target, snippets_dir, starting=True), False
        if answer is None:
            return self._died(worker, target, snippets_dir, starting=False), False
        assert isinstance(answer, SnippetOutcome)
        return answer, True

    def _timed_out(self, worker: _Worker, target: str, snippets_dir: Path,
                   timeout: float) -> SnippetOutcome:
        stack = worker.dump_stack() if worker.alive() else worker.read_log()
        worker.kill()
        where, trace = _fault_location(stack, Path(snippets_dir))
        at = f" in {where}" if where else ""
        return SnippetOutcome(
            "error", f"{target}: timed out after {timeout:g} s{at} (the worker was stopped)",
            where, trace)

    def _died(self, worker: _Worker, target: str, snippets_dir: Path, *,
              starting: bool) -> SnippetOutcome:
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
                              output[-_OUTPUT_LIMIT:])


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
    where = f"{_display_path(Path(innermost_file))}:{line_number}"
    trace = "\n".join(f'  File "{_display_path(Path(name))}"{rest}'
                      for name, rest in frames)
    return where, trace


def _display_path(path: Path) -> str:
    """A path as a user would type it: relative to the current directory when under it
    or one or two levels beside it (`../snippets/m.py` from `sheets/`), else absolute."""
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    with contextlib.suppress(ValueError):
        relative = os.path.relpath(path)
        if not relative.startswith(os.path.join(os.pardir, os.pardir, os.pardir)):
            return relative
    return str(path)


# =========================================================================== worker side

class _LoadError(Exception):
    """The snippet could not be found or imported: that card's error."""

    def __init__(self, message: str, traceback_text: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.traceback_text = traceback_text


class _SnippetLoader:
    """Snippet functions by `module.function`, imported from the snippets directory, and
    imported afresh (with every module of that directory) when any of its files changed,
    so that a long-lived worker never runs a stale snippet."""

    def __init__(self) -> None:
        self._versions: dict[Path, tuple[tuple[str, int, int], ...]] = {}
        self._modules: dict[Path, ModuleType] = {}
        self.imports = ImportRecorder()
        """Which files of the snippets folder each snippet module read."""
        self.imports.install()

    @staticmethod
    def module_path(snippets_dir: Path, target: str) -> Path | None:
        """`snippets/pkg/mod.py` for `pkg.mod.function`; None for a malformed target."""
        module_name, _, function_name = target.rpartition(".")
        if not module_name or not function_name:
            return None
        return snippets_dir.joinpath(*module_name.split(".")).with_suffix(".py")

    def function(self, snippets_dir: Path, target: str) -> Callable[[Any], object]:
        path = self.module_path(snippets_dir, target)
        if path is None:
            raise _LoadError(f"`check: {target}` should name module.function")
        module_name, _, function_name = target.rpartition(".")
        if not path.is_file():
            raise _LoadError(f"no snippet file {_display_path(path)}")
        self.imports.watch(snippets_dir)
        self._forget_if_changed(snippets_dir)
        module = self._modules.get(path)
        if module is None:
            module = self._import(path, module_name, snippets_dir)
            self._modules[path] = module
        function = getattr(module, function_name, None)
        if not callable(function):
            raise _LoadError(f"{_display_path(path)} has no function {function_name}")
        return function  # type: ignore[no-any-return]

    def _forget_if_changed(self, snippets_dir: Path) -> None:
        version = []
        for file in sorted(snippets_dir.rglob("*.py")):
            with contextlib.suppress(OSError):
                stat = file.stat()
                version.append((str(file), stat.st_mtime_ns, stat.st_size))
        if self._versions.get(snippets_dir) == tuple(version):
            return
        self._versions[snippets_dir] = tuple(version)
        self.imports.forget(snippets_dir)
        prefix = str(snippets_dir) + os.sep
        for path in [path for path in self._modules if str(path).startswith(prefix)]:
            del self._modules[path]
        for name, module in list(sys.modules.items()):
            if str(getattr(module, "__file__", None) or "").startswith(prefix):
                del sys.modules[name]
        import importlib
        import linecache

        importlib.invalidate_caches()
        linecache.clearcache()

    def _import(self, path: Path, module_name: str, snippets_dir: Path) -> ModuleType:
        import importlib.util

        # Helpers next to the snippets import by their plain name, after the standard
        # library and installed packages (a snippet called `random.py` must not shadow
        # the real one for numpy).
        if str(snippets_dir) not in sys.path:
            sys.path.append(str(snippets_dir))
        taken = sys.modules.get(module_name)
        ours = taken is None or str(getattr(taken, "__file__", "")) == str(path)
        name = module_name if ours else f"_sheets_snippet_{module_name.replace('.', '_')}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise _LoadError(f"cannot import {_display_path(path)}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException as error:
            del sys.modules[name]
            where, trace = _user_traceback(error, snippets_dir)
            if isinstance(error, SyntaxError) and error.filename:
                where = f"{_display_path(Path(error.filename))}:{error.lineno}"
            at = f" ({where})" if where else ""
            raise _LoadError(f"cannot import {_display_path(path)}: "
                             f"{_exception_line(error)}{at}", trace) from None
        return module


def _exception_line(error: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(error), error)).strip()
    return _one_line(text)


def _one_line(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.splitlines()]
    joined = "; ".join(line for line in lines if line)
    return joined if len(joined) <= _MESSAGE_LIMIT else joined[:_MESSAGE_LIMIT - 1] + "…"


def _user_traceback(error: BaseException, snippets_dir: Path) -> tuple[str | None, str]:
    """(innermost user line as `file:line`, the traceback trimmed to the user's code):
    the frames from the first to the last one in the snippets directory (not the worker
    above them, nor numpy's insides below them), then the exception."""
    frames = traceback.extract_tb(error.__traceback__)
    prefix = str(snippets_dir) + os.sep
    user = [index for index, frame in enumerate(frames) if frame.filename.startswith(prefix)]
    exception = "".join(traceback.format_exception_only(type(error), error))
    if not user:
        return None, exception
    kept = frames[user[0]:user[-1] + 1]
    for frame in kept:
        frame.filename = _display_path(Path(frame.filename))
    innermost = frames[user[-1]]
    where = f"{_display_path(Path(innermost.filename))}:{innermost.lineno}"
    text = "Traceback (most recent call last):\n" + "".join(
        traceback.format_list(kept)) + exception
    return where, text


def _failure_text(error: AssertionError, where: str | None, snippets_dir: Path) -> str:
    """The assertion's message, or the `assert` line itself when it has none."""
    message = str(error).strip()
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    actual = next((line for line in lines if line.startswith(("ACTUAL:", "x:"))), None)
    desired = next((line for line in lines if line.startswith(("DESIRED:", "y:"))), None)
    if actual and desired:
        # numpy.testing's report, cut to what a one-line verdict needs (the traceback
        # keeps the whole of it).
        return _one_line(f"{lines[0]}; {actual}; {desired}")
    if message:
        return _one_line(message)
    frames = traceback.extract_tb(error.__traceback__)
    prefix = str(snippets_dir) + os.sep
    for frame in reversed(frames):
        if frame.filename.startswith(prefix) and frame.line:
            return f"{frame.line.strip()}"
    return "AssertionError"


def _run_snippet(loader: _SnippetLoader, card: Card, target: str,
                 snippets_dir: Path) -> SnippetOutcome:
    from builder.runner.card import EquationError, SnippetCard

    try:
        function = loader.function(snippets_dir, target)
    except _LoadError as error:
        return SnippetOutcome("error", f"{target}: {error.message}", None, error.traceback_text)
    try:
        returned = function(SnippetCard(card))
    except AssertionError as error:
        where, trace = _user_traceback(error, snippets_dir)
        at = f" ({where})" if where else ""
        return SnippetOutcome("fail", f"{target} failed: "
                              f"{_failure_text(error, where, snippets_dir)}{at}", where, trace)
    except MemoryError as error:
        where, trace = _user_traceback(error, snippets_dir)
        at = f" at {where}" if where else ""
        limit = _memory_limit_text()
        detail = f": {_one_line(str(error))}" if str(error) else ""
        return SnippetOutcome("error", f"{target}: ran out of memory{at}{limit}{detail}",
                              where, trace)
    except SystemExit as error:
        where, trace = _user_traceback(error, snippets_dir)
        at = f" at {where}" if where else ""
        return SnippetOutcome("error", f"{target}: called sys.exit({error.code!r}){at}; "
                              "a snippet passes by returning", where, trace)
    except EquationError as error:
        # The sheet's equation is at fault, not the snippet: the line is the equation's,
        # and the snippet's line only says who asked for it.
        where, trace = _user_traceback(error, snippets_dir)
        used = f" (used by {where})" if where else ""
        return SnippetOutcome("error", f"{target}: {error.reason}{used}", where, trace,
                              line=error.loc.line if error.loc else None)
    except BaseException as error:
        where, trace = _user_traceback(error, snippets_dir)
        at = f" ({where})" if where else ""
        return SnippetOutcome("error", f"{target}: {_exception_line(error)}{at}", where, trace)
    if returned is False or (type(returned).__name__ == "bool_" and not returned):
        # `return x == 3` reads like a check; letting it pass silently would hide a
        # wrong formula, so it fails and says how to write it.
        return SnippetOutcome("fail", f"{target} failed: returned False (a snippet fails "
                              "by raising AssertionError: write `assert …`)")
    return SnippetOutcome("pass", f"{target}: passed")


def _memory_limit_text() -> str:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return ""
    return f" (a worker may use {soft / (1 << 30):.3g} GiB)"


def _send(stream: IO[bytes], message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    return pickle.loads(stream.read(size))


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this worker when the parent dies, even by SIGKILL, so an
    infinite loop never outlives `sheets check`."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(0)


def serve(log: Path, memory_limit: int, parent: int) -> int:
    """The worker's loop: read a call, answer `started`, run it, answer the outcome."""
    import faulthandler
    import resource

    # The protocol keeps private copies of stdin/stdout; the snippet's own prints (and
    # any child it starts) write to the log instead of corrupting the pipe.
    requests = os.fdopen(os.dup(0), "rb")
    answers = os.fdopen(os.dup(1), "wb")
    log_fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(null)
    os.close(log_fd)
    faulthandler.enable(file=sys.stderr, all_threads=False)
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=False)
    _die_with_parent(parent)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory_limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    # Warm up while the parent does other work: the first call should not pay for these.
    with contextlib.suppress(Exception):
        import numpy  # noqa: F401
    with contextlib.suppress(Exception):
        import builder.runner.card  # noqa: F401 - and with it the compiler
    loader = _SnippetLoader()
    home = os.getcwd()
    while True:
        request = _receive(requests)
        if request is None:
            return 0
        card, target, snippets_dir = request
        _send(answers, "started")
        sys.stdout.flush()
        sys.stderr.flush()
        os.ftruncate(1, 0)
        module = loader.module_path(Path(snippets_dir), target)
        with loader.imports.loading(module) if module else contextlib.nullcontext():
            outcome = _run_snippet(loader, card, target, Path(snippets_dir))
        if module is not None:
            outcome = dataclasses.replace(outcome, files_read=loader.imports.files_read(module))
        with contextlib.suppress(OSError):
            os.chdir(home)  # a snippet that changed directory must not move the next one
        sys.stdout.flush()
        sys.stderr.flush()
        output = _read_tail(log)
        if output:
            outcome = dataclasses.replace(outcome, output=output)
        _send(answers, outcome)


def _read_tail(log: Path) -> str:
    try:
        with log.open("rb") as stream:
            stream.seek(0, os.SEEK_END)
            size = stream.tell()
            stream.seek(max(size - _OUTPUT_LIMIT, 0))
            return stream.read().decode("utf-8", "replace")
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> int:
    """`python -m builder.runner.pool LOG MEMORY_LIMIT PARENT_PID` (started by SnippetPool)."""
    args = sys.argv[1:] if argv is None else argv
    return serve(Path(args[0]), int(args[1]), int(args[2]))


if __name__ == "__main__":
    # Run the loop from the imported module, not from `__main__`, so that the
    # SnippetOutcome objects it pickles are `builder.runner.pool.SnippetOutcome` in the parent.
    from builder.runner.pool import main as _main

    sys.exit(_main())
