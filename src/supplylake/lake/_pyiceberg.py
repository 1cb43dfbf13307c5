"""Every use of pyiceberg's private names, in one place, behind public names of our own.

pyiceberg has no public API for what the lake needs: writing data files without committing
them, splitting rows by partition, a snapshot producer that commits delete files, a transaction
that does not deep-copy its metadata on every read, a catalog that parses each metadata file
once. So the lake leans on a few of its private functions, classes and attributes. They may
move in any release: ``pyproject.toml`` pins pyiceberg to the minor version tested, and
``tests/lake/test_pyiceberg_internals.py`` checks every name listed in ``INTERNALS`` (and the
instance attributes of a live producer) so that an upgrade that moves one fails loudly, naming
it, instead of failing somewhere inside a commit. No other module of the lake may use a
pyiceberg name that starts with ``_``.
"""

from __future__ import annotations

import inspect
import itertools
import uuid
from abc import abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import pyarrow as pa
from pyiceberg.avro.codecs import AvroCompressionCodec
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.io import FileIO
from pyiceberg.io.pyarrow import _dataframe_to_data_files, _determine_partitions
from pyiceberg.manifest import (
    DataFile,
    ManifestContent,
    ManifestEntry,
    ManifestFile,
    ManifestWriterV2,
)
from pyiceberg.partitioning import PartitionKey, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table, Transaction
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import Operation
from pyiceberg.table.update import UpdatesAndRequirements
from pyiceberg.table.update.snapshot import _MergeAppendFiles, _SnapshotProducer
from pyiceberg.typedef import Properties

P = TypeVar("P", bound="SnapshotProducer[Any]")

#: What `Transaction.update_snapshot().merge_append()` returns (a private class of pyiceberg's).
MergeAppend = _MergeAppendFiles

#: (owner, private name, parameters it is called with or None): every private name used here.
INTERNALS: tuple[tuple[object, str, tuple[str, ...] | None], ...] = (
    (_dataframe_to_data_files, "", ("table_metadata", "df", "io", "write_uuid", "counter")),
    (_determine_partitions, "", ("spec", "schema", "arrow_table")),
    (_SnapshotProducer, "__init__", ("operation", "transaction", "io", "snapshot_properties")),
    (_MergeAppendFiles, "append_data_file", ("data_file",)),
    (_SnapshotProducer, "_commit", ()),
    (_SnapshotProducer, "_manifests", ()),
    (_SnapshotProducer, "_deleted_entries", ()),
    (_SnapshotProducer, "_existing_manifests", ()),
    (_SnapshotProducer, "_validate_concurrency", ()),
    (ManifestWriterV2, "_meta", None),
    (SqlCatalog, "_convert_orm_to_iceberg", ("orm_table",)),
    (SqlCatalog, "_load_file_io", ("properties", "location")),
)

#: Instance attributes of pyiceberg's objects read or written here.
PRODUCER_ATTRIBUTES = (
    "_transaction",
    "_io",
    "_operation",
    "_snapshot_id",
    "_parent_snapshot_id",
    "_compression",
    "_added_data_files",
    "_deleted_data_files",
    "_commit_window",
)
TRANSACTION_ATTRIBUTES = ("_table", "_updates")
ORM_ATTRIBUTES = ("metadata_location", "table_namespace", "table_name")


def moved() -> list[str]:
    """What of ``INTERNALS`` this pyiceberg no longer has as used here (empty when all is well)."""
    problems = []
    for owner, name, parameters in INTERNALS:
        where = getattr(owner, "__qualname__", repr(owner))
        target = getattr(owner, name, None) if name else owner
        label = f"{getattr(owner, '__module__', '?')}.{where}" + (f".{name}" if name else "")
        if target is None:
            problems.append(f"{label} is gone")
            continue
        if parameters is None:
            continue
        found = set(inspect.signature(target).parameters)  # type: ignore[arg-type]
        if missing := [p for p in parameters if p not in found]:
            problems.append(f"{label} lost its parameters {missing}")
    for name in ORM_ATTRIBUTES:
        if not hasattr(IcebergTables, name):
            problems.append(f"pyiceberg.catalog.sql.IcebergTables.{name} is gone")
    return problems


def moved_attributes(producer: SnapshotProducer[Any], transaction: Transaction) -> list[str]:
    """The private instance attributes that a live producer and transaction no longer have."""
    problems = [
        f"_SnapshotProducer().{name} is gone"
        for name in PRODUCER_ATTRIBUTES
        if not hasattr(producer, name)
    ]
    problems += [
        f"Transaction().{name} is gone"
        for name in TRANSACTION_ATTRIBUTES
        if not hasattr(transaction, name)
    ]
    return problems


# -- functions -----------------------------------------------------------------------------------


def write_data_files(table: Table, rows: pa.Table) -> list[DataFile]:
    """Write `rows` as data files of `table`, split by partition and size (not committed)."""
    if not rows.num_rows:
        return []
    return list(
        _dataframe_to_data_files(
            table_metadata=table.metadata,
            df=rows,
            io=table.io,
            write_uuid=uuid.uuid4(),
            counter=itertools.count(),
        )
    )


