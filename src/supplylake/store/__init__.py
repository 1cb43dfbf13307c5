"""The durable store: a contract and its backends, picked by URL.

``base`` holds the contract; ``sql`` the SQL both backends share; ``sqlite`` and ``postgres``
each a backend (its store, writer, batched append and sessions).
"""

from __future__ import annotations

from supplylake.store.base import (
    AccessKey,
    AlreadyExists,
    AppendResult,
    Dataset,
    DatasetRef,
    Event,
    EventWaiter,
    IdempotencyKey,
    Instance,
    LeaseLost,
    Leases,
    Namespace,
    NewEvent,
    NotFound,
    Outcome,
    PendingQuotaExceeded,
    Store,
    StoreError,
    StoreUnavailable,
    TokenConflict,
)
from supplylake.store.urls import is_postgres, sqlite_path

__all__ = [
    "AccessKey",
    "AlreadyExists",
    "AppendResult",
    "Dataset",
    "DatasetRef",
    "Event",
    "EventWaiter",
    "IdempotencyKey",
    "Instance",
    "LeaseLost",
    "Leases",
    "Namespace",
    "NewEvent",
    "NotFound",
    "Outcome",
    "PendingQuotaExceeded",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "TokenConflict",
    "open_store",
]


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
