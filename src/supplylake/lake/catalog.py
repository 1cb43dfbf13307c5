"""The lake: Iceberg tables in a SQL catalog kept in the service's own database.

Identifier scheme: each (instance, namespace) is one single-level Iceberg namespace
`scn_<instance id without dashes>_<namespace>`, and a dataset is a table in it, e.g.

    scn_4f1c2e0a9b7d4c3e8f6a5b4c3d2e1f0a_asc.inbound_order

Single-level, lowercase `[a-z0-9_]` names need no quoting in Spark, Trino, Athena or DuckDB
(Trino's schemas are single-level), and the instance prefix keeps instances apart. The
instance id has a fixed 32 hex digits, so the namespace after it is unambiguous.

The catalog is pyiceberg's SqlCatalog. On SQLite it shares the store's file, so every catalog
connection waits on locks (busy timeout) instead of failing, and uses WAL like the store.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
from pyiceberg.exceptions import NamespaceAlreadyExistsError, NoSuchNamespaceError, NoSuchTableError
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from supplylake.lake import compact, maintenance, read
from supplylake.lake.compact import CompactResult
from supplylake.lake.errors import PositionMovedError, TableNotFoundError
from supplylake.lake.fold import Change, fold
from supplylake.lake.layout import (
    iceberg_schema,
    partition_spec,
    table_primary_keys,
    table_properties,
)
from supplylake.lake.maintenance import MaintenanceResult
from supplylake.lake.metadata import RememberingSqlCatalog
from supplylake.lake.write import ApplyResult, commit_folded, retry_conflicts
from supplylake.schema.types import DatasetSchema

_BUSY_TIMEOUT_S = 30
_CREATE_ATTEMPTS = 5
_INSTANCE = re.compile(r"[0-9a-f]{32}")


def namespace_identifier(instance_id: str, namespace: str) -> str:
    """The Iceberg namespace of an instance's namespace."""
    return f"{_instance_prefix(instance_id)}{namespace}"


def table_identifier(instance_id: str, namespace: str, dataset: str) -> str:
    """The Iceberg table identifier of a dataset, as other engines type it."""
    return f"{namespace_identifier(instance_id, namespace)}.{dataset}"


def _instance_prefix(instance_id: str) -> str:
    compact = instance_id.replace("-", "").lower()
    if not _INSTANCE.fullmatch(compact):
        raise ValueError(f"instance id is not a UUID: {instance_id!r}")
    return f"scn_{compact}_"


