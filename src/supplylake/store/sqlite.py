"""SqliteStore: the embedded default, one SQLite file in WAL mode with group commit."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from supplylake.store import _sql
from supplylake.store.base import (
    AccessKey,
    AppendResult,
    Dataset,
    DatasetRef,
    Event,
    IdempotencyKey,
    Instance,
    Namespace,
    NewEvent,
    Outcome,
    Store,
)

T = TypeVar("T")


class SqliteStore(Store):
    """A SQLite database in WAL mode; every write goes through one group-committing thread."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 30_000) -> None:
        self.path = str(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        # Import here to keep module import light for the CLI.
        from supplylake.store._groupcommit import GroupCommitter

        self._writer: GroupCommitter[sqlite3.Connection] = GroupCommitter(
            connect=self._connect_writer,
            begin=lambda c: c.execute("BEGIN IMMEDIATE"),
            savepoint=lambda c, sql: c.execute(sql),
            commit=lambda c: c.execute("COMMIT"),
            rollback=lambda c: c.execute("ROLLBACK") if c.in_transaction else None,
        )

    # -- connections ----------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=self._busy_timeout_ms / 1000,
        )
        conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _connect_writer(self) -> sqlite3.Connection:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = self._open()
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is fsynced at every commit, so an acknowledged event survives power loss.
        conn.execute("PRAGMA synchronous=FULL")
        _sql.migrate(conn, _sql.SQLITE)
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _read(self, fn: Callable[[Any], T]) -> T:
        return fn(self._reader())

    def _write(self, fn: Callable[[Any], T]) -> T:
        return self._writer.run(fn)

    def close(self) -> None:
        self._writer.close()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    # -- contract -------------------------------------------------------------------------
    def secret(self, name: str) -> bytes:
        found = self._read(lambda c: _sql.get_secret(c, name))
        return found if found is not None else self._write(lambda c: _sql.ensure_secret(c, name))

    def put_key(self, key: AccessKey) -> None:
        self._write(lambda c: _sql.put_key(c, key))

    def get_key(self, access_key_id: str) -> AccessKey | None:
        return self._read(lambda c: _sql.get_key(c, access_key_id))

    def list_keys(self) -> list[AccessKey]:
        return self._read(_sql.list_keys)

    def revoke_key(self, access_key_id: str, at: datetime) -> bool:
        return self._write(lambda c: _sql.revoke_key(c, access_key_id, at))

    def create_instance(
        self, instance: Instance, tags: dict[str, str], arn: str, idem: IdempotencyKey | None
    ) -> Instance:
        return self._write(lambda c: _sql.create_instance(c, instance, tags, arn, idem))

    def get_instance(self, instance_id: str) -> Instance | None:
        return self._read(lambda c: _sql.get_instance(c, instance_id))

    def list_instances(
        self, account_id: str, after: str | None, limit: int, names: list[str], states: list[str]
    ) -> list[Instance]:
        return self._read(lambda c: _sql.list_instances(c, account_id, after, limit, names, states))

    def list_instances_in_state(self, states: list[str]) -> list[Instance]:
        return self._read(lambda c: _sql.list_instances_in_state(c, states))

    def update_instance(self, instance_id: str, at: datetime, **changes: object) -> Instance:
        return self._write(lambda c: _sql.update_instance(c, instance_id, at, changes))

    def purge_instance(self, instance_id: str, arn_prefix: str) -> None:
        self._write(lambda c: _sql.purge_instance(c, instance_id, arn_prefix))

    def create_namespace(self, ns: Namespace, tags: dict[str, str], arn: str) -> Namespace:
        return self._write(lambda c: _sql.create_namespace(c, ns, tags, arn))

    def get_namespace(self, instance_id: str, name: str) -> Namespace | None:
        return self._read(lambda c: _sql.get_namespace(c, instance_id, name))

    def list_namespaces(self, instance_id: str, after: str | None, limit: int) -> list[Namespace]:
        return self._read(lambda c: _sql.list_namespaces(c, instance_id, after, limit))

    def update_namespace(
        self, instance_id: str, name: str, description: str | None, at: datetime
    ) -> Namespace:
        return self._write(lambda c: _sql.update_namespace(c, instance_id, name, description, at))

    def delete_namespace(self, instance_id: str, name: str, arn_prefix: str) -> None:
        self._write(lambda c: _sql.delete_namespace(c, instance_id, name, arn_prefix))

    def create_dataset(self, ds: Dataset, tags: dict[str, str], arn: str) -> Dataset:
        return self._write(lambda c: _sql.create_dataset(c, ds, tags, arn))

    def get_dataset(self, instance_id: str, namespace: str, name: str) -> Dataset | None:
        return self._read(lambda c: _sql.get_dataset(c, instance_id, namespace, name))

    def list_datasets(
        self, instance_id: str, namespace: str, after: str | None, limit: int
    ) -> list[Dataset]:
        return self._read(lambda c: _sql.list_datasets(c, instance_id, namespace, after, limit))

    def update_dataset(
        self, instance_id: str, namespace: str, name: str, description: str | None, at: datetime
    ) -> Dataset:
        return self._write(
            lambda c: _sql.update_dataset(c, instance_id, namespace, name, description, at)
        )

    def delete_dataset(self, instance_id: str, namespace: str, name: str, arn: str) -> None:
        self._write(lambda c: _sql.delete_dataset(c, instance_id, namespace, name, arn))

    def get_tags(self, arn: str) -> dict[str, str]:
        return self._read(lambda c: _sql.get_tags(c, arn))

    def tag(self, arn: str, tags: dict[str, str], max_tags: int) -> None:
        self._write(lambda c: _sql.tag(c, arn, tags, max_tags))

    def untag(self, arn: str, keys: list[str]) -> None:
        self._write(lambda c: _sql.untag(c, arn, keys))

    def append_event(
        self, event: NewEvent, idem: IdempotencyKey | None, max_pending: int
    ) -> Future[AppendResult]:
        return self._writer.submit(lambda c: _sql.append_event(c, event, idem, max_pending))

    def get_event(self, instance_id: str, event_id: str, with_data: bool = False) -> Event | None:
        return self._read(lambda c: _sql.get_event(c, instance_id, event_id, with_data))

    def list_events(
        self, instance_id: str, event_type: str | None, before: int | None, limit: int
    ) -> list[Event]:
        return self._read(lambda c: _sql.list_events(c, instance_id, event_type, before, limit))

    def pending_datasets(self) -> list[DatasetRef]:
        return self._read(_sql.pending_datasets)

    def pending_events(self, ref: DatasetRef, limit: int) -> list[Event]:
        return self._read(lambda c: _sql.pending_events(c, ref, limit))

    def complete_events(self, outcomes: list[Outcome], at: datetime) -> None:
        self._write(lambda c: _sql.complete_events(c, outcomes, at))

    def purge_events(self, received_before: datetime, tokens_expired_before: datetime) -> int:
        return self._write(lambda c: _sql.purge_events(c, received_before, tokens_expired_before))
