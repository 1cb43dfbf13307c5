"""SqliteStore: the embedded default, one SQLite file in WAL mode with group commit.

Appends of events skip the per-job savepoints: :mod:`._sqlite_append` writes a whole batch with
a few multi-row statements.

Several processes may write to one database (``serve --workers``, the loader), each through its
own store and writer thread. Every write transaction starts with ``BEGIN IMMEDIATE``, which takes
SQLite's write lock before the first read, so a transaction that reads and then writes (tokens,
quota counters, positions, rate-limit buckets) sees no other process's commit in between.
Writers take turns through the database's write gate first (:mod:`.writegate`), which hands
the lock over at once where SQLite's busy handler would sleep.

The WAL is copied back into the database (checkpointed) by the writer between transactions,
every quarter of a second, rather than by SQLite inside a commit: there it ran under the gate,
copying 16 MB at every thousandth page, and every other writer waited for it. A passive
checkpoint needs no write lock, so another process commits while this one checkpoints. SQLite's
own rule stays as a bound, at 64 MB of WAL, for bursts faster than that.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from supplylake.metrics import observe_store_commit
from supplylake.store._dialect import SQLITE
from supplylake.store._groupcommit import GroupCommitter
from supplylake.store._migrations import migrate
from supplylake.store._sqlite_append import SqliteBulkAppend
from supplylake.store._sqlite_session import FileLeases, SqliteEventWaiter
from supplylake.store._sqlstore import SqlStore
from supplylake.store.base import EventWaiter, Leases
from supplylake.store.writegate import gate_for

T = TypeVar("T")

#: How often the writer checkpoints, at most. SQLite's default (every 1,000 pages, 16 MB here)
#: came every 15 events of 1 MiB; a quarter of a second of them is about as much.
_CHECKPOINT_SECONDS = 0.25
#: SQLite checkpoints inside a commit only past this many pages of WAL (64 MB of 16 KiB pages).
_AUTOCHECKPOINT_PAGES = 4096
#: The writer connection's page cache, in KiB.
_WRITER_CACHE_KIB = 32 * 1024


class SqliteStore(SqlStore):
    """A SQLite database in WAL mode; every write goes through one group-committing thread."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 30_000) -> None:
        self.path = str(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._appends = SqliteBulkAppend()
        # Taken around every write transaction, so that writers of other processes (the
        # loader, other API processes) are handed the database at once (see .writegate).
        self._gate = gate_for(self.path)
        self._writer: GroupCommitter[sqlite3.Connection] = GroupCommitter(
            connect=self._connect_writer,
            begin=self._begin,
            savepoint=lambda c, sql: c.execute(sql),
            commit=self._commit,
            rollback=self._rollback,
            after_commit=self._checkpoint,
            on_commit=observe_store_commit,
        )
        self._checkpointed = 0.0

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

    def _begin(self, conn: sqlite3.Connection) -> None:
        self._gate.acquire()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._gate.release()
            raise

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        """Copy what the WAL gained into the database, at most every few tenths of a second."""
        now = time.monotonic()
        if now - self._checkpointed >= _CHECKPOINT_SECONDS:
            self._checkpointed = now
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _commit(self, conn: sqlite3.Connection) -> None:
        conn.execute("COMMIT")  # if it fails, the rollback that follows lets the gate go
        self._gate.release()

    def _rollback(self, conn: sqlite3.Connection) -> None:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        finally:
            self._gate.release()

    def _connect_writer(self) -> sqlite3.Connection:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = self._open()
        # Only takes effect on a new database. 16 KiB pages halve the system calls that write
        # a large event to the WAL (1 MiB: 64 frames, not 256), at no cost for small ones.
        conn.execute("PRAGMA page_size=16384")
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is fsynced at every commit, so an acknowledged event survives power loss.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA wal_autocheckpoint={_AUTOCHECKPOINT_PAGES}")  # see _checkpoint
        # A multi-row INSERT keeps a statement journal (to undo itself alone should a row
        # fail); past 64 KiB SQLite spilled it to a temporary file, about 18 writes per
        # commit. In memory it holds only pages the statement changed, which existed before.
        conn.execute("PRAGMA temp_store=MEMORY")
        # The pages a commit touches (index edges, the payload table's last pages) stay
        # cached between transactions; SQLite's default is 2 MB, 125 pages of 16 KiB.
        conn.execute(f"PRAGMA cache_size=-{_WRITER_CACHE_KIB}")
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
