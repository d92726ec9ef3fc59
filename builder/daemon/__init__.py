"""The daemon: one long-lived process that `sheets build` and `sheets check` hand their
work to, as `dmypy` does for mypy (docs/format.md §2, `sheets daemon`).

A run started from the shell pays, before it reads a sheet, for Python's start and its
imports (markdown-it, jinja2, and sympy once a card must be checked again), for a new
MathJax and for new snippet workers: 0.3–1 s on a big sheet after a one-card edit. The
daemon has all of that loaded and running, and keeps it between runs. What a run
decides is still decided by the run (the caches on disk, the sheet's bytes), so a run
handed to the daemon prints, writes and exits exactly as it would alone.

- `client.handed_off` is what `python -m builder` calls first: it imports nothing of the
  stages, and hands the run over only when a daemon of this same installation is
  listening, else says None and the run goes on in its own process.
- `server.serve` listens on the socket and runs each request through the command line's
  `main` in the requester's folder and environment, streaming its output back.

The socket (`socket_path`) is the user's alone: it lives in a folder only the user can
enter, and the daemon serves only connections from its own user.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

__all__ = ["SERVED_COMMANDS", "listening", "private_folder", "socket_path"]

SERVED_COMMANDS = frozenset({"build", "check"})
"""The commands a daemon runs; the others (preview, doctor, init…) always run alone."""


def socket_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the user's daemon listens: `$XDG_RUNTIME_DIR/sheets/daemon.sock` (the
    folder the desktop session gives the user for sockets), else
    `$TMPDIR/sheets-UID/daemon.sock`."""
    env = os.environ if environ is None else environ
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime):
        return Path(runtime) / "sheets" / "daemon.sock"
    temporary = env.get("TMPDIR", "")
    base = temporary if temporary and os.path.isabs(temporary) else "/tmp"
    return Path(base) / f"sheets-{os.getuid()}" / "daemon.sock"


def private_folder(folder: Path, *, create: bool) -> bool:
    """Whether `folder` is the user's alone (owned by them, entered by nobody else):
    the only kind of folder a daemon's socket may be in. With `create`, makes it (mode
    0700) when it is missing."""
    if create:
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            return False
    try:
        found = folder.lstat()
    except OSError:
        return False
    return (stat.S_ISDIR(found.st_mode) and found.st_uid == os.getuid()
            and found.st_mode & 0o077 == 0)


def listening(path: Path) -> bool:
    """Whether a daemon answers at `path` (a socket left by one that was killed does
    not)."""
    import socket

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect(str(path))
    except OSError:
        return False
    return True
