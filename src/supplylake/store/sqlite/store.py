"""SqliteStore: the embedded default, one SQLite file in WAL mode with group commit.

Appends of events skip the per-job savepoints: :class:`.append.SqliteAppend` writes a whole
batch with a few multi-row statements.

Several processes may write to one database (``serve --workers``, the loader), each through its
own store and writer thread. Every write transaction starts with ``BEGIN IMMEDIATE``, which takes
SQLite's write lock before the first read, so a transaction that reads and then writes (tokens,
quota counters, positions, rate-limit buckets) sees no other process's commit in between.
Writers take turns through the database's write gate first (:mod:`supplylake.store.writegate`),
which hands the lock over at once where SQLite's busy handler would sleep.

The WAL is copied back into the database (checkpointed) by the writer between transactions, a
few times a second at most, rather than by SQLite inside a commit: there it ran under the gate,
and every other writer waited for it. A passive checkpoint needs no write lock, so another
process commits while this one checkpoints. SQLite's own rule stays as a bound, for bursts
faster than that.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from supplylake.metrics import observe_store_commit
from supplylake.store.base import EventWaiter, Leases
from supplylake.store.groupcommit import CommitBackend, GroupCommitter
from supplylake.store.sql.dialect import SQLITE
from supplylake.store.sql.migrations import migrate
from supplylake.store.sql.store import SqlStore
from supplylake.store.sqlite.append import SqliteAppend
from supplylake.store.sqlite.sessions import SqliteEventWaiter, SqliteLeases
from supplylake.store.writegate import WriteGate, gate_for

T = TypeVar("T")

#: How often the writer checkpoints, at most. SQLite's default (every thousand pages) came after
#: only a few large events; a quarter of a second of them is about as much.
_CHECKPOINT_SECONDS = 0.25
#: SQLite checkpoints inside a commit only past this many pages of WAL.
_AUTOCHECKPOINT_PAGES = 4096
#: The writer connection's page cache, in KiB.
_WRITER_CACHE_KIB = 32 * 1024


def _connect(path: str, busy_timeout_ms: int) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
    )
    conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class SqliteStore(SqlStore[sqlite3.Connection]):
    """A SQLite database in WAL mode; every write goes through one group-committing thread."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 30_000) -> None:
        self.path = str(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._appends = SqliteAppend()
        self._committer = GroupCommitter(
            SqliteWriter(self.path, busy_timeout_ms), on_commit=observe_store_commit
        )

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, self._busy_timeout_ms)
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return fn(self._reader())

    def close(self) -> None:
        self._committer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    def open_leases(self, owner: str) -> Leases:
        return SqliteLeases(Path(self.path + ".leases"), owner)

    def open_event_waiter(self) -> EventWaiter:
        return SqliteEventWaiter(self.path)


class SqliteWriter(CommitBackend[sqlite3.Connection]):
    """The writer connection of a SqliteStore: its settings, its transactions, its checkpoints."""

    def __init__(self, path: str, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        # Taken around every write transaction, so that writers of other processes (the
        # loader, other API processes) are handed the database at once (see .writegate).
        self._gate: WriteGate = gate_for(path)
        self._checkpointed = 0.0

    def connect(self) -> sqlite3.Connection:
        Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(self._path, self._busy_timeout_ms)
        # Only takes effect on a new database. 16 KiB pages cut the system calls that write a
        # large event to the WAL (fewer, larger frames), at no cost for small ones.
        conn.execute("PRAGMA page_size=16384")
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is fsynced at every commit, so an acknowledged event survives power loss.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA wal_autocheckpoint={_AUTOCHECKPOINT_PAGES}")  # see after_commit
        # A multi-row INSERT keeps a statement journal (to undo itself alone should a row
        # fail); past a small size SQLite spilled it to a temporary file, written at every
        # commit. In memory it holds only pages the statement changed, which existed before.
        conn.execute("PRAGMA temp_store=MEMORY")
        # The pages a commit touches (index edges, the payload table's last pages) stay
        # cached between transactions; SQLite's default cache holds few pages of this size.
        conn.execute(f"PRAGMA cache_size=-{_WRITER_CACHE_KIB}")
        migrate(conn, SQLITE)
        return conn

    def begin(self, conn: sqlite3.Connection) -> None:
        self._gate.acquire()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._gate.release()
            raise

    def savepoint(self, conn: sqlite3.Connection, statement: str) -> None:
        conn.execute(statement)

    def commit(self, conn: sqlite3.Connection) -> None:
        conn.execute("COMMIT")  # if it fails, the rollback that follows lets the gate go
        self._gate.release()

    def rollback(self, conn: sqlite3.Connection) -> None:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        finally:
            self._gate.release()

    def healthy(self, conn: sqlite3.Connection) -> bool:
        return True  # a local file: a failed transaction leaves the connection usable

    def after_commit(self, conn: sqlite3.Connection) -> None:
        """Copy what the WAL gained into the database, at most every few tenths of a second."""
        now = time.monotonic()
        if now - self._checkpointed >= _CHECKPOINT_SECONDS:
            self._checkpointed = now
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
