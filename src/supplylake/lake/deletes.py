"""Iceberg v2 position delete files: writing them (pyiceberg 0.12 only reads them) and reading.

A position delete file is a Parquet file of (file_path, pos) rows, sorted by file_path then pos,
with the reserved field ids 2147483546 and 2147483545 (Iceberg spec, "Position Delete Files").
Its manifest entry says which partition it belongs to (that of the data files it targets) and
carries full, untruncated bounds on file_path: readers (pyiceberg, Spark, Trino) use them to
skip delete files that cannot hold a data file's path, and treat lower == upper as "all rows
reference this one data file".
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.conversions import to_bytes
from pyiceberg.io import FileIO
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.typedef import Record
from pyiceberg.types import LongType, StringType

from supplylake.lake.lru import Lru

FILE_PATH_ID = 2147483546
POS_ID = 2147483545
_FIELD_ID = b"PARQUET:field_id"
SCHEMA = pa.schema(
    [
        pa.field("file_path", pa.string(), nullable=False, metadata={_FIELD_ID: b"2147483546"}),
        pa.field("pos", pa.int64(), nullable=False, metadata={_FIELD_ID: b"2147483545"}),
    ]
)
_CACHED_FILES = 1024
#: Delete files of up to this many bytes of rows are compressed with Snappy, larger ones with
#: Zstandard: Zstandard's setup costs more than the whole write of a few positions.
_SMALL_BYTES = 1 << 20


def _codec(nbytes: int) -> str:
    return "snappy" if nbytes <= _SMALL_BYTES else "zstd"


def write_position_deletes(
    io: FileIO,
    positions: Mapping[str, Collection[int]],
    partition: Record,
    spec_id: int,
    name: str | None = None,
) -> DataFile:
    """Write one delete file removing `positions` (data file path -> row positions).

    All data files must share `partition`; the file goes into the folder of the first one.
    """
    paths = sorted(p for p, rows in positions.items() if rows)
    if not paths:
        raise ValueError("no positions to delete")
    file_paths: list[str] = []
    rows: list[int] = []
    for path in paths:
        ordered = sorted(set(positions[path]))
        file_paths += [path] * len(ordered)
        rows += ordered
    table = pa.Table.from_arrays(
        [pa.array(file_paths, pa.string()), pa.array(rows, pa.int64())], schema=SCHEMA
    )
    folder = paths[0].rsplit("/", 1)[0]
    location = f"{folder}/{name or uuid.uuid4().hex}-deletes.parquet"
    collected: list[Any] = []
    output = io.new_output(location)
    with output.create(overwrite=True) as stream:
        pq.write_table(
            table, stream, compression=_codec(table.nbytes), metadata_collector=collected
        )
    sizes = {FILE_PATH_ID: 0, POS_ID: 0}
    for metadata in collected:
        for g in range(metadata.num_row_groups):
            group = metadata.row_group(g)
            sizes[FILE_PATH_ID] += group.column(0).total_compressed_size
            sizes[POS_ID] += group.column(1).total_compressed_size
    remember(location, {path: frozenset(positions[path]) for path in paths})
    delete_file = DataFile.from_args(
        content=DataFileContent.POSITION_DELETES,
        file_path=location,
        file_format=FileFormat.PARQUET,
        partition=partition,
        record_count=len(rows),
        file_size_in_bytes=len(output),
        column_sizes=sizes,
        value_counts={FILE_PATH_ID: len(rows), POS_ID: len(rows)},
        null_value_counts={FILE_PATH_ID: 0, POS_ID: 0},
        nan_value_counts={},
        lower_bounds={
            FILE_PATH_ID: to_bytes(StringType(), paths[0]),
            POS_ID: to_bytes(LongType(), min(rows)),
        },
        upper_bounds={
            FILE_PATH_ID: to_bytes(StringType(), paths[-1]),
            POS_ID: to_bytes(LongType(), max(rows)),
        },
        key_metadata=None,
        split_offsets=None,
        equality_ids=None,
        sort_order_id=None,
    )
    delete_file.spec_id = spec_id  # not a field of the manifest entry: set apart
    return delete_file


def positions_in(io: FileIO, delete_file: DataFile) -> dict[str, frozenset[int]]:
    """The positions `delete_file` removes, by data file path (cached: delete files never change)."""
    cached = _cache.get(delete_file.file_path)
    if cached is not None:
        return cached
    with io.new_input(delete_file.file_path).open() as stream:
        table = pq.read_table(stream, columns=["file_path", "pos"])
    grouped = table.group_by("file_path").aggregate([("pos", "list")])
    found = {
        path: frozenset(rows)
        for path, rows in zip(
            grouped.column("file_path").to_pylist(),
            grouped.column("pos_list").to_pylist(),
            strict=True,
        )
    }
    remember(delete_file.file_path, found)
    return found


def deleted_positions(
    io: FileIO, data_file_path: str, delete_files: Iterable[DataFile]
) -> set[int]:
    """The positions of `data_file_path` that `delete_files` (those that apply to it) remove."""
    deleted: set[int] = set()
    for delete_file in delete_files:
        deleted |= positions_in(io, delete_file).get(data_file_path, frozenset())
    return deleted


def remember(path: str, positions: dict[str, frozenset[int]]) -> None:
    _cache.put(path, positions)


def forget_cached() -> None:
    _cache.clear()


_cache: Lru[str, dict[str, frozenset[int]]] = Lru(_CACHED_FILES)