class Lake:
    """Datasets of all instances as Iceberg tables, written in batches and read to Arrow."""

    def __init__(
        self,
        catalog_uri: str,
        warehouse: str,
        *,
        name: str = "supplylake",
        properties: dict[str, str] | None = None,
    ) -> None:
        """`properties` are further catalog properties, e.g. pyiceberg's `s3.*` FileIO ones."""
        url = make_url(catalog_uri)
        sqlite = url.get_backend_name() == "sqlite"
        if sqlite and "timeout" not in url.query:
            # pysqlite's busy timeout, in force from the first connection (catalog table setup).
            url = url.update_query_dict({"timeout": str(_BUSY_TIMEOUT_S)})
        self.catalog: Any = _sql_catalog(
            name,
            uri=url.render_as_string(hide_password=False),
            warehouse=_warehouse_uri(warehouse),
            **(properties or {}),
        )
        if sqlite:
            event.listen(self.catalog.engine, "connect", _sqlite_pragmas)
            self.catalog.engine.dispose()  # reconnect pooled connections with the pragmas

    def close(self) -> None:
        self.catalog.engine.dispose()

    # -- lifecycle -----------------------------------------------------------------------------

    def create_table(self, instance_id: str, namespace: str, schema: DatasetSchema) -> None:
        """Create the dataset's table if it does not exist yet."""
        ns = namespace_identifier(instance_id, namespace)
        identifier = f"{ns}.{schema.name}"
        # Checked first: a create that loses to an existing table leaves its metadata file behind.
        if self.catalog.table_exists(identifier):
            return
        self._create_namespace(ns)
        self.catalog.create_table_if_not_exists(
            identifier,
            schema=iceberg_schema(schema),
            partition_spec=partition_spec(schema),
            properties=table_properties(schema),
        )

    def _create_namespace(self, ns: str) -> None:
        try:
            self.catalog.create_namespace(ns)
        except NamespaceAlreadyExistsError:
            pass
        except IntegrityError:
            # Another writer (a loader thread beside this one, another process) created it between
            # pyiceberg's look and its insert: the namespace is there, which is all that matters.
            if not self.catalog.namespace_exists(ns):
                raise

    def table_exists(self, instance_id: str, namespace: str, name: str) -> bool:
        exists: bool = self.catalog.table_exists(table_identifier(instance_id, namespace, name))
        return exists

    def drop_table(self, instance_id: str, namespace: str, name: str) -> None:
        """Drop the table and delete its files; nothing happens if it does not exist."""
        identifier = table_identifier(instance_id, namespace, name)
        try:
            table = self.catalog.load_table(identifier)
            location = table.location()
            # Removing the folder also takes orphans of failed commits and the key index, which
            # purge misses.
            self.catalog.drop_table(identifier)
        except NoSuchTableError:
            return
        if _local_path(location) is None:
            _remove_remote_folder(table.io, location)
        _remove_local_folder(location)

    def drop_namespace(self, instance_id: str, namespace: str) -> None:
        """Drop every table of the namespace, then the namespace."""
        ns = namespace_identifier(instance_id, namespace)
        try:
            tables = self.catalog.list_tables(ns)
        except NoSuchNamespaceError:
            return
        for identifier in tables:
            self.drop_table(instance_id, namespace, identifier[-1])
        with contextlib.suppress(NoSuchNamespaceError):
            self.catalog.drop_namespace(ns)
        _remove_local_folder(f"{self.catalog.properties['warehouse']}/{ns}")

    def drop_instance(self, instance_id: str) -> None:
        """Drop every namespace (and table) of the instance."""
        for namespace in self.namespaces(instance_id):
            self.drop_namespace(instance_id, namespace)

    def namespaces(self, instance_id: str) -> list[str]:
        """The instance's namespaces that exist in the catalog."""
        prefix = _instance_prefix(instance_id)
        names = (ns[0] for ns in self.catalog.list_namespaces() if len(ns) == 1)
        return sorted(n[len(prefix) :] for n in names if n.startswith(prefix))

    def list_tables(self, instance_id: str) -> list[tuple[str, str]]:
        """(namespace, dataset) of every table of the instance."""
        found = []
        for namespace in self.namespaces(instance_id):
            try:
                tables = self.catalog.list_tables(namespace_identifier(instance_id, namespace))
            except NoSuchNamespaceError:
                continue
            found += [(namespace, identifier[-1]) for identifier in tables]
        return sorted(found)

    def open_table(
        self, instance_id: str, namespace: str, schema: DatasetSchema, *, create: bool = False
    ) -> Any:
        """The dataset's table, loaded once (and with `create`, made first if it is missing)."""
        try:
            return self.table(instance_id, namespace, schema.name)
        except TableNotFoundError:
            if not create:
                raise
        self.create_table(instance_id, namespace, schema)
        return self.table(instance_id, namespace, schema.name)

    def table(self, instance_id: str, namespace: str, name: str) -> Any:
        """The pyiceberg Table of a dataset, freshly loaded."""
        try:
            return self.catalog.load_table(table_identifier(instance_id, namespace, name))
        except NoSuchTableError as e:
            raise TableNotFoundError(f"no table for {namespace}.{name}") from e

    # -- writes ----------------------------------------------------------------------------------

    def apply_batch(
        self,
        instance_id: str,
        namespace: str,
        schema: DatasetSchema,
        changes: Sequence[Change],
        position: int,
        expected_position: int | None = None,
        table: Any = None,
    ) -> ApplyResult:
        """Apply `changes` in order as one snapshot that records `position`.

        With `expected_position`, every attempt first checks that the table still records it: if
        another writer (a loader that lost its lease mid-commit) moved it, `PositionMovedError`
        is raised instead of applying the batch a second time, and the caller plans again.
        A `table` the caller has just loaded serves the first attempt; retries load it afresh.
        """
        folded = fold(changes, schema)
        loaded = [table] if table is not None else []

        def attempt() -> ApplyResult:
            table = loaded.pop() if loaded else self.table(instance_id, namespace, schema.name)
            if expected_position is not None:
                found = read.last_position(table)
                if found != expected_position:
                    raise PositionMovedError(
                        f"{namespace}.{schema.name} is at position {found}, "
                        f"not {expected_position}: plan the batch again"
                    )
            return commit_folded(table, folded, schema, position)

        return retry_conflicts(attempt)

    def last_position(self, instance_id: str, namespace: str, name: str) -> int:
        """The position of the last batch applied to the table (0 if none)."""
        return read.last_position(self.table(instance_id, namespace, name))

    @staticmethod
    def position_of(table: Any) -> int:
        """The position a loaded table records (0 if none)."""
        return read.last_position(table)

    # -- health ----------------------------------------------------------------------------------

    def compact(
        self,
        instance_id: str,
        namespace: str,
        name: str,
        *,
        min_deleted_share: float = compact.DELETED_SHARE,
        exclusive: Callable[[], AbstractContextManager[Any]] | None = None,
    ) -> CompactResult:
        """Fold deletes and small files into new data files (see `compact`); safe beside writers.

        A large data file is rewritten once `min_deleted_share` of its rows are deleted (0: any).
        `exclusive()` keeps other writers out during the commit (see `compact.compact`).
        """

        def load() -> Any:
            return self.table(instance_id, namespace, name)

        return retry_conflicts(
            lambda: compact.compact(load, table_primary_keys(load()), min_deleted_share, exclusive)
        )

    def expire_snapshots(
        self,
        instance_id: str,
        namespace: str,
        name: str,
        older_than: datetime | None = None,
        retain_last: int = 1,
    ) -> int:
        """Expire snapshots older than `older_than` (default: all but the newest `retain_last`)."""
        cutoff = older_than or maintenance.snapshot_age_cutoff(timedelta(0))
        return retry_conflicts(
            lambda: maintenance.expire_snapshots(
                self.table(instance_id, namespace, name), cutoff, retain_last
            )
        )

    def maybe_maintain(
        self,
        instance_id: str,
        namespace: str,
        name: str,
        *,
        max_data_files: int = 32,
        max_delete_files: int = 16,
        max_snapshots: int = 20,
        retain_last: int = 5,
        min_snapshot_age: timedelta = timedelta(seconds=10),
        exclusive: Callable[[], AbstractContextManager[Any]] | None = None,
    ) -> MaintenanceResult:
        """Compact and expire snapshots when the table passes the thresholds; cheap when idle.

        Compaction runs past `max_data_files` data files, `max_delete_files` delete files, or a
        fifth of the rows deleted (see `compact.needs_compaction`).

        Every retained snapshot slows each commit (pyiceberg copies the metadata many times per
        commit: 30 ms at first, 390 ms after 300 commits); with these defaults it stays ~70 ms.
        Snapshots younger than `min_snapshot_age` stay, so that scans in flight keep their files.

        With `exclusive`, the table's other writers are kept out (`exclusive()` is entered) for
        compaction's commit and for expiry: beside a steady stream of commits, neither would
        otherwise land.
        """
        table = self.table(instance_id, namespace, name)
        compacted = None
        if compact.needs_compaction(table, max_data_files, max_delete_files):
            compacted = self.compact(instance_id, namespace, name, exclusive=exclusive)
            table = self.table(instance_id, namespace, name)
        expired = 0
        if len(table.snapshots()) > max_snapshots:
            with exclusive() if exclusive is not None else contextlib.nullcontext():
                expired = self.expire_snapshots(
                    instance_id,
                    namespace,
                    name,
                    maintenance.snapshot_age_cutoff(min_snapshot_age),
                    retain_last,
                )
        return MaintenanceResult(compacted, expired)

    # -- reads -----------------------------------------------------------------------------------

    def scan(
        self,
        instance_id: str,
        namespace: str,
        name: str,
        row_filter: str | None = None,
        limit: int | None = None,
        columns: Sequence[str] | None = None,
        snapshot_id: int | None = None,
    ) -> pa.Table:
        """The table's rows as Arrow, optionally filtered (pyiceberg filter syntax) and limited.

        `snapshot_id` reads an older snapshot that expiry has kept (default: the current one).
        """
        table = self.table(instance_id, namespace, name)
        selected = tuple(columns) if columns is not None else None
        return read.scan(table, row_filter, limit, selected, snapshot_id)

    def row_count(self, instance_id: str, namespace: str, name: str) -> int:
        return read.row_count(self.table(instance_id, namespace, name))


