"""PostgresStore: one PostgreSQL database shared by any number of supplylake processes.

Writes go through a group-committing thread, as on SQLite: one transaction per batch of jobs,
committed with ``synchronous_commit`` on, so an acknowledged write is on disk. Appends of events
skip the per-job savepoints: :class:`.append.PostgresAppend` commits a whole batch with a few
set-based statements (savepoints cost a subtransaction each on PostgreSQL).

Positions follow commit order. An identity value is drawn at insert, not at commit, so two
processes could commit positions 11 and then 10, and a loader that had read 11 would never see 10
(it takes everything up to the last position it applied as done). So every write transaction
starts by taking one transaction-level advisory lock, ``pg_advisory_xact_lock(LOCK_CLASS,
LOCK_WRITES)``, held until its commit is visible: writing transactions of all processes commit one
after the other, and a later commit always holds higher positions, across all instances. Group
commit keeps this cheap (one lock per batch of jobs, not per event; the lock is held for the
batch's few statements and its commit). Taken before any row lock, it also means the store's
writers never deadlock one another, whatever rows a batch touches and in what order. Reads take
no lock. (Within one instance the row lock on its pending counter would order appends too; the
advisory lock makes the order global and needs no such reasoning.)

Idempotency tokens and the pending-event quota are exact across processes: tokens are claimed
with ``INSERT ... ON CONFLICT`` (a racing claim waits for the first transaction, then finds its
row), counters change under a row lock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg.pq import TransactionStatus

from supplylake.metrics import observe_store_commit
from supplylake.store.base import EventWaiter, Leases
from supplylake.store.groupcommit import CommitBackend, GroupCommitter
from supplylake.store.postgres.append import PostgresAppend
from supplylake.store.postgres.connection import PostgresConnection, ReaderPool
from supplylake.store.postgres.sessions import PostgresEventWaiter, PostgresLeases
from supplylake.store.sql.dialect import LOCK_CLASS, LOCK_WRITES, POSTGRES
from supplylake.store.sql.migrations import migrate
from supplylake.store.sql.store import SqlStore
from supplylake.store.urls import libpq_url

T = TypeVar("T")


def _connect(url: str, application_name: str, connect_timeout: int) -> PostgresConnection:
    raw = psycopg.connect(
        url, autocommit=True, application_name=application_name, connect_timeout=connect_timeout
    )
    return PostgresConnection(raw)


class PostgresStore(SqlStore[PostgresConnection]):
    """The store in a PostgreSQL database (psycopg 3), safe to share between processes."""

    def __init__(self, url: str, readers: int = 8, connect_timeout: int = 10) -> None:
        self.url = libpq_url(url)
        self._connect_timeout = connect_timeout
        self._readers = ReaderPool(
            lambda: _connect(self.url, "supplylake", connect_timeout), readers
        )
        self._appends = PostgresAppend()
        self._committer = GroupCommitter(
            PostgresWriter(self.url, connect_timeout), on_commit=observe_store_commit
        )

    def _read(self, fn: Callable[[PostgresConnection], T]) -> T:
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
        self._committer.close()
        self._readers.close()

    def open_leases(self, owner: str) -> Leases:
        return PostgresLeases(self.url, owner, self._connect_timeout)

    def open_event_waiter(self) -> EventWaiter:
        return PostgresEventWaiter(self.url, self._connect_timeout)


class PostgresWriter(CommitBackend[PostgresConnection]):
    """The writer connection of a PostgresStore: its settings and its transactions."""

    def __init__(self, url: str, connect_timeout: int) -> None:
        self._url = url
        self._connect_timeout = connect_timeout

    def connect(self) -> PostgresConnection:
        conn = _connect(self._url, "supplylake-writer", self._connect_timeout)
        if conn.raw.execute("SHOW synchronous_commit").fetchone() == ("off",):
            # An acknowledged write must be on disk, whatever the server's default.
            conn.raw.execute("SET synchronous_commit = on")
        # A writer that hangs mid-transaction (a frozen process) would hold the writers' lock
        # of every process; the server ends such a session instead. Batches take milliseconds.
        conn.raw.execute("SET idle_in_transaction_session_timeout = '60s'")
        migrate(conn, POSTGRES)
        return conn

    def begin(self, conn: PostgresConnection) -> None:
        # One round trip: two statements without parameters go as one simple query.
        conn.raw.execute(f"BEGIN; SELECT pg_advisory_xact_lock({LOCK_CLASS}, {LOCK_WRITES})")

    def savepoint(self, conn: PostgresConnection, statement: str) -> None:
        conn.raw.execute(statement)

    def commit(self, conn: PostgresConnection) -> None:
        # COMMIT of a transaction that failed answers ROLLBACK, without an error.
        status = conn.raw.execute("COMMIT").statusmessage
        if status != "COMMIT":
            raise psycopg.OperationalError(f"the transaction was not committed ({status})")

    def rollback(self, conn: PostgresConnection) -> None:
        if conn.usable and conn.raw.info.transaction_status in (
            TransactionStatus.INTRANS,
            TransactionStatus.INERROR,
        ):
            conn.raw.execute("ROLLBACK")

    def healthy(self, conn: PostgresConnection) -> bool:
        return conn.usable

    def after_commit(self, conn: PostgresConnection) -> None:
        """Nothing to do: the server keeps its own house."""
