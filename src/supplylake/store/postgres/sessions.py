"""A loader's own PostgreSQL sessions: leases as advisory locks, and LISTEN for new events.

Leases are session-level advisory locks, ``pg_try_advisory_lock(key)`` with a 64-bit hash of the
lease's name (the one-key form, apart from the store's own two-key locks), on a connection that
does nothing else. PostgreSQL frees them only when the holder unlocks or its session ends, and
a session ends with its process (the kernel closes the socket) or, for a machine that vanished,
after the TCP keepalives below fail. A holder that is slow or paused keeps its lease; nothing
expires on a timer, so two loaders never apply one dataset at once. Two names that hash alike
share a lock, which only serializes them.

The waiter LISTENs on ``supplylake_events``, which every transaction that appends events
NOTIFYs (see :mod:`.append`); PostgreSQL delivers a notification only once its transaction
commits, and one per transaction however many appends it holds.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

import psycopg

from supplylake.store.base import EventWaiter, Leases

log = logging.getLogger(__name__)

CHANNEL = "supplylake_events"

#: libpq's keepalives (the client notices a dead server) and the server's (it ends the session
#: of a client that vanished, freeing its leases): idle 5 s, then 2 probes 2 s apart.
_KEEPALIVE: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 2,
}
_SERVER_KEEPALIVE = (
    "SET tcp_keepalives_idle = 5",
    "SET tcp_keepalives_interval = 2",
    "SET tcp_keepalives_count = 2",
)


def lease_key(name: str) -> int:
    """The advisory lock key of a lease: a signed 64-bit hash of its name."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), signed=True)


def _connect(url: str, application_name: str, connect_timeout: int) -> psycopg.Connection[Any]:
    conn = psycopg.connect(
        url,
        autocommit=True,
        application_name=application_name[:63],
        connect_timeout=connect_timeout,
        **_KEEPALIVE,
    )
    for statement in _SERVER_KEEPALIVE:
        conn.execute(statement)
    # A DBA's idle_session_timeout would end the session, and with it the leases, while idle.
    if conn.info.server_version >= 140000:
        conn.execute("SET idle_session_timeout = 0")
    return conn


class PostgresLeases(Leases):
    """Advisory-lock leases on one dedicated connection; not for use from several threads."""

    def __init__(self, url: str, owner: str, connect_timeout: int = 10) -> None:
        self._url = url
        self._owner = owner
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._held: set[str] = set()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is not None and (self._conn.closed or self._conn.broken):
            self._lost()
        if self._conn is None:
            self._conn = _connect(
                self._url, f"supplylake-leases {self._owner}", self._connect_timeout
            )
        return self._conn

    def _lost(self) -> None:
        """The session ended: every lease it held is gone (another session may have it now)."""
        if self._held:
            log.warning("lease session lost; leases dropped: %s", sorted(self._held))
        self._held.clear()
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def try_acquire(self, name: str) -> bool:
        if name in self._held:
            return True
        try:
            row = (
                self._connection()
                .execute("SELECT pg_try_advisory_lock(%s)", (lease_key(name),))
                .fetchone()
            )
        except psycopg.OperationalError:
            self._lost()
            return False
        if row is not None and row[0]:
            self._held.add(name)
            return True
        return False

    def release(self, name: str) -> None:
        if name not in self._held:
            return
        self._held.discard(name)
        try:
            assert self._conn is not None
            self._conn.execute("SELECT pg_advisory_unlock(%s)", (lease_key(name),))
        except psycopg.OperationalError:
            self._lost()

    def holds(self, name: str) -> bool:
        if name not in self._held or self._conn is None:
            return False
        try:
            # The session answers, so it is the one that took the lock: it still holds it.
            self._conn.execute("SELECT 1")
        except psycopg.OperationalError:
            self._lost()
            return False
        return True

    def close(self) -> None:
        self._held.clear()
        if self._conn is not None:
            self._conn.close()  # ends the session: PostgreSQL frees its locks
            self._conn = None


class PostgresEventWaiter(EventWaiter):
    """LISTEN on a dedicated connection; reconnects (and reports a wake-up) when it drops."""

    def __init__(self, url: str, connect_timeout: int = 10) -> None:
        self._url = url
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        conn = _connect(self._url, "supplylake-loader-listen", self._connect_timeout)
        conn.execute(f"LISTEN {CHANNEL}")
        return conn

    def wait(self, timeout: float) -> bool:
        started = time.monotonic()
        try:
            if self._conn is None:
                self._conn = self._connection()
                return True  # events committed while not listening were not notified
            woke = any(True for _ in self._conn.notifies(timeout=timeout, stop_after=1))
            if woke:
                # Notifications of the batches that committed meanwhile: one wake-up for all.
                for _ in self._conn.notifies(timeout=0.0):
                    pass
            return woke
        except psycopg.Error as exc:
            log.warning("event listener lost its connection, reconnecting: %s", exc)
            self.close()
            # Not a busy loop while the server is away.
            time.sleep(max(0.0, min(1.0, timeout - (time.monotonic() - started))))
            return True

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
