"""A loader's sessions on SQLite: leases as file locks, and waking on other connections' commits.

Every process that shares a SQLite database runs on its machine, so a lease is an exclusive
``flock`` on a file of its own in ``<database>.leases/``, held open by the session. The kernel
frees it when the holder releases it, closes the session or dies, never on a timer: the same
guarantees as PostgreSQL's advisory locks, across the processes of one machine. (``flock``
locks belong to an open file, so two sessions of one process exclude each other too.)

The waiter reads ``PRAGMA data_version``, which changes when another connection commits: a
cheap look at shared memory every few milliseconds instead of a query for pending events.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sqlite3
import time
from pathlib import Path

from supplylake.store.base import EventWaiter, Leases

_WAIT_STEP_SECONDS = 0.02


class SqliteLeases(Leases):
    """Leases as ``flock``-ed files in a folder beside the database."""

    def __init__(self, folder: Path, owner: str) -> None:
        self._folder = folder
        self._owner = owner
        self._held: dict[str, int] = {}

    def _path(self, name: str) -> Path:
        return self._folder / (hashlib.sha256(name.encode()).hexdigest()[:32] + ".lock")

    def try_acquire(self, name: str) -> bool:
        if name in self._held:
            return True
        path = self._path(name)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:  # the first lease of this database (or the folder was removed)
            self._folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        # For operators: who holds it. The lock, not this text, is what counts: failing to
        # write it (a full disk) must not fail the lease, nor leak the locked descriptor, which
        # would keep this very process out of the dataset until it restarts.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{self._owner}\n{name}\n".encode(), 0)
        self._held[name] = fd
        return True

    def release(self, name: str) -> None:
        fd = self._held.pop(name, None)
        if fd is not None:
            os.close(fd)  # closing the only descriptor of the open file drops its flock

    def holds(self, name: str) -> bool:
        return name in self._held

    def close(self) -> None:
        for name in list(self._held):
            self.release(name)


class SqliteEventWaiter(EventWaiter):
    """Polls ``PRAGMA data_version`` on a connection of its own."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._version = self._read()

    def _read(self) -> int:
        row = self._conn.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            version = self._read()
            if version != self._version:
                self._version = version
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(_WAIT_STEP_SECONDS, left))

    def close(self) -> None:
        self._conn.close()
