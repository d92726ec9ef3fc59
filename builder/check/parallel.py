"""The derivations of many cards checked in forked children, one per core, with the
results a serial check gives (`Derivers`)."""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import struct
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, Self

from builder.check.compare import StepVerdict
from builder.check.plan import (
    Derivation,
    Skipped,
    Step,
    derivation_plan,
    finish,
    internal_error,
)
from builder.library import library_checks, linked_entries, prepare_library
from builder.model import Card, CheckResult

__all__ = ["LOST", "PARALLEL_CARDS", "Derivers"]


PARALLEL_CARDS = 8
"""Cards with derivations below which forking children costs more than it saves."""
LOST = "not checked: the process checking this card ended"
"""The start of the message of a check whose process died: such a result is not cached."""
_HEADER = struct.Struct("!I")


def _parallel_processes(count: int, processes: int | None) -> int:
    """How many children should check `count` cards' derivations: none (serial) for few
    cards, one core, no `fork`, or outside the main thread or beside other threads
    (SIGALRM bounds each step only in a main thread, and a fork copies the locks other
    threads hold, never their owners)."""
    wanted = processes if processes is not None else (os.cpu_count() or 1)
    if count < PARALLEL_CARDS or wanted < 2 or not hasattr(os, "fork") \
            or threading.current_thread() is not threading.main_thread() \
            or threading.active_count() > 1:
        return 0
    return min(wanted, count)


class Derivers:
    """The derivation checks of the cards `indices` (into `cards`). With enough of them,
    forked children (one per core) take the next card from a shared pipe, compile it and
    compare its claims, sending back `(card, key, payload)` frames: `"take"` when they
    start on it, `"plan"` (its plan, without sympy's expressions: they do not pickle),
    `"failed"` (why compiling raised), and for each step `"start"`, then its verdict (or
    why it raised). Compiling is thus shared out as the comparing is (done here before
    forking, it was a quarter of a cold check, serially). sympy and the compiler are
    imported before the fork: the children start warm. A step whose child died on it is
    an `error`, as is a card whose compiling it died on; steps of a card a child died in
    that were not started are compared here, cards no child took are left to the
    caller. Children are killed on the way out (Ctrl-C, an error here), never left
    behind. Serial: `results()` is empty and the caller checks each card itself."""

    def __init__(self, cards: Sequence[Card], indices: Sequence[int],
                 processes: int | None) -> None:
        self.cards = cards
        self.indices = list(indices)
        self.count = _parallel_processes(len(self.indices), processes)
        self.children: dict[int, int] = {}  # pid → read end of its result pipe

    def __enter__(self) -> Self:
        if not self.count:
            return self
        # Imported before the fork, so the children start warm (the compiler, imported
        # with this module, imports sympy only when first used). Not sympy's units,
        # which simplify() imports on its first call: proofs rarely get that far
        # (`_proved_equal`), and a child that does imports them itself.
        import sympy  # noqa: F401

        prepare_library()  # the entries loaded once, here, for every child
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        queue_read, queue_write = os.pipe()
        # Every job up front, 4 bytes each: a pipe read of 4 bytes is atomic, so each
        # child takes whole jobs, the next free one when it is ready.
        queue = b"".join(_HEADER.pack(index) for index in self.indices)
        os.set_blocking(queue_write, False)
        try:
            written = os.write(queue_write, queue)
        except OSError:
            written = 0
        os.close(queue_write)
        if written != len(queue):  # more than a pipe holds: checked by the caller
            os.close(queue_read)
            return self
        try:
            for _ in range(self.count):
                result_read, result_write = os.pipe()
                _widen(result_write)
                pid = os.fork()
                if pid == 0:  # the child: never returns
                    os.close(result_read)
                    for other in self.children.values():
                        os.close(other)
                    _derive_in_child(self.cards, queue_read, result_write)
                os.close(result_write)
                self.children[pid] = result_read
        except BaseException:
            self._kill()
            raise
        finally:
            os.close(queue_read)
        return self

    def results(self) -> dict[int, Derivation]:
        """Each card's derivation, once every child is done; cards no child took are
        missing."""
        if not self.children:
            return {}
        taken: set[int] = set()
        plans: dict[int, list[Step | Skipped]] = {}
        failed: dict[int, str] = {}  # card → why compiling it or a step raised
        verdicts: dict[tuple[int, int], StepVerdict | str] = {}
        started: set[tuple[int, int]] = set()
        library: dict[int, tuple[CheckResult, ...]] = {}
        for index, key, payload in self._frames():
            if key == "take":
                taken.add(index)
            elif key == "library":
                library[index] = payload
            elif key == "plan":
                plans[index] = payload
            elif key == "failed":
                failed[index] = payload
            elif payload == "start":
                started.add((index, key))
            else:
                verdicts[index, key] = payload
        ending = ", ".join(sorted(set(self._reap()))) or "unexpectedly"
        done: dict[int, Derivation] = {}
        for index in self.indices:
            card = self.cards[index]
            if index in failed:
                done[index] = Derivation(reasons=(failed[index],))
            elif index in plans:
                done[index] = replace(self._finish_card(index, plans[index], verdicts,
                                                        started, ending),
                                      library=library.get(index))
            elif index in taken:  # its child died compiling it
                done[index] = Derivation((CheckResult("derivation", "error", card.loc,
                                                      f"{LOST} ({ending})"),))
        return done

    def _finish_card(self, index: int, plan: list[Step | Skipped],
                     verdicts: Mapping[tuple[int, int], StepVerdict | str],
                     started: set[tuple[int, int]], ending: str
                     ) -> Derivation:
        found: list[StepVerdict | CheckResult] = []
        here: list[Step] | None = None  # the plan compiled here, for steps no child took
        for number, step in enumerate(item for item in plan if isinstance(item, Step)):
            verdict = verdicts.get((index, number))
            if verdict is None and (index, number) in started:
                found.append(CheckResult("derivation", "error", step.loc,
                                         f"{step.label}: {LOST} ({ending})"))
                continue
            if verdict is None:
                try:
                    if here is None:
                        here = [item for item in derivation_plan(self.cards[index])
                                if isinstance(item, Step)]
                    verdict = here[number].verdict()
                except Exception as error:
                    verdict = internal_error(error)
            if isinstance(verdict, str):
                return Derivation(reasons=(verdict,))
            found.append(verdict)
        return finish(plan, found)

    def _frames(self) -> Iterator[tuple[int, Any, Any]]:
        """Every frame the children send, until each has closed its pipe."""
        buffers = {fd: bytearray() for fd in self.children.values()}
        open_fds = set(buffers)
        while open_fds:
            ready, _, _ = select.select(list(open_fds), [], [])
            for fd in ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    open_fds.discard(fd)
                    continue
                buffer = buffers[fd]
                buffer += chunk
                while len(buffer) >= _HEADER.size:
                    (size,) = _HEADER.unpack_from(buffer)
                    if len(buffer) < _HEADER.size + size:
                        break
                    frame = pickle.loads(bytes(buffer[_HEADER.size:_HEADER.size + size]))
                    del buffer[:_HEADER.size + size]
                    yield frame

    def _reap(self) -> list[str]:
        """Wait for every child; how those that did not end normally ended."""
        endings = []
        for pid, fd in list(self.children.items()):
            with contextlib.suppress(OSError):
                os.close(fd)
            _, status = os.waitpid(pid, 0)
            if os.WIFSIGNALED(status):
                endings.append(f"signal {os.WTERMSIG(status)}")
            elif os.WEXITSTATUS(status) != 0:
                endings.append(f"exit status {os.WEXITSTATUS(status)}")
            del self.children[pid]
        return endings

    def _kill(self) -> None:
        for pid in self.children:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self._reap()

    def __exit__(self, *exc: object) -> None:
        self._kill()


