"""PostgreSQL connections as the shared SQL takes them, and the pool the reads share."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from supplylake.store.sql.connection import Params


class PostgresConnection:
    """A psycopg connection that takes the shared SQL's ``?`` placeholders.

    ``raw`` is psycopg's own, for the SQL written for PostgreSQL alone (``%s``, binary arrays)
    and for transaction control, sent as is.
    """

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, args: Params = ()) -> psycopg.Cursor[Any]:
        return self.raw.execute(_pg_sql(sql), args)

    def executemany(self, sql: str, rows: Iterable[Params]) -> psycopg.Cursor[Any]:
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


class ReaderPool:
    """A few autocommit connections for reads, shared by the threads of the process.

    Bounded, so that many processes on one server stay well within ``max_connections``; a
    connection that broke is dropped and the next read opens a new one.
    """

    def __init__(self, connect: Callable[[], PostgresConnection], size: int) -> None:
        self._connect = connect
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[PostgresConnection] = []
        self._closed = False

    @contextlib.contextmanager
    def connection(self) -> Iterator[PostgresConnection]:
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
