"""Signal handling that only notes the signal; the main thread acts on it.

A handler that set a :class:`threading.Event` itself could be interrupted inside ``Event.set``
by the next signal of a burst (serve's SIGTERM, then the parent-death SIGTERM), and that
signal's handler would then wait, on the very thread that holds it, for the lock the interrupted
one holds: forever. So handlers here append to a list, and the thread that installed them looks.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def noted(signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> Iterator[list[int]]:
    """While inside, ``signals`` are appended to the list yielded; the old handlers come back."""
    received: list[int] = []

    def note(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, note) for sig in signals}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_until_signalled(worker: threading.Thread, stop: threading.Event) -> None:
    """Start ``worker`` and wait for it; SIGINT or SIGTERM sets ``stop``, and the worker ends.

    ``stop`` is set by this (main) thread, never by a handler.
    """
    with noted() as received:
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.2)
                if received and not stop.is_set():
                    stop.set()
        finally:
            stop.set()
            worker.join()
