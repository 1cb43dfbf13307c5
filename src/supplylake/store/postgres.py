"""PostgresStore: one PostgreSQL database shared by any number of supplylake processes.

Writes go through a group-committing thread, as on SQLite: one transaction per batch of jobs,
committed with ``synchronous_commit`` on, so an acknowledged write is on disk. Appends of events
skip the per-job savepoints: :mod:`._pg_append` commits a whole batch with a few set-based
statements (savepoints cost a subtransaction each on PostgreSQL).

Positions follow commit order. An identity value is drawn at insert, not at commit, so two
processes could commit positions 11 and then 10, and a loader that had read 11 would never see 10
(it takes everything up to the last position it applied as done). So every write transaction
starts by taking one transaction-level advisory lock, ``pg_advisory_xact_lock(LOCK_CLASS,
LOCK_WRITES)``, held until its commit is visible: writing transactions of all processes commit one
after the other, and a later commit always holds higher positions, across all instances. Group
commit keeps this cheap (one lock per batch of up to 1,000 jobs, not per event; the lock is held
for the batch's few statements and its commit). Taken before any row lock, it also means the
store's writers never deadlock one another, whatever rows a batch touches and in what order.
Reads take no lock. (Within one instance the row lock on its pending counter would order appends
too; the advisory lock makes the order global and needs no such reasoning.)

Idempotency tokens and the pending-event quota are exact across processes: tokens are claimed
with ``INSERT ... ON CONFLICT`` (a racing claim waits for the first transaction, then finds its
row), counters change under a row lock.

A transaction that appends events also runs ``NOTIFY supplylake_events``: delivered when it
commits, once per transaction, to the loaders LISTENing (see :mod:`._pg_session`).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg.pq import TransactionStatus

from supplylake.metrics import observe_store_commit
from supplylake.store._append import AppendItem
from supplylake.store._dialect import LOCK_CLASS, LOCK_WRITES, POSTGRES
from supplylake.store._groupcommit import GroupCommitter
from supplylake.store._migrations import migrate
from supplylake.store._pg_append import BulkAppend
from supplylake.store._pg_session import CHANNEL, PostgresEventWaiter, PostgresLeases
from supplylake.store._sqlstore import SqlStore
from supplylake.store.base import (
    AppendResult,
    EventWaiter,
    Leases,
)
from supplylake.store.urls import libpq_url

T = TypeVar("T")


class PgConnection:
    """A psycopg connection that takes the shared SQL's ``?`` placeholders."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, args: Any = ()) -> psycopg.Cursor[Any]:
        return self.raw.execute(_pg_sql(sql), args)

    def executemany(self, sql: str, rows: Any) -> psycopg.Cursor[Any]:
        cur = self.raw.cursor()
        cur.executemany(_pg_sql(sql), rows)
        return cur

    def close(self) -> None:
        self.raw.close()

    @property
    def usable(self) -> bool:
        return not (self.raw.closed or self.raw.broken)


@functools.lru_cache(maxsize=1024)
def _pg_sql(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresStore(SqlStore):
    """The store in a PostgreSQL database (psycopg 3), safe to share between processes."""

    def __init__(self, url: str, readers: int = 8, connect_timeout: int = 10) -> None:
        self.url = libpq_url(url)
        self._connect_timeout = connect_timeout
        self._readers = _Readers(lambda: self._connect("supplylake"), readers)
        self._appends = _NotifyingAppend()
        self._writer: GroupCommitter[PgConnection] = GroupCommitter(
            connect=self._connect_writer,
            begin=_begin,
            savepoint=lambda c, sql: c.raw.execute(sql),
            commit=_commit,
            rollback=_rollback,
            healthy=lambda c: c.usable,
            on_commit=observe_store_commit,
        )

    # -- connections ----------------------------------------------------------------------
    def _connect(self, application_name: str) -> PgConnection:
        raw = psycopg.connect(
            self.url,
            autocommit=True,
            application_name=application_name,
            connect_timeout=self._connect_timeout,
        )
        return PgConnection(raw)

    def _connect_writer(self) -> PgConnection:
        conn = self._connect("supplylake-writer")
        if conn.raw.execute("SHOW synchronous_commit").fetchone() == ("off",):
            # An acknowledged write must be on disk, whatever the server's default.
            conn.raw.execute("SET synchronous_commit = on")
        # A writer that hangs mid-transaction (a frozen process) would hold the writers' lock
        # of every process; the server ends such a session instead. Batches take milliseconds.
        conn.raw.execute("SET idle_in_transaction_session_timeout = '60s'")
        migrate(conn, POSTGRES)
        return conn

    def _read(self, fn: Callable[[Any], T]) -> T:
        with self._readers.connection() as conn:
            try:
                return fn(conn)
            except psycopg.OperationalError:
                if conn.usable:
                    raise
        # The pooled connection had died (a server restart): reads can simply run again.
        with self._readers.connection() as conn:
            return fn(conn)

    def close(self) -> None:
        self._writer.close()
        self._readers.close()

    # -- contract -------------------------------------------------------------------------
    def open_leases(self, owner: str) -> Leases:
        return PostgresLeases(self.url, owner, self._connect_timeout)

    def open_event_waiter(self) -> EventWaiter:
        return PostgresEventWaiter(self.url, self._connect_timeout)


_NOTIFY = f"NOTIFY {CHANNEL}"


class _NotifyingAppend(BulkAppend):
    """Appends that wake the listening loaders once their transaction commits."""

    def run_one(self, conn: PgConnection, item: AppendItem) -> AppendResult:
        result = super().run_one(conn, item)
        if not result.replayed:
            # Rolled back with the append's savepoint if it fails later; repeats in one
            # transaction are folded into one notification.
            conn.raw.execute(_NOTIFY)
        return result

    def run_many(self, conn: PgConnection, items: Sequence[AppendItem]) -> list[Any]:
        results = super().run_many(conn, items)
        if any(isinstance(r, AppendResult) and not r.replayed for r in results):
            conn.raw.execute(_NOTIFY)
        return results


def _begin(conn: PgConnection) -> None:
    # One round trip: two statements without parameters go as one simple query.
    conn.raw.execute(f"BEGIN; SELECT pg_advisory_xact_lock({LOCK_CLASS}, {LOCK_WRITES})")


def _commit(conn: PgConnection) -> None:
    # COMMIT of a transaction that failed answers ROLLBACK, without an error.
    status = conn.raw.execute("COMMIT").statusmessage
    if status != "COMMIT":
        raise psycopg.OperationalError(f"the transaction was not committed ({status})")


def _rollback(conn: PgConnection) -> None:
    if conn.usable and conn.raw.info.transaction_status in (
        TransactionStatus.INTRANS,
        TransactionStatus.INERROR,
    ):
        conn.raw.execute("ROLLBACK")


class _Readers:
    """A few autocommit connections for reads, shared by the threads of the process.

    Bounded, so that many processes on one server stay well within ``max_connections``; a
    connection that broke is dropped and the next read opens a new one.
    """

    def __init__(self, connect: Callable[[], PgConnection], size: int) -> None:
        self._connect = connect
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[PgConnection] = []
        self._closed = False

    @contextlib.contextmanager
    def connection(self) -> Iterator[PgConnection]:
        with self._slots:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = self._connect()
            try:
                yield conn
            finally:
                reusable = (
                    conn.usable and conn.raw.info.transaction_status == TransactionStatus.IDLE
                )
                with self._lock:
                    if reusable and not self._closed:
                        self._idle.append(conn)
                        conn = None
                if conn is not None:
                    conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
