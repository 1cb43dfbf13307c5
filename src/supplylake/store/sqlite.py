"""SqliteStore: the embedded default, one SQLite file in WAL mode with group commit.

Appends of events skip the per-job savepoints: :mod:`._sqlite_append` writes a whole batch with
a few multi-row statements.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from supplylake.store._append import AppendItem
from supplylake.store._dialect import SQLITE
from supplylake.store._groupcommit import Batched, GroupCommitter
from supplylake.store._migrations import migrate
from supplylake.store._sqlite_append import SqliteBulkAppend
from supplylake.store._sqlite_session import FileLeases, SqliteEventWaiter
from supplylake.store._sqlstore import SqlStore
from supplylake.store.base import AppendResult, EventWaiter, IdempotencyKey, Leases, NewEvent

T = TypeVar("T")


class SqliteStore(SqlStore):
    """A SQLite database in WAL mode; every write goes through one group-committing thread."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 30_000) -> None:
        self.path = str(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._appends = SqliteBulkAppend()
        self._writer: GroupCommitter[sqlite3.Connection] = GroupCommitter(
            connect=self._connect_writer,
            begin=lambda c: c.execute("BEGIN IMMEDIATE"),
            savepoint=lambda c, sql: c.execute(sql),
            commit=lambda c: c.execute("COMMIT"),
            rollback=lambda c: c.execute("ROLLBACK") if c.in_transaction else None,
        )

    # -- connections ----------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=self._busy_timeout_ms / 1000,
        )
        conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _connect_writer(self) -> sqlite3.Connection:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = self._open()
        # Only takes effect on a new database. 16 KiB pages halve the system calls that write
        # a large event to the WAL (1 MiB: 64 frames, not 256), at no cost for small ones.
        conn.execute("PRAGMA page_size=16384")
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is fsynced at every commit, so an acknowledged event survives power loss.
        conn.execute("PRAGMA synchronous=FULL")
        migrate(conn, SQLITE)
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _read(self, fn: Callable[[Any], T]) -> T:
        return fn(self._reader())

    def _submit(self, fn: Callable[[Any], T]) -> Future[T]:
        return self._writer.submit(fn)

    def append_event(
        self, event: NewEvent, idem: IdempotencyKey | None, max_pending: int
    ) -> Future[AppendResult]:
        # Appends of one transaction are written together (see ._sqlite_append).
        return self._writer.submit(self._append_job(event, idem, max_pending))

    async def append_event_async(
        self, event: NewEvent, idem: IdempotencyKey | None, max_pending: int
    ) -> AppendResult:
        return await self._writer.submit_async(self._append_job(event, idem, max_pending))

    def _append_job(
        self, event: NewEvent, idem: IdempotencyKey | None, max_pending: int
    ) -> Batched[sqlite3.Connection]:
        return Batched(self._appends, AppendItem(event, idem, max_pending))

    def close(self) -> None:
        self._writer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    def open_leases(self, owner: str) -> Leases:
        return FileLeases(Path(self.path + ".leases"), owner)

    def open_event_waiter(self) -> EventWaiter:
        return SqliteEventWaiter(self.path)
