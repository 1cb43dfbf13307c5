"""The PostgreSQL backend: its store and writer, its batched append, its leases and waiter."""

from __future__ import annotations

from supplylake.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
