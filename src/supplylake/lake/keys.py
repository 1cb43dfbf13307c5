"""Match keys: which rows an UPSERT or DELETE replaces.

A row's match key is its primary-key values plus, for partitioned tables, the transformed value of
each partition field whose source is not a key column: UPSERT and DELETE match "within the
record's partition", so the same key in another partition (e.g. another day) is another row.
Transforms here only need to agree with themselves (both sides go through this module), not
with Iceberg's partition values.

The key is encoded into one string per row so matching is one hash lookup (`pc.is_in`), never
a filter expression with an OR per key (pyarrow segfaults past ~8k terms, LAKE-NOTES).

The key index (`keyindex`) stores primary keys only, as 128-bit BLAKE2b digests: the partition
part of a match key is the data file's own partition there, since Iceberg partitions by the same
transforms.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import partial

import pyarrow as pa
import pyarrow.compute as pc

from supplylake.schema.types import DatasetSchema, Transform

_FLOOR_UNITS = {
    Transform.YEAR: "year",
    Transform.MONTH: "month",
    Transform.DAY: "day",
    Transform.HOUR: "hour",
}
_NULL = "~"  # never produced for a value, whose framing starts with a digit


def match_columns(schema: DatasetSchema) -> list[str]:
    """The columns a match key is computed from: primary keys, then partition sources."""
    columns = list(schema.primary_keys)
    for p in schema.partition_spec:
        if p.name not in columns:
            columns.append(p.name)
    return columns


def encode_keys(rows: pa.Table, schema: DatasetSchema) -> pa.ChunkedArray:
    """One string per row identifying its key within its partition; nulls are values too."""
    if not schema.primary_keys:
        raise ValueError(f"dataset {schema.name!r} has no primary keys to match on")
    parts = [_frame(rows.column(k)) for k in schema.primary_keys]
    for p in schema.partition_spec:
        if p.name in schema.primary_keys:
            continue  # the key already fixes the partition value
        column = rows.column(p.name)
        if p.transform is not Transform.IDENTITY:
            column = pc.floor_temporal(column, unit=_FLOOR_UNITS[p.transform])
        parts.append(_frame(column))
    if len(parts) == 1:
        return parts[0]
    joined: pa.ChunkedArray = pc.binary_join_element_wise(*parts, "")
    return joined


def encode_primary_keys(rows: pa.Table, primary_keys: Sequence[str]) -> pa.ChunkedArray:
    """One string per row identifying its primary key alone (no partition part)."""
    parts = [_frame(rows.column(k)) for k in primary_keys]
    if len(parts) == 1:
        return parts[0]
    joined: pa.ChunkedArray = pc.binary_join_element_wise(*parts, "")
    return joined


_digest = partial(hashlib.blake2b, digest_size=16)


def hash_keys(encoded: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, pa.Array]:
    """The two 64-bit halves of each encoded key's 128-bit BLAKE2b digest, as uint64 arrays.

    A stable, standard hash: key index files written by one version are read by the next. At
    128 bits a collision (which would delete the wrong row) is not a practical concern.
    """
    values = encoded.cast(pa.binary()).to_pylist()
    digests = b"".join([_digest(v).digest() for v in values])
    halves = pa.Array.from_buffers(pa.uint64(), 2 * len(values), [None, pa.py_buffer(digests)])
    pairs = pa.FixedSizeListArray.from_arrays(halves, 2)
    return pc.list_element(pairs, 0), pc.list_element(pairs, 1)


def _frame(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """`<byte length>:<text>` so that concatenated parts cannot be confused; `~` for null."""
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.int64())
    text = column.cast(pa.string())
    length = pc.binary_length(text).cast(pa.string())
    framed = pc.binary_join_element_wise(length, text, ":")
    filled: pa.ChunkedArray = pc.fill_null(framed, _NULL)
    return filled
