"""The SQLite backend: its store and writer, its batched append, its leases and waiter."""

from __future__ import annotations

from supplylake.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