class _GoneAlready(logging.Filter):
    """Drops pyiceberg's warning about an old metadata file it could not delete because another
    committer of the table (the loader beside maintenance) deleted it first: nothing is wrong."""

    _PREFIX = "Failed to delete metadata file "

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith(self._PREFIX):
            return True
        path = _local_path(message[len(self._PREFIX) :])
        return path is None or os.path.exists(path)


logging.getLogger("pyiceberg.catalog").addFilter(_GoneAlready())


def _sql_catalog(name: str, **properties: str) -> Any:
    """pyiceberg's SqlCatalog (parsing each metadata file once, see `metadata`); a process racing
    another to create its tables tries again."""
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            return RememberingSqlCatalog(name, **properties)
        except SQLAlchemyError as e:
            # Two processes opening a fresh database both create the catalog tables: one of them
            # finds the other's (SQLite: "already exists"; PostgreSQL: a duplicate type or table).
            if attempt == _CREATE_ATTEMPTS - 1 or not _lost_create_race(e):
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def _lost_create_race(e: SQLAlchemyError) -> bool:
    text = str(e).lower()
    return "already exists" in text or "duplicate" in text or "unique" in text


def _warehouse_uri(warehouse: str) -> str:
    if "://" in warehouse:
        return warehouse
    return "file://" + os.path.abspath(warehouse)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_S * 1000}")
        # WAL is a property of the file; the store sets it too. Setting it is a no-op once set.
        cursor.execute("PRAGMA journal_mode = WAL")
    finally:
        cursor.close()


def _local_path(location: str) -> str | None:
    if location.startswith("file://"):
        return location[len("file://") :]
    return None if "://" in location else location


def _remove_remote_folder(io: Any, location: str) -> None:
    """Delete every object under `location` (an object store's "folder")."""
    scheme, netloc, path = io.parse_location(location)
    with contextlib.suppress(FileNotFoundError):
        io.fs_by_scheme(scheme, netloc).delete_dir(path)


def _remove_local_folder(location: str) -> None:
    path = _local_path(location)
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
