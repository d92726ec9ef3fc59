"""One snippet call, in a child forked for it alone (builder/runner/server.py).

The child starts as a copy of its fork server, which has imported numpy, sympy and the
formula compiler and never runs user code; it imports the snippet's module from the
snippets folder, calls `function(card)`, sends back a `SnippetOutcome` and exits. So
whatever a snippet changes in the interpreter (a builtin, `sys.path`, `sys.modules`,
the working directory, the environment, numpy's attributes or error state, the warnings
filters, the random generators) ends with its child: no later card sees it, without a
list of things to restore. For the same reason every call imports the snippet files as
they are on disk now, and the files of the snippets folder a call read are simply the
ones loaded when it ends (`_files_read`).
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import CodeType
from typing import Any, NoReturn

from builder.runner.card import EquationError, SnippetCard
from builder.runner.protocol import (
    OUTPUT_LIMIT,
    SnippetOutcome,
    display_path,
    one_line,
    pack,
    write_frame,
)

__all__ = ["Call", "child_life", "precompile", "run_call"]

_HOME = os.getcwd()
"""The fork server's working directory (it never changes it): paths in messages are
relative to it, whatever directory the snippet moved to."""


@dataclass(frozen=True, slots=True)
class Call:
    """One snippet call, as the server prepared it for its child."""

    card: SnippetCard
    """The card, its equations compiled by the server."""
    target: str
    """`module.function`."""
    snippets_dir: Path
    """Absolute."""


def child_life(call: Call, answers: int, done: int, *, log: Path, memory_limit: int,
               server: int) -> NoReturn:
    """A forked child's whole life: run `call`, write its outcome to the pool on
    `answers` (with the tail of `log`, which its prints went to), say so to the server
    on `done`, and leave with os._exit (never back into the server's loop, nor through
    the `finally` blocks and atexit handlers the copy inherited)."""
    code = 70
    try:
        server_last = _last_module()
        _prepare(memory_limit, server)
        result = run_call(call, log, server_last)
        write_frame(answers, pack(result))
        os.write(done, b"!")
        code = 0
    except BaseException:  # our bug: said in the log, seen as a death
        with contextlib.suppress(BaseException):
            traceback.print_exc()
            sys.stderr.flush()
    finally:
        os._exit(code)


def _prepare(memory_limit: int, server: int) -> None:
    """What only the child gets: a bound on its memory (a 50 GB allocation is a
    `MemoryError` at once, not a swapping machine), death with its server, its stack
    written to the log on SIGUSR1 (the pool's question when the time runs out), and
    numpy's global generator seeded afresh as in a new interpreter (`random` reseeds
    itself after a fork)."""
    import faulthandler
    import resource
    import signal

    _die_with(server)
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=False)
    if memory_limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    with contextlib.suppress(Exception):
        import numpy

        numpy.random.seed()


def _die_with(server: int) -> None:
    """Linux: the kernel kills this child when its server dies, even by SIGKILL."""
    import signal

    if _LIBC is not None:
        pr_set_pdeathsig = 1
        with contextlib.suppress(Exception):
            _LIBC.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != server:  # the server died before the line above
        os._exit(0)


def _libc() -> Any:
    """The C library, loaded once in the server (for `prctl`); None where there is
    none to load."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True)
    except (ImportError, OSError):
        return None


_LIBC = _libc()


