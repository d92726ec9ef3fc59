"""What crosses the pipes between the snippet pool, its fork servers and their children:
length-prefixed pickles, and the messages they carry.

A server says `Ready` once, when it has imported what snippets use. The pool then
sends it `(card, target, snippets_dir)` per call; the call's child answers the pool
itself with a `SnippetOutcome`, or the server says `ChildDied` when the child ended
without one. Also here: the two text helpers both sides use to word a message.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from builder.model import Status

__all__ = ["OUTPUT_LIMIT", "ChildDied", "FrameReader", "Ready", "SnippetOutcome",
           "display_path", "one_line", "pack", "read_frame", "unpack", "write_frame"]

OUTPUT_LIMIT = 4000
"""How much of what a snippet printed is kept (its tail), in characters."""
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
    local module it imported (directly or not), absolute."""


@dataclass(frozen=True, slots=True)
class Ready:
    """The server has started and imported what snippets use: from now on a call's
    time is the snippet's (the timeout counts from sending it)."""


@dataclass(frozen=True, slots=True)
class ChildDied:
    """The child ended without an outcome (os._exit, a signal, a C library's exit())."""

    status: int
    """As `Popen.returncode` gives it: the exit status, or minus the signal's number."""


def pack(message: object) -> bytes:
    """`message` as one frame: its pickle after its length."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def write_frame(fd: int, frame: bytes) -> None:
    """Write a whole frame (from `pack`, or relayed as read) to `fd`."""
    view = memoryview(frame)
    while view:
        view = view[os.write(fd, view):]


def read_frame(fd: int) -> bytes | None:
    """The next whole frame from `fd` (header included, so it can be relayed as is);
    None at the end of the pipe."""
    header = _read_exactly(fd, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    data = _read_exactly(fd, size)
    return None if data is None else header + data


def unpack(frame: bytes) -> object:
    """The message of a frame from `read_frame`."""
    message: object = pickle.loads(frame[_HEADER.size:])
    return message


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = os.read(fd, size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


class FrameReader:
    """The messages arriving on a pipe, each waited for until a deadline (the pool's
    side: a server that does not answer in time is stopped)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""

    def receive(self, deadline: float) -> object | None:
        """The next message; None when the other side closed its end (it died);
        TimeoutError past `deadline` (a `time.monotonic()` value)."""
        while True:
            if len(self._buffer) >= _HEADER.size:
                (size,) = _HEADER.unpack_from(self._buffer)
                end = _HEADER.size + size
                if len(self._buffer) >= end:
                    frame, self._buffer = self._buffer[:end], self._buffer[end:]
                    return unpack(frame)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self._fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                return None
            self._buffer += chunk


def display_path(path: Path, start: str | None = None) -> str:
    """A path as a user would type it: relative to the current directory (or `start`)
    when under it or one or two levels beside it (`../snippets/m.py` from `sheets/`),
    else absolute."""
    with contextlib.suppress(OSError):
        start = start or os.getcwd()
    if start is None:  # the current directory was removed
        return str(path)
    with contextlib.suppress(ValueError):
        return str(path.relative_to(start))
    with contextlib.suppress(ValueError):
        relative = os.path.relpath(path, start)
        if not relative.startswith(os.path.join(os.pardir, os.pardir, os.pardir)):
            return relative
    return str(path)


def one_line(text: str) -> str:
    """`text` on one line (its lines joined by `; `), cut to a message's length."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    joined = "; ".join(line for line in lines if line)
    return joined if len(joined) <= _MESSAGE_LIMIT else joined[:_MESSAGE_LIMIT - 1] + "…"
