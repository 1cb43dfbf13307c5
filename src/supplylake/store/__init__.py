"""The durable store: a contract and its backends, picked by URL."""

from __future__ import annotations

from supplylake.store.base import Store
from supplylake.store.urls import is_postgres, sqlite_path


def open_store(url: str) -> Store:
    """Open the store named by ``url``.

    ``sqlite:///path/to.db`` (or a plain path), or ``postgresql://user:password@host:port/db``
    (also ``postgres://`` and ``postgresql+psycopg://``).
    """
    if is_postgres(url):
        from supplylake.store.postgres import PostgresStore

        return PostgresStore(url)
    path = sqlite_path(url)
    from supplylake.store.sqlite import SqliteStore

    return SqliteStore(path)
