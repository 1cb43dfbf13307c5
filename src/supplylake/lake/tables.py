"""The lake: one Iceberg table per dataset of each instance, written in batches, read to Arrow.

`Lake` is what the loader, the service and the query engine hold: it creates and drops tables
(see `names` for how they are named in the catalog), applies a batch of changes as one snapshot
(`write`), keeps tables healthy (`compact`, `maintenance`) and reads them (`read`, `live`).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
from pyiceberg.exceptions import NamespaceAlreadyExistsError, NoSuchNamespaceError, NoSuchTableError
from pyiceberg.table import Table
from sqlalchemy.exc import IntegrityError

from supplylake.lake import compact, maintenance, read
from supplylake.lake.catalog import open_catalog
from supplylake.lake.compact import CompactResult
from supplylake.lake.errors import PositionMovedError, TableNotFoundError
from supplylake.lake.fold import Change, fold
from supplylake.lake.layout import (
    iceberg_schema,
    partition_spec,
    table_primary_keys,
    table_properties,
)
from supplylake.lake.live import CurrentFiles, current_files
from supplylake.lake.maintenance import MaintenanceResult
from supplylake.lake.names import instance_prefix, namespace_identifier, table_identifier
from supplylake.lake.paths import local_path, remove_folder
from supplylake.lake.write import ApplyResult, commit_folded, retry_conflicts
from supplylake.schema.types import DatasetSchema


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
        self.catalog = open_catalog(catalog_uri, warehouse, name, properties or {})

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
        return self.catalog.table_exists(table_identifier(instance_id, namespace, name))

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
        remove_folder(table.io, location)

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
        # The namespace's folder, if local: objects stores have no empty folders to remove.
        folder = local_path(f"{self.catalog.properties['warehouse']}/{ns}")
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def drop_instance(self, instance_id: str) -> None:
        """Drop every namespace (and table) of the instance."""
        for namespace in self.namespaces(instance_id):
            self.drop_namespace(instance_id, namespace)

    def namespaces(self, instance_id: str) -> list[str]:
        """The instance's namespaces that exist in the catalog."""
        prefix = instance_prefix(instance_id)
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
    ) -> Table:
        """The dataset's table, loaded once (and with `create`, made first if it is missing).

        A table made before its schema gained optional fields (the asc data model grows at its
        end) gets them first, so that the rows of the current schema fit.
        """
        try:
            table = self.table(instance_id, namespace, schema.name)
        except TableNotFoundError:
            if not create:
                raise
            self.create_table(instance_id, namespace, schema)
            return self.table(instance_id, namespace, schema.name)
        have = {f.name for f in table.schema().fields}
        missing = [f.name for f in schema.fields if f.name not in have and not f.required]
        if not missing:
            return table
        wanted = iceberg_schema(schema)
        # Another loader adding them too makes this commit fail and the batch retry (transient).
        with table.update_schema() as update:
            for name in missing:
                update.add_column(name, wanted.find_field(name).field_type)
        return self.table(instance_id, namespace, schema.name)

    def table(self, instance_id: str, namespace: str, name: str) -> Table:
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
        table: Table | None = None,
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
    def position_of(table: Table) -> int:
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

        def load() -> Table:
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
        commit); with these defaults commit time stays flat (docs/performance.md).
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

    def current_files(self, instance_id: str, namespace: str, name: str) -> CurrentFiles:
        """The Parquet files of the table's current snapshot, for engines that read them."""
        return current_files(self.table(instance_id, namespace, name))
