"""A snippet worker: a fork server, started by the pool as `python -m
builder.runner.server LOG MEMORY_LIMIT PARENT_PID`.

It imports numpy, sympy and the formula compiler (and compiles formulas of its own, so
that the lazily imported parts are loaded too), then never runs user code: each call
is run by a child forked from it (builder/runner/child.py), which starts warm, as a
copy that shares the server's memory until it writes to it, and takes whatever the
snippet changed with it when it exits.

The server says `Ready` once warm. For each call read from stdin, it compiles the
card's equations (our compiler on the sheet's LaTeX: its caches stay warm from card to
card, and the child only evaluates), empties the log and forks the call's child, which
writes its outcome to the pool itself (one process fewer to wake on the way) and then
tells the server so on a pipe of its own. A child that ends without doing so (a crash,
os._exit) is reported by the server as `ChildDied(status)`: the server lives on, and
the pool reads the child's last words in the log. Timeouts are the pool's: it asks for
the child's stack (SIGUSR1 to the group: the child's faulthandler answers, the server
ignores it) and kills the server's process group, children and what they started
included.

The server and its children are one process group, the leader of its own session (so
one `killpg` takes everything, and a Ctrl-C in the terminal reaches only the pool's
process); no core files, one BLAS thread (set by the pool), the server dies with the
pool's process (PR_SET_PDEATHSIG) and each child with its server; what snippets print
goes to the log, never to the protocol pipes, which children close.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
from pathlib import Path
from typing import cast

from builder.model import Card
from builder.runner.card import compiled_card
from builder.runner.child import Call, child_life, precompile
from builder.runner.protocol import ChildDied, Ready, pack, read_frame, unpack, write_frame

__all__ = ["main", "serve"]


class _Child:
    """The child forked for one call, seen from the server."""

    def __init__(self, call: Call, *, answers: int, requests: int, log: Path,
                 memory_limit: int) -> None:
        done_read, done_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(done_read)
            os.close(requests)
            child_life(call, answers, done_write, log=log, memory_limit=memory_limit,
                       server=os.getppid())
        os.close(done_write)
        self.pid = pid
        self._done = done_read
        self._status: int | None = None

    def answered(self) -> bool:
        """Wait until the child has answered the pool (True) or ended without an
        answer (False)."""
        try:
            return os.read(self._done, 1) == b"!"
        finally:
            os.close(self._done)

    def reap(self) -> int:
        """Wait for the child to end: its exit status, or minus its signal's number."""
        if self._status is None:
            _, status = os.waitpid(self.pid, 0)
            self._status = os.waitstatus_to_exitcode(status)
        return self._status


def _protocol_pipes(log: Path) -> tuple[int, int]:
    """Private copies of stdin and stdout for the protocol; fds 1 and 2 then write to
    the log, so that prints (the children's, and any program they start) never corrupt
    the pipe, and fd 0 reads nothing."""
    requests, answers = os.dup(0), os.dup(1)
    log_fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(null)
    os.close(log_fd)
    return requests, answers


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this server when the pool's process dies, even by
    SIGKILL, so an infinite loop never outlives `sheets check`."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(0)


_WARM_UP: tuple[tuple[str, dict[str, list[float] | float]], ...] = (
    (r"y_k = \frac{e^{a_k}}{\sum_i e^{a_i}}", {"a": [0.25, 0.75]}),
    (r"D = \sum_i p_i \log \frac{p_i}{q_i} + \sqrt{x} \max(x, 1) \tanh(x)",
     {"p": [0.25, 0.75], "q": [0.75, 0.25], "x": 2.0}))
"""Formulas of the common shapes (indexed names under a sum, fractions, the usual
functions): compiling them loads the parts of the compiler and sympy imported on
first use."""


def _warm_up() -> None:
    """Import what snippets use, so that no child pays for it: numpy (its testing
    helpers, its random generators), sympy, and the compiler's lazily loaded parts, by
    compiling and evaluating `_WARM_UP`. Our code only: nothing here comes from the
    snippets folder."""
    with contextlib.suppress(Exception):
        import numpy
        import numpy.random
        import numpy.testing
    with contextlib.suppress(Exception):
        import sympy  # noqa: F401
    from builder.model import Card, Equation, SourceLoc
    from builder.runner.card import SnippetCard

    here = SourceLoc(Path("warm-up.md"), 1)
    for tex, values in _WARM_UP:
        with contextlib.suppress(Exception):
            card = Card("warm-up", (Equation(tex, here),), (), (), None, (), (), here, 0)
            SnippetCard(card).eq(**{name: numpy.asarray(value)
                                    for name, value in values.items()})


def serve(log: Path, memory_limit: int, parent: int) -> int:
    """The server's loop: say `Ready`; then for each call, compile the card's
    equations, fork the call's child (which answers the pool itself), and say
    `ChildDied` when it ended without an answer."""
    import faulthandler
    import resource

    requests, answers = _protocol_pipes(log)
    faulthandler.enable(file=sys.stderr, all_threads=False)
    # The pool asks a child that runs out of time for its stack with SIGUSR1 to the
    # group: each child registers faulthandler for it, the server ignores it.
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    _die_with_parent(parent)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _warm_up()
    gc.collect()
    write_frame(answers, pack(Ready()))
    previous: _Child | None = None
    while True:
        request = read_frame(requests)
        if request is None:
            if previous is not None:
                previous.reap()
            return 0
        card, target, snippets_dir = cast(tuple[Card, str, str], unpack(request))
        call = Call(compiled_card(card), target, Path(snippets_dir))
        precompile(call.snippets_dir, target)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os.ftruncate(1, 0)
        if previous is not None:
            previous.reap()  # ended long ago, most likely: not while the pool waited
        # What is loaded now stays out of the collector's sight: a child's collections
        # then do not touch (and so copy) the server's objects.
        gc.freeze()
        child = _Child(call, answers=answers, requests=requests, log=log,
                       memory_limit=memory_limit)
        if not child.answered():
            write_frame(answers, pack(ChildDied(child.reap())))
        previous = child


def main(argv: list[str] | None = None) -> int:
    """`python -m builder.runner.server LOG MEMORY_LIMIT PARENT_PID` (started by
    SnippetPool)."""
    args = sys.argv[1:] if argv is None else argv
    return serve(Path(args[0]), int(args[1]), int(args[2]))


if __name__ == "__main__":
    # No interpreter teardown (numpy's and sympy's modules, seconds of nothing on a
    # loaded machine): the log is all there is to flush.
    code = main()
    sys.stderr.flush()
    os._exit(code)
