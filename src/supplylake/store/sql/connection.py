"""The connection the shared SQL runs on: what both backends' connections have in common.

A ``sqlite3.Connection`` is one as it is; on PostgreSQL a thin wrapper over psycopg's turns the
shared SQL's ``?`` placeholders into ``%s``. Rows come back as tuples on both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

#: A row as both drivers return it.
Row = tuple[Any, ...]
#: The parameters of one statement, by position.
Params = Sequence[Any]


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Row | None: ...

    def fetchall(self) -> list[Row]: ...


class Connection(Protocol):
    """Runs the shared SQL (``?`` placeholders) in the caller's transaction, if any."""

    def execute(self, sql: str, args: Params = (), /) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Params], /) -> Cursor: ...