def split_by_partition(
    spec: PartitionSpec, schema: Schema, rows: pa.Table
) -> Iterable[tuple[PartitionKey, pa.Table]]:
    """The rows of each partition under `spec`, with the partition's key."""
    for part in _determine_partitions(spec=spec, schema=schema, arrow_table=rows):
        yield part.partition_key, part.arrow_table_partition


# -- classes -------------------------------------------------------------------------------------


class CopyOnceTransaction(Transaction):
    """pyiceberg's transaction, copying the table metadata once per change, not once per read.

    `Transaction.table_metadata` deep-copies the metadata on every access, many times per
    commit, which for a wide table is most of a row-level commit's time. The copy
    only changes when an update is staged or the table is refreshed; nothing here mutates it.
    """

    _memo: tuple[TableMetadata, object, TableMetadata] | None = None

    @property
    def table_metadata(self) -> TableMetadata:
        if not self._updates:
            # Nothing staged: the loaded metadata itself (pyiceberg's models are frozen).
            return self._table.metadata
        memo = self._memo
        if memo is None or memo[0] is not self._table.metadata or memo[1] is not self._updates:
            memo = (self._table.metadata, self._updates, super().table_metadata)
            self._memo = memo
        return memo[2]


class DeleteManifestWriter(ManifestWriterV2):
    """A v2 manifest of delete files (pyiceberg writes data manifests only)."""

    def content(self) -> ManifestContent:
        return ManifestContent.DELETES

    @property
    def _meta(self) -> dict[str, str]:
        return {**super()._meta, "content": "deletes"}


class SnapshotProducer(_SnapshotProducer[P]):
    """pyiceberg's snapshot producer, with public names for what a subclass reads and overrides.

    A subclass defines `existing_manifests` and `deleted_entries`, may override `operation`,
    `manifests` and `validate_concurrency` (defaults: pyiceberg's behaviour), and stages files
    with `stage_added` and `stage_removed`.
    """

    def __init__(
        self,
        operation: Operation,
        transaction: Transaction,
        io: FileIO,
        snapshot_properties: Properties,
    ) -> None:
        super().__init__(operation, transaction, io, snapshot_properties=snapshot_properties)

    # -- state --
    @property
    def transaction(self) -> Transaction:
        return self._transaction

    @property
    def io(self) -> FileIO:
        return self._io

    @property
    def new_snapshot_id(self) -> int:
        return self._snapshot_id

    @property
    def parent_snapshot_id(self) -> int | None:
        return self._parent_snapshot_id

    @property
    def compression(self) -> AvroCompressionCodec:
        return self._compression

    @property
    def added_files(self) -> list[DataFile]:
        return self._added_data_files

    def stage_added(self, data_file: DataFile) -> None:
        self._added_data_files.append(data_file)

    def stage_removed(self, data_file: DataFile) -> None:
        self._deleted_data_files.add(data_file)

    def planned_on_stale_snapshot(self) -> bool:
        """Whether snapshots landed between the one this commit planned on and the current."""
        window = self._commit_window
        return window is not None and not window.is_empty()

    # -- hooks (pyiceberg's behaviour unless overridden) --
    def operation(self) -> Operation:
        return self._operation

    def manifests(self) -> list[ManifestFile]:
        return super()._manifests()

    @abstractmethod
    def existing_manifests(self) -> list[ManifestFile]:
        """The parent snapshot's manifests this snapshot carries forward."""

    @abstractmethod
    def deleted_entries(self) -> list[ManifestEntry]:
        """Entries of files this snapshot removes, for manifests of their own."""

    def validate_concurrency(self) -> None:
        super()._validate_concurrency()

    # -- pyiceberg's private hooks, delegating to the public ones --
    def _commit(self) -> UpdatesAndRequirements:
        self._operation = self.operation()
        return super()._commit()

    def _manifests(self) -> list[ManifestFile]:
        return self.manifests()

    def _deleted_entries(self) -> list[ManifestEntry]:
        return self.deleted_entries()

    def _existing_manifests(self) -> list[ManifestFile]:
        return self.existing_manifests()

    def _validate_concurrency(self) -> None:
        self.validate_concurrency()


class HookedSqlCatalog(SqlCatalog):
    """pyiceberg's SqlCatalog with a public hook where it turns a catalog row into a Table."""

    def table_from_row(
        self,
        namespace: str,
        name: str,
        metadata_location: str | None,
        parse: Callable[[], Table],
    ) -> Table:
        """The Table of a catalog row; `parse()` reads its metadata file as pyiceberg does."""
        return parse()

    def file_io(self, properties: Properties, location: str) -> FileIO:
        """The FileIO pyiceberg gives a table with these properties at `location`."""
        return self._load_file_io(properties, location)

    def _convert_orm_to_iceberg(self, orm_table: IcebergTables) -> Table:
        return self.table_from_row(
            orm_table.table_namespace,
            orm_table.table_name,
            orm_table.metadata_location,
            lambda: super(HookedSqlCatalog, self)._convert_orm_to_iceberg(orm_table),
        )
