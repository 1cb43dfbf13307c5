"""Find the live rows that a batch's UPSERT and DELETE keys replace, through the key index.

A removing row matches the rows with its primary key in its own partition ("within the record's
partition", see `keys`). So the keys are grouped by partition, and each group is looked up in the
index of that partition's data files only; hits that a delete file already removes are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table
from pyiceberg.typedef import Record

from supplylake.lake import keyindex
from supplylake.lake.deletes import deleted_positions
from supplylake.lake.errors import LakeError
from supplylake.lake.keyindex import KeySegment, Wanted
from supplylake.lake.keys import encode_primary_keys, hash_keys
from supplylake.lake.live import Partition, live_files, partitions_of_rows


@dataclass
class PartitionHits:
    """The rows to delete in one partition: data file path -> positions (ascending)."""

    partition: Record  # as data files carry it
    spec_id: int
    positions: dict[str, list[int]] = field(default_factory=dict)


def locate(table: Table, removing: pa.Table, primary_keys: Sequence[str]) -> list[PartitionHits]:
    """The live rows of `table` that share a partition and primary key with a `removing` row."""
    if table.current_snapshot() is None or removing.num_rows == 0:
        return []
    wanted = _wanted(table, removing, primary_keys)
    live = live_files(table)
    default_spec = table.spec().spec_id
    tasks = []
    for partition, data_files in live.data.items():
        if partition[0] != default_spec:
            raise LakeError("tables with several partition specs cannot be upserted")
        if partition in wanted:
            tasks += [(partition, data_file) for data_file in data_files]
    segments = _segments(table, [f for _, f in tasks], primary_keys)
    found: dict[Partition, PartitionHits] = {}
    for (partition, data_file), segment in zip(tasks, segments, strict=True):
        hits = segment.find(wanted[partition])
        if hits and live.deletes.get(partition):
            gone = deleted_positions(table.io, data_file.file_path, live.deletes[partition])
            hits = [p for p in hits if p not in gone]
        if hits:
            group = found.setdefault(
                partition, PartitionHits(data_file.partition, data_file.spec_id)
            )
            group.positions[data_file.file_path] = hits
    return list(found.values())


def _wanted(table: Table, rows: pa.Table, primary_keys: Sequence[str]) -> dict[Partition, Wanted]:
    h1, h2 = hash_keys(encode_primary_keys(rows, primary_keys))
    grouped: dict[Partition, tuple[list[int], list[int]]] = {}
    for partition, a, b in zip(
        partitions_of_rows(table, rows), h1.to_pylist(), h2.to_pylist(), strict=True
    ):
        firsts, seconds = grouped.setdefault(partition, ([], []))
        firsts.append(a)
        seconds.append(b)
    return {p: Wanted(a, b) for p, (a, b) in grouped.items()}


def _segments(
    table: Table, data_files: list[DataFile], primary_keys: Sequence[str]
) -> list[KeySegment]:
    """The index of each data file; missing ones are built in parallel (reads release the GIL)."""

    def one(data_file: DataFile) -> KeySegment:
        return keyindex.segment_for(table, data_file, primary_keys)

    missing = [f for f in data_files if not keyindex.is_cached(f.file_path, primary_keys)]
    if len(missing) <= 1:
        return [one(f) for f in data_files]
    # Not pyiceberg's shared executor: reading a file submits to it, and waiting on it from its
    # own workers deadlocks once the files outnumber its threads.
    with ThreadPoolExecutor(max_workers=min(4, len(missing))) as pool:
        list(pool.map(one, missing))
    return [one(f) for f in data_files]
