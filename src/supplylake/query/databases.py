"""DuckDB databases set up for a query, kept ready for the next query that needs the same setup.

Opening a DuckDB database costs about as much as a small query over a million rows (it fills a
catalog with thousands of built-in functions), and closing one a little more. A query's database
is fully described by its setup script: the schemas, the views over the tables' current files,
the files allowed, external access off and the configuration locked. So a database is kept under
that script and lent to the next query with the same one; a table that changed has other files,
hence another script and another database, and a query never sees an older snapshot.

A database comes back only from a query made of SELECT statements, which leave nothing in it;
a query with any other statement (CREATE TABLE, SET VARIABLE, ...) closes its database after it,
as before. Each query runs on a cursor of its own, a fresh connection to the database, so
per-connection state (the default schema, variables, prepared statements) never carries over.
A database is lent to one query at a time (concurrent queries with the same setup open one each)
and at most `KEPT` wait, the least recently used closed first.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

import duckdb

#: Most databases kept ready. Each holds a catalog and idle worker threads (a few MB); after a
#: large query the process keeps some more of what DuckDB's allocator had, until it is closed.
KEPT = 4

_lock = threading.Lock()
_ready: OrderedDict[str, duckdb.DuckDBPyConnection] = OrderedDict()
#: Databases inherited through fork: never closed in the child, whose DuckDB threads are gone.
_inherited: list[duckdb.DuckDBPyConnection] = []


def fresh() -> duckdb.DuckDBPyConnection:
    """A new in-memory database, not set up."""
    return duckdb.connect(config={"enable_external_file_cache": False})


def borrow(setup: str) -> duckdb.DuckDBPyConnection:
    """A database on which `setup` has run: a kept one if one is ready, else a new one."""
    with _lock:
        con = _ready.pop(setup, None)
    if con is None:
        con = fresh()
        try:
            con.execute(setup)
        except BaseException:
            con.close()
            raise
    return con


def give_back(setup: str, con: duckdb.DuckDBPyConnection) -> None:
    """Keep `con` (set up by `setup`) for the next query; close what no longer fits."""
    closing = []
    with _lock:
        if setup in _ready:
            closing.append(con)  # a concurrent query's database is already kept
        else:
            _ready[setup] = con
        while len(_ready) > KEPT:
            closing.append(_ready.popitem(last=False)[1])
    for old in closing:
        old.close()


def leaves_nothing(statements: list[duckdb.Statement]) -> bool:
    """Whether running these statements leaves the database as it found it: SELECTs only."""
    return bool(statements) and all(s.type == duckdb.StatementType.SELECT for s in statements)


def close_all() -> None:
    """Close every kept database (tests, and a process that is done querying)."""
    with _lock:
        kept = list(_ready.values())
        _ready.clear()
    for con in kept:
        con.close()


def kept() -> int:
    """How many databases are ready."""
    return len(_ready)


def _forget_after_fork() -> None:
    global _lock
    _lock = threading.Lock()
    _inherited.extend(_ready.values())
    _ready.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
