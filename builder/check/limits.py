"""A time bound on pure-Python work (sympy), so that one hard step cannot stall a check."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["OutOfTime", "time_limit"]


class OutOfTime(BaseException):
    """BaseException: sympy catches `Exception` in places, and must not swallow this."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt pure-Python work (sympy) after `seconds`. Only the main thread can take
    signals; elsewhere (a server thread) the work runs unbounded."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise OutOfTime

    previous_handler = signal.signal(signal.SIGALRM, interrupt)
    previous_timer = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_timer[0] > 0:  # an outer limit keeps running, minus what we used
            signal.setitimer(signal.ITIMER_REAL, max(previous_timer[0] - seconds, 0.001))

