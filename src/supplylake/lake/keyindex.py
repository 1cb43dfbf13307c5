"""The key index: where each primary key lives, as (data file, row position).

It is kept per data file, not per table. Beside each data file that UPSERT or DELETE has had to
search, a small Arrow file (`<table>/keys/<digest of the data file path>.keys`) holds the 128-bit
digest of every row's primary key (`keys.hash_keys`), sorted, with the row's position. Iceberg
data files never change, so neither does their index file: it needs no snapshot id, no update
protocol and no lock. The live rows of a key are then the index hits in the table's current data
files of the key's partition (the current snapshot says which those are) minus the positions
that the current delete files already remove (`deletes.deleted_positions`). So the Iceberg commit
stays the only source of truth: an index file is written before the commit that needs it or
built when first needed, atomically (rename), and one that is missing, corrupt (checksum), or
written for other key columns is built again from its data file.

Lookups bisect memory-mapped arrays, or hash-probe small ones, so a batch costs
O(keys x files x log rows) whatever the table holds. The loader indexes each small data file it
writes to a keyed table as it writes it, and compaction the files it writes; any other file is
indexed by the first UPSERT or DELETE that searches it. The index of a file of a few rows (most
of the loader's, with many active tables) is only kept in memory: writing it out cost more than
building it again from the data file does, which only another process or a restart needs.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
import zlib
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.io import FileIO
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table

from supplylake.lake.keys import encode_primary_keys, hash_keys
from supplylake.lake.lru import Lru
from supplylake.lake.paths import local_path
from supplylake.lake.read import file_rows

_FORMAT = 1
_META = b"supplylake.keys"
#: What the cache holds at most, in units of `_weight`: one per data file plus one per 1,024 of its
#: rows. A cycle over more files than this misses every time (each loader commit searches every
#: file of its table), so the bound is sized for many small files: a thousand tables of a dozen
#: files, or a few hundred million rows.
_CACHE_WEIGHT = 1 << 16
# Below this many rows per key looked up, one vectorized hash probe beats a bisect per key.
_PROBE_RATIO = 64


class Wanted:
    """Primary-key digests to find in one partition."""

    def __init__(self, h1: Iterable[int], h2: Iterable[int]) -> None:
        self.pairs: dict[int, set[int]] = {}
        for a, b in zip(h1, h2, strict=True):
            self.pairs.setdefault(a, set()).add(b)
        self.h1 = pa.array(sorted(self.pairs), pa.uint64())


class KeySegment:
    """One data file's key digests, sorted, with the position of each row."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table.combine_chunks()
        self.h1 = _view(self.table.column("h1"), "Q")
        self.h2 = _view(self.table.column("h2"), "Q")
        self.pos = _view(self.table.column("pos"), "I")

    def __len__(self) -> int:
        return len(self.h1)

    def find(self, wanted: Wanted) -> list[int]:
        """Positions (ascending) of the rows whose key is one of `wanted`."""
        n = len(self.h1)
        if not n or not wanted.pairs:
            return []
        if n <= _PROBE_RATIO * len(wanted.pairs):
            mask = pc.is_in(self.table.column("h1"), value_set=wanted.h1)
            hits: list[int] = pc.indices_nonzero(mask).to_pylist()
        else:
            hits = []
            for a in wanted.pairs:
                i = bisect_left(self.h1, a)
                while i < n and self.h1[i] == a:
                    hits.append(i)
                    i += 1
        return sorted(self.pos[i] for i in hits if self.h2[i] in wanted.pairs[self.h1[i]])


def segment_for(table: Table, data_file: DataFile, primary_keys: Sequence[str]) -> KeySegment:
    """The index of `data_file` (a DataFile of `table`): cached, loaded, or built and stored."""
    cache_key = (data_file.file_path, tuple(primary_keys))
    cached = _cache.get(cache_key)
    if cached is not None:
        return cached
    path = segment_path(table.location(), data_file.file_path)
    segment = _load(table.io, path, data_file.file_path, data_file.record_count, primary_keys)
    if segment is None:
        # Every row of the file, in file order (deleted rows included).
        rows = file_rows(table, [data_file], primary_keys)
        segment = store_segment(table, data_file.file_path, rows, primary_keys)
    _remember(cache_key, segment)
    return segment


def is_cached(data_file_path: str, primary_keys: Sequence[str]) -> bool:
    return (data_file_path, tuple(primary_keys)) in _cache


