"""The requesting side: what `python -m builder` tries before it imports the stages.

A request is one line of JSON (the command line, the folder and environment it was
given in, and the installation it came from); the daemon answers with lines of JSON,
each `{"stdout": text}`, `{"stderr": text}`, and last `{"exit": code}`, or
`{"refused": why}` first when it will not run it (another installation, or code that
changed since it started), and the run then goes on here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from builder.daemon import SERVED_COMMANDS, private_folder, socket_path

if TYPE_CHECKING:
    import socket

__all__ = ["PACKAGE", "handed_off", "request"]

PACKAGE = str(Path(__file__).resolve().parents[1])
"""This installation's package folder: a daemon serves only its own."""

OFF = "SHEETS_DAEMON"
"""`SHEETS_DAEMON=off` keeps a run in its own process even while a daemon listens."""


def handed_off(argv: Sequence[str]) -> int | None:
    """Run `sheets ARGV` in the user's daemon and return its exit code, having printed
    what it printed; None when no daemon of this installation takes it (none listening,
    another command, `SHEETS_DAEMON=off`, or the daemon refused it): then run it here."""
    if not argv or argv[0] not in SERVED_COMMANDS or os.environ.get(OFF) == "off":
        return None
    path = socket_path()
    if not path.exists() or not private_folder(path.parent, create=False):
        return None
    import socket  # (only now: a run with no daemon to hand over to pays for none of it)

    try:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.connect(str(path))
    except OSError:  # a socket left by a daemon that was killed
        return None
    with connection:
        return _answered(connection, request(list(argv)))


def request(argv: list[str]) -> dict[str, object]:
    """The request that runs `sheets ARGV` as this process would."""
    return {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "package": PACKAGE}


def _answered(connection: socket.socket, asked: dict[str, object]) -> int | None:
    import json

    try:
        connection.sendall(json.dumps(asked).encode() + b"\n")
        answers = connection.makefile("rb")
    except OSError:
        return None
    said_something = False
    try:
        for line in answers:
            frame = json.loads(line)
            if "refused" in frame:
                return None
            if "exit" in frame:
                return int(frame["exit"])
            for name, stream in (("stdout", sys.stdout), ("stderr", sys.stderr)):
                if name in frame:
                    said_something = True
                    _write(stream, str(frame[name]))
    except _ReaderGone:  # our reader stopped reading (`| head`): as `cli.run` does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError, TypeError, KeyError):
        pass
    if not said_something:
        return None  # it went away before it began: the run is done here instead
    print("sheets: the daemon stopped during the run; run the command again",
          file=sys.stderr)
    return 2


class _ReaderGone(Exception):
    """What reads our output stopped reading it."""


def _write(stream: TextIO, text: str) -> None:
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        raise _ReaderGone from None
