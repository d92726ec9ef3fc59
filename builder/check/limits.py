"""A time bound on pure-Python work (sympy), so that one hard step cannot stall a check."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator

__all__ = ["OutOfTime", "time_limit"]


class OutOfTime(BaseException):
    """BaseException: sympy catches `Exception` in places, and must not swallow this."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt pure-Python work (sympy) after `seconds`, or sooner when an outer limit
    ends first (the inner one then raises in its stead, and the outer one as soon as
    control is back in its block). Only the main thread can take signals; elsewhere (a
    server thread) the work runs unbounded."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise OutOfTime

    previous_handler = signal.signal(signal.SIGALRM, interrupt)
    outer = signal.getitimer(signal.ITIMER_REAL)[0]  # what an outer limit has left
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, min(seconds, outer) if outer > 0 else seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if outer > 0:  # the outer limit keeps running, minus what we used
            used = time.monotonic() - started
            signal.setitimer(signal.ITIMER_REAL, max(outer - used, 0.001))