def run_call(call: Call, log: Path, server_last: tuple[str, object] | None = None
             ) -> SnippetOutcome:
    """The call's outcome, with the files of the snippets folder it read and the tail of
    what it printed (stdout and stderr are the server's `log`, emptied before each
    call). `server_last`: see `_files_read`."""
    snippets_dir, target = call.snippets_dir, call.target
    module = _module_path(snippets_dir, target)
    result = _run_snippet(call.card, target, snippets_dir)
    for stream in (sys.__stdout__, sys.__stderr__, sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()  # type: ignore[union-attr]
    files = _files_read(snippets_dir, module, server_last) if module is not None else ()
    return SnippetOutcome(result.status, result.message, result.where, result.traceback,
                          _read_tail(log), result.line, files)


def _files_read(snippets_dir: Path, module: Path, server_last: tuple[str, object] | None
                ) -> tuple[Path, ...]:
    """The snippet's module and every module of the snippets folder loaded since the
    child started, sorted: it started without any of them, so these are the files this
    call read (its imports, direct or not, at import time or inside a function).

    `sys.modules` keeps the order modules were added in, so the new ones are those after
    `server_last`, the server's last entry (name, module): read from the end, a handful
    of entries rather than all of them (each entry read is a page copied from the
    server). If that entry was removed or replaced, every entry is read."""
    prefix = str(snippets_dir) + os.sep
    found = {str(module)}
    for name in reversed(list(sys.modules) if server_last is None else sys.modules):
        loaded = sys.modules.get(name)
        if server_last is not None and name == server_last[0] and loaded is server_last[1]:
            break
        file = getattr(loaded, "__file__", None)
        if isinstance(file, str) and file.startswith(prefix):
            found.add(file)
    return tuple(sorted(Path(name) for name in found))


def _last_module() -> tuple[str, object] | None:
    """The last entry of `sys.modules` (the server's, in a child that has not run
    anything yet)."""
    with contextlib.suppress(StopIteration):
        name = next(reversed(sys.modules))
        return name, sys.modules[name]
    return None


def _read_tail(log: Path) -> str:
    """The end of what this call printed (the log is emptied before each call)."""
    try:
        with log.open("rb") as stream:
            stream.seek(0, os.SEEK_END)
            stream.seek(max(stream.tell() - OUTPUT_LIMIT, 0))
            return stream.read().decode("utf-8", "replace")
    except OSError:
        return ""


# =========================================================================== loading

class _LoadError(Exception):
    """The snippet could not be found or imported: that card's error."""

    def __init__(self, message: str, traceback_text: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.traceback_text = traceback_text


def _module_path(snippets_dir: Path, target: str) -> Path | None:
    """`snippets/pkg/mod.py` for `pkg.mod.function`; None for a malformed target."""
    module_name, _, function_name = target.rpartition(".")
    if not module_name or not function_name:
        return None
    return snippets_dir.joinpath(*module_name.split(".")).with_suffix(".py")


_COMPILED: dict[str, tuple[bytes, CodeType]] = {}
"""Snippet modules' source and bytecode, by path: compiled by the fork server before it
forks a call's child (compiling runs none of the code), so that the children of a
machine that writes no `__pycache__` (PYTHONDONTWRITEBYTECODE) do not each compile the
same file again."""


def precompile(snippets_dir: Path, target: str) -> None:
    """Compile the module of `target` into `_COMPILED` (in the server, before a fork),
    unless it is there already as it is on disk; one that does not compile is left to
    the call, which reports it."""
    path = _module_path(snippets_dir, target)
    if path is None:
        return
    try:
        source = path.read_bytes()
    except OSError:
        return
    known = _COMPILED.get(str(path))
    if known is not None and known[0] == source:
        return
    try:
        code = compile(source, str(path), "exec", dont_inherit=True)
    except Exception:
        return
    _COMPILED[str(path)] = (source, code)


class _Loader(importlib.machinery.SourceFileLoader):
    """The standard loader, which takes the module's bytecode from `_COMPILED` when the
    file is still the source compiled there."""

    def get_code(self, fullname: str) -> CodeType | None:
        known = _COMPILED.get(self.path)
        if known is not None and known[0] == self.get_data(self.path):
            return known[1]
        return super().get_code(fullname)


def _load(snippets_dir: Path, target: str) -> Callable[[Any], object]:
    """The snippet function `target` names, its module imported from `snippets_dir`."""
    path = _module_path(snippets_dir, target)
    if path is None:
        raise _LoadError(f"`check: {target}` should name module.function")
    module_name, _, function_name = target.rpartition(".")
    if not path.is_file():
        raise _LoadError(f"no snippet file {_shown(path)}")
    # Helpers next to the snippets import by their plain name, after the standard
    # library and installed packages (a snippet called `random.py` must not shadow the
    # real one for numpy).
    sys.path.append(str(snippets_dir))
    name = module_name if module_name not in sys.modules \
        else f"_sheets_snippet_{module_name.replace('.', '_')}"
    spec = importlib.util.spec_from_file_location(name, path, loader=_Loader(name, str(path)))
    if spec is None or spec.loader is None:
        raise _LoadError(f"cannot import {_shown(path)}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as error:  # any failure of user code is the card's error
        where, trace = _user_traceback(error, snippets_dir)
        if isinstance(error, SyntaxError) and error.filename:
            where = f"{_shown(Path(error.filename))}:{error.lineno}"
        at = f" ({where})" if where else ""
        raise _LoadError(f"cannot import {_shown(path)}: {_exception_line(error)}{at}",
                         trace) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise _LoadError(f"{_shown(path)} has no function {function_name}")
    return function  # type: ignore[no-any-return]


# =========================================================================== outcomes

def _shown(path: Path) -> str:
    return display_path(path, _HOME)


def _exception_line(error: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(error), error)).strip()
    return one_line(text)


def _user_traceback(error: BaseException, snippets_dir: Path) -> tuple[str | None, str]:
    """(innermost user line as `file:line`, the traceback trimmed to the user's code):
    the frames from the first to the last one in the snippets directory (not the child's
    own above them, nor numpy's insides below them), then the exception."""
    frames = traceback.extract_tb(error.__traceback__)
    prefix = str(snippets_dir) + os.sep
    user = [index for index, frame in enumerate(frames) if frame.filename.startswith(prefix)]
    exception = "".join(traceback.format_exception_only(type(error), error))
    if not user:
        return None, exception
    kept = frames[user[0]:user[-1] + 1]
    for frame in kept:
        frame.filename = _shown(Path(frame.filename))
    innermost = frames[user[-1]]
    where = f"{_shown(Path(innermost.filename))}:{innermost.lineno}"
    text = "Traceback (most recent call last):\n" + "".join(
        traceback.format_list(kept)) + exception
    return where, text


def _failure_text(error: AssertionError, snippets_dir: Path) -> str:
    """The assertion's message, or the `assert` line itself when it has none."""
    message = str(error).strip()
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    actual = next((line for line in lines if line.startswith(("ACTUAL:", "x:"))), None)
    desired = next((line for line in lines if line.startswith(("DESIRED:", "y:"))), None)
    if actual and desired:
        # numpy.testing's report, cut to what a one-line verdict needs (the traceback
        # keeps the whole of it).
        return one_line(f"{lines[0]}; {actual}; {desired}")
    if message:
        return one_line(message)
    frames = traceback.extract_tb(error.__traceback__)
    prefix = str(snippets_dir) + os.sep
    for frame in reversed(frames):
        if frame.filename.startswith(prefix) and frame.line:
            return f"{frame.line.strip()}"
    return "AssertionError"


def _run_snippet(card: SnippetCard, target: str, snippets_dir: Path) -> SnippetOutcome:
    try:
        function = _load(snippets_dir, target)
    except _LoadError as error:
        return SnippetOutcome("error", f"{target}: {error.message}", None, error.traceback_text)
    try:
        returned = function(card)
    except AssertionError as error:
        where, trace = _user_traceback(error, snippets_dir)
        at = f" ({where})" if where else ""
        return SnippetOutcome("fail", f"{target} failed: "
                              f"{_failure_text(error, snippets_dir)}{at}", where, trace)
    except MemoryError as error:
        where, trace = _user_traceback(error, snippets_dir)
        at = f" at {where}" if where else ""
        detail = f": {one_line(str(error))}" if str(error) else ""
        return SnippetOutcome("error", f"{target}: ran out of memory{at}"
                              f"{_memory_limit_text()}{detail}", where, trace)
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
    except BaseException as error:  # anything else a snippet raises is its error
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