def store_segment(
    table: Table, data_file_path: str, rows: pa.Table, primary_keys: Sequence[str]
) -> KeySegment:
    """Index `rows` (the key columns of the data file, in file order) and store the index."""
    arrays = _index(rows, primary_keys)
    meta = {
        "format": _FORMAT,
        "data_file": data_file_path,
        "rows": arrays.num_rows,
        "columns": list(primary_keys),
        "crc": _checksum(arrays),
    }
    arrays = arrays.replace_schema_metadata({_META: json.dumps(meta)})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, arrays.schema) as writer:
        writer.write_table(arrays)
    path = segment_path(table.location(), data_file_path)
    _write_atomically(table.io, path, sink.getvalue())
    # Cached memory-mapped where possible, so that the cache holds no index on the heap.
    local = local_path(path) is not None
    segment = (
        _load(table.io, path, data_file_path, arrays.num_rows, primary_keys) if local else None
    )
    if segment is None:
        segment = KeySegment(arrays)
    _remember((data_file_path, tuple(primary_keys)), segment)
    return segment


def hold_segment(data_file_path: str, rows: pa.Table, primary_keys: Sequence[str]) -> KeySegment:
    """Index `rows` (the key columns of a small data file, in file order) in memory only."""
    segment = KeySegment(_index(rows, primary_keys))
    _remember((data_file_path, tuple(primary_keys)), segment)
    return segment


def _index(rows: pa.Table, primary_keys: Sequence[str]) -> pa.Table:
    """The key digests of `rows`, sorted, with each row's position."""
    h1, h2 = hash_keys(encode_primary_keys(rows, primary_keys))
    unsorted = pa.table({"h1": h1, "h2": h2, "pos": pa.array(range(len(h1)), pa.uint32())})
    order = pc.sort_indices(unsorted, sort_keys=[("h1", "ascending"), ("h2", "ascending")])
    return unsorted.take(order).combine_chunks()


def segment_path(table_location: str, data_file_path: str) -> str:
    digest = hashlib.sha1(data_file_path.encode()).hexdigest()
    return f"{table_location.rstrip('/')}/keys/{digest}.keys"


def remove_segments(io: FileIO, table_location: str, data_file_paths: Iterable[str]) -> None:
    """Delete the index files of data files that are gone (expired or never committed)."""
    gone = set(data_file_paths)
    _cache.discard(lambda key: key[0] not in gone)
    for data_file_path in gone:
        path = segment_path(table_location, data_file_path)
        local = local_path(path)
        try:
            if local is not None:
                os.unlink(local)
            else:
                io.delete(path)
        except FileNotFoundError:
            continue


def forget_cached() -> None:
    """Drop the in-process cache, as a new process starts (tests use it)."""
    _cache.clear()


def _weight(segment: KeySegment) -> int:
    return 1 + len(segment) // 1024


_cache: Lru[tuple[str, tuple[str, ...]], KeySegment] = Lru(_CACHE_WEIGHT, weight=_weight)


def _remember(key: tuple[str, tuple[str, ...]], segment: KeySegment) -> None:
    _cache.put(key, segment)


def _load(
    io: FileIO, path: str, data_file_path: str, record_count: int, primary_keys: Sequence[str]
) -> KeySegment | None:
    """The stored index, or None if it is missing, damaged or for other key columns."""
    local = local_path(path)
    try:
        source = pa.memory_map(local) if local is not None else _read_remote(io, path)
        arrays = pa.ipc.open_file(source).read_all()
        meta = json.loads((arrays.schema.metadata or {})[_META])
        valid = (
            meta["format"] == _FORMAT
            and meta["data_file"] == data_file_path
            and meta["rows"] == record_count == arrays.num_rows
            and meta["columns"] == list(primary_keys)
            and meta["crc"] == _checksum(arrays)
        )
    except (OSError, pa.ArrowException, KeyError, TypeError, ValueError):
        return None
    return KeySegment(arrays) if valid else None


def _read_remote(io: FileIO, path: str) -> pa.BufferReader:
    with io.new_input(path).open() as stream:
        return pa.BufferReader(stream.read())


def _write_atomically(io: FileIO, path: str, data: pa.Buffer) -> None:
    local = local_path(path)
    if local is None:  # object stores replace whole objects
        with io.new_output(path).create(overwrite=True) as stream:
            stream.write(data)
        return
    os.makedirs(os.path.dirname(local), exist_ok=True)
    partial = f"{local}.{uuid.uuid4().hex}.tmp"
    with open(partial, "wb") as f:
        f.write(memoryview(data))
    os.replace(partial, local)


def _checksum(arrays: pa.Table) -> int:
    crc = 0
    for name in ("h1", "h2", "pos"):
        for chunk in arrays.column(name).chunks:
            crc = zlib.crc32(_bytes(chunk), crc)
    return crc


def _bytes(array: pa.Array) -> memoryview:
    width = array.type.bit_width // 8
    data = memoryview(array.buffers()[1]).cast("B")
    return data[array.offset * width : (array.offset + len(array)) * width]


def _view(column: pa.ChunkedArray, code: Literal["Q", "I"]) -> Any:
    """The column's values as a flat memoryview of ints (bisect and indexing, no copies)."""
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if len(array) == 0:
        return memoryview(b"").cast(code)
    return _bytes(array).cast(code)
