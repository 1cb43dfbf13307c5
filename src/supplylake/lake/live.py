"""The live files of a table's current snapshot, grouped by partition, read from its manifests.

`live_files` serves the writers (which rows a key has, what compaction rewrites);
`current_files` serves engines that read the Parquet files themselves (DuckDB, see
`supplylake.query`): the data files, the position delete files, and which data files those may
remove rows from.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from pyiceberg.conversions import from_bytes
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.manifest import DataFile, DataFileContent, ManifestEntry, ManifestFile
from pyiceberg.table import Table
from pyiceberg.types import StringType
from pyiceberg.utils.concurrent import ExecutorFactory

from supplylake.lake.deletes import FILE_PATH_ID
from supplylake.lake.manifests import live_entries, manifests

Partition = tuple[int, tuple[Any, ...]]  # (spec id, partition values)


@dataclass
class LiveFiles:
    """Data files and position delete files of one snapshot, by partition."""

    snapshot_id: int | None
    data: dict[Partition, list[DataFile]] = field(default_factory=lambda: defaultdict(list))
    deletes: dict[Partition, list[DataFile]] = field(default_factory=lambda: defaultdict(list))

    def partitions(self) -> set[Partition]:
        return set(self.data) | set(self.deletes)


@dataclass(frozen=True)
class CurrentFiles:
    """The files a reader of a table's current snapshot reads, as URIs (`file://` or `s3://`)."""

    schema: pa.Schema  # the table's columns, in the types its rows are read in
    clean: tuple[str, ...]  # data files no delete file applies to
    deleted_from: tuple[str, ...]  # data files a delete file may remove rows from
    deletes: tuple[str, ...]  # position delete files: (file_path, pos) rows

    @property
    def paths(self) -> tuple[str, ...]:
        return self.clean + self.deleted_from + self.deletes


def current_files(table: Table) -> CurrentFiles:
    """The files of the table's current snapshot; deletes matched to data files by partition and
    by the delete files' bounds on `file_path`, as Iceberg readers plan them."""
    schema = schema_to_pyarrow(table.schema(), include_field_ids=False)
    live = live_files(table)
    clean: list[str] = []
    deleted_from: list[str] = []
    deletes: list[str] = []
    for partition, data_files in live.data.items():
        applying = live.deletes.get(partition, [])
        deletes += [f.file_path for f in applying]
        bounds = [_path_bounds(f) for f in applying]
        for data_file in data_files:
            path = data_file.file_path
            hit = any(lo is None or lo <= path <= hi for lo, hi in bounds)  # type: ignore[operator]
            (deleted_from if hit else clean).append(path)
    return CurrentFiles(schema, tuple(clean), tuple(deleted_from), tuple(sorted(set(deletes))))


def _path_bounds(delete_file: DataFile) -> tuple[str | None, str | None]:
    """The `file_path` range a delete file covers; (None, None) when it does not say."""
    lower = (delete_file.lower_bounds or {}).get(FILE_PATH_ID)
    upper = (delete_file.upper_bounds or {}).get(FILE_PATH_ID)
    if lower is None or upper is None:
        return None, None
    # A truncated upper bound is still an upper bound (Iceberg rounds it up).
    return str(from_bytes(StringType(), lower)), str(from_bytes(StringType(), upper))


def live_files(table: Table) -> LiveFiles:
    """The table's current data and delete files (equality deletes are not written here)."""
    snapshot = table.current_snapshot()
    live = LiveFiles(snapshot.snapshot_id if snapshot is not None else None)
    if snapshot is None:
        return live
    listed = manifests(table.io, snapshot)

    def entries(manifest: ManifestFile) -> list[ManifestEntry]:
        return live_entries(table.io, manifest)

    groups = (
        ExecutorFactory.get_or_create().map(entries, listed)
        if len(listed) > 1
        else map(entries, listed)
    )
    for group in groups:
        for entry in group:
            data_file = entry.data_file
            key = partition_of(data_file)
            if data_file.content == DataFileContent.DATA:
                live.data[key].append(data_file)
            elif data_file.content == DataFileContent.POSITION_DELETES:
                live.deletes[key].append(data_file)
            else:
                raise NotImplementedError("equality delete files are not supported")
    return live


def partition_of(data_file: DataFile) -> Partition:
    record = data_file.partition
    return data_file.spec_id, tuple(record[i] for i in range(len(record)))


def partitions_of_rows(table: Table, rows: pa.Table) -> list[Partition]:
    """Each row's partition under the table's current spec, as data files record it."""
    spec = table.spec()
    if not spec.fields:
        return [(spec.spec_id, ())] * rows.num_rows
    schema = table.schema()
    values = []
    for spec_field in spec.fields:
        source = schema.find_field(spec_field.source_id)
        out = spec_field.transform.pyarrow_transform(source.field_type)(rows.column(source.name))
        if pa.types.is_timestamp(out.type):  # identity of a timestamp: epoch microseconds
            out = out.cast(pa.int64())
        values.append(out.to_pylist())
    return [(spec.spec_id, tuple(v)) for v in zip(*values, strict=True)]
