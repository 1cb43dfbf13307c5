"""The live files of a table's current snapshot, grouped by partition, read from its manifests."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from pyiceberg.manifest import DataFile, DataFileContent
from pyiceberg.utils.concurrent import ExecutorFactory

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


def live_files(table: Any) -> LiveFiles:
    """The table's current data and delete files (equality deletes are not written here)."""
    snapshot = table.current_snapshot()
    live = LiveFiles(snapshot.snapshot_id if snapshot is not None else None)
    if snapshot is None:
        return live
    listed = manifests(table, snapshot)

    def entries(manifest: Any) -> list[Any]:
        return live_entries(table, manifest)

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


def partitions_of_rows(table: Any, rows: pa.Table) -> list[Partition]:
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
