"""One writer at a time on a SQLite database, handed over at once.

SQLite lets a writer that finds the database locked sleep and try again, for longer and longer.
Beside a writer that commits back to back (the API's group commit under load) the sleeper wakes
to find the lock taken again, and again: a small write waited hundreds of times longer than it
would alone. The loader's catalog commits and status updates were such sleepers, and freshness
paid for it.

So supplylake's writers first take the database's gate, an exclusive ``flock`` on
``<database>.writegate``: a waiter sleeps in the kernel and is woken the moment the holder lets
go, and the holder, busy answering its callers, rarely takes it back first. SQLite's own lock
and busy timeout stay as they are for writers that do not know the gate (other tools). Threads
of one process share one gate object (a ``flock`` is held by an open file, not by a thread).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class WriteGate:
    """The gate of one SQLite database file; a context manager around a write transaction."""

    def __init__(self, database: Path) -> None:
        self.path = Path(str(database) + ".writegate")
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._broken = False
        self._holder: int | None = None

    def acquire(self) -> None:
        self._threads.acquire()
        try:
            fd = self._open()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            # Without the gate, SQLite's lock still keeps writers apart, only less fairly.
            self._give_up(exc)
        except BaseException:
            self._threads.release()
            raise
        self._holder = threading.get_ident()

    def release(self, holder: int | None = None) -> None:
        """Let the gate go if thread `holder` (default: this one) holds it; else do nothing, so
        that a rollback after a failed begin, or a second rollback, is harmless."""
        if self._holder is None or self._holder != (holder or threading.get_ident()):
            return
        self._holder = None
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        except OSError as exc:
            self._give_up(exc)
        finally:
            self._threads.release()

    @property
    def held(self) -> bool:
        """Whether this thread holds the gate."""
        return self._holder == threading.get_ident()

    def __enter__(self) -> WriteGate:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _open(self) -> int | None:
        if self._fd is None and not self._broken:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd

    def _give_up(self, exc: OSError) -> None:
        if not self._broken:
            log.warning(
                "write gate %s unusable, relying on SQLite's lock alone: %s", self.path, exc
            )
        self._broken = True
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


_gates: dict[str, WriteGate] = {}
_gates_lock = threading.Lock()


def gate_for(database: str | Path) -> WriteGate:
    """The process's gate of a SQLite database file (one per file, whatever the path's spelling)."""
    key = os.path.realpath(database)
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            gate = _gates[key] = WriteGate(Path(key))
        return gate