def _widen(pipe: int) -> None:
    """Room in a result pipe for the frames a child sends while the parent runs the
    snippets (Linux; elsewhere the child waits for the parent to read)."""
    with contextlib.suppress(ImportError, AttributeError, OSError):
        import fcntl

        fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, 1 << 20)


def _without_expressions(item: Step | Skipped) -> Step | Skipped:
    """A plan item as a child sends it: sympy's expressions (which may hold classes made
    at run time, and do not pickle) are left out; the parent reports from the LaTeX."""
    if isinstance(item, Skipped):
        return item
    return replace(item, left=replace(item.left, expr=None),
                   right=replace(item.right, expr=None), definitions=())


def _derive_in_child(cards: Sequence[Card], queue: int, out: int) -> None:
    """A forked child's whole life: compile the cards it takes from `queue` and compare
    their claims, sending each plan and verdict (or why it raised) to `out`
    (`Derivers`), and leave with os._exit (never back into the parent's code, its
    `finally` blocks or atexit handlers)."""
    code = 1
    try:
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: just gone

        def send(index: int, key: str | int, payload: object) -> None:
            data = pickle.dumps((index, key, payload), protocol=pickle.HIGHEST_PROTOCOL)
            view = memoryview(_HEADER.pack(len(data)) + data)
            while view:
                view = view[os.write(out, view):]

        while True:
            taken = os.read(queue, _HEADER.size)
            if len(taken) < _HEADER.size:
                break
            (index,) = _HEADER.unpack(taken)
            send(index, "take", None)
            try:
                plan = derivation_plan(cards[index])
            except Exception as error:
                send(index, "failed", internal_error(error))
                continue
            send(index, "plan", [_without_expressions(item) for item in plan])
            decided = failed = False
            for number, step in enumerate(item for item in plan if isinstance(item, Step)):
                send(index, number, "start")
                try:
                    verdict: StepVerdict | str = step.verdict()
                except Exception as error:
                    verdict = internal_error(error)
                decided |= not isinstance(verdict, str) and verdict.status != "unchecked"
                failed |= not isinstance(verdict, str) and verdict.status in ("fail", "error")
                send(index, number, verdict)
            # The library, here where the card's equations are compiled already: it
            # recognises a card nothing else checks (no step decided, no snippet).
            card = cards[index]
            snippets = len(card.checks) > len(linked_entries(card))
            send(index, "library", library_checks(card, recognise=not decided
                                                  and not snippets,
                                                  confirm=decided and not failed
                                                  and not snippets))
        code = 0
    finally:
        os._exit(code)

