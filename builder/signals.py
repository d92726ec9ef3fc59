"""Stop signals as Ctrl-C: for the command line's long jobs (a PDF build's Chromium, the
preview's server and checker), whose `finally` blocks must run however they are
stopped."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["stop_signals_as_interrupt"]


@contextmanager
def stop_signals_as_interrupt() -> Iterator[None]:
    """SIGTERM (`kill`) and SIGHUP (a closed terminal) stop the program as Ctrl-C does:
    as a KeyboardInterrupt in the main thread, so that the `finally` blocks that stop
    Chromium, the preview's server and its checker, and remove temporary files run
    (the signals' default action ended the process at once, leaving them behind). Only
    the first one interrupts; later ones are ignored while the program shuts down.
    Outside the main thread, does nothing."""
    stopping = False

    def interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    stop_signals = [signal.SIGTERM]
    if hasattr(signal, "SIGHUP"):  # not on Windows
        stop_signals.append(signal.SIGHUP)
    try:
        previous = {signum: signal.signal(signum, interrupt) for signum in stop_signals}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
