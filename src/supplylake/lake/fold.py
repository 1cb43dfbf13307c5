"""Fold a batch of changes, in event order, into rows to add and keys to remove.

Sequential semantics, computed in one vectorized pass: an UPSERT or DELETE of key k is a
barrier that removes every earlier row with k (in the table or earlier in the batch); rows of k
survive only from its last barrier on, and an UPSERT event's own duplicates collapse to its last
row. So the rows kept are the APPEND and UPSERT rows at or after their key's last barrier, and
the table loses every row whose key has a barrier. The fold is pure Arrow; `write` applies it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from supplylake.lake.keys import encode_keys, match_columns
from supplylake.lake.layout import arrow_schema, conform, relaxed
from supplylake.schema.types import DatasetSchema, Operation


@dataclass(frozen=True)
class Change:
    """One event's rows and what to do with them."""

    operation: Operation
    rows: pa.Table


@dataclass(frozen=True)
class Folded:
    """The net effect of a batch on a table."""

    added: pa.Table  # rows to write, in the dataset's Arrow schema and event order
    removed_keys: pa.Array  # unique match keys whose existing rows go
    removed_rows: pa.Table  # the match columns of the removing rows, to find their rows with

    @property
    def removes(self) -> bool:
        return len(self.removed_keys) > 0


def fold(changes: Sequence[Change], schema: DatasetSchema) -> Folded:
    """Fold `changes` (in event order) for the dataset `schema`."""
    strict = arrow_schema(schema)
    loose = relaxed(strict)
    rows = _concat([c.rows for c in changes], loose)
    ops = [Operation(c.operation) for c in changes]

    if all(op == Operation.APPEND for op in ops):
        return Folded(conform(rows, strict), pa.array([], pa.string()), _empty(schema, loose))
    if not schema.primary_keys:
        raise ValueError(f"UPSERT and DELETE need primary keys; {schema.name!r} has none")

    op_codes = pa.array(
        [_CODES[op] for op, c in zip(ops, changes, strict=True) for _ in range(c.rows.num_rows)],
        pa.int8(),
    )
    keys = encode_keys(rows, schema).combine_chunks()
    if all(op == Operation.UPSERT for op in ops) and pc.count_distinct(keys).as_py() == len(keys):
        # Each row replaces what its key held before and nothing of the batch: all stay.
        return Folded(conform(rows, strict), keys, rows.select(match_columns(schema)))
    seq = pa.array(range(rows.num_rows), pa.int64())

    is_barrier = pc.not_equal(op_codes, _CODES[Operation.APPEND])
    barrier_rows = pa.table({"key": keys, "seq": seq}).filter(is_barrier)
    last = barrier_rows.group_by("key").aggregate([("seq", "max")])
    position = pc.index_in(keys, value_set=last.column("key"))
    last_barrier = pc.take(last.column("seq_max"), position)

    after_barrier = pc.fill_null(pc.greater_equal(seq, last_barrier), True)
    keep = pc.and_(pc.not_equal(op_codes, _CODES[Operation.DELETE]), after_barrier)
    return Folded(
        added=conform(rows.filter(keep), strict),
        removed_keys=last.column("key").combine_chunks(),
        removed_rows=rows.filter(is_barrier).select(match_columns(schema)),
    )


_CODES = {Operation.APPEND: 0, Operation.UPSERT: 1, Operation.DELETE: 2}


def _concat(tables: list[pa.Table], loose: pa.Schema) -> pa.Table:
    """All rows in one chunk of `loose`; casting once when the events share a schema."""
    if not tables:
        return loose.empty_table()
    if all(t.schema == tables[0].schema for t in tables):
        # Events from one loader share a schema: one cast of 1,000 rows, not 1,000 casts of one.
        return conform(pa.concat_tables(tables).combine_chunks(), loose)
    return pa.concat_tables([conform(t, loose) for t in tables]).combine_chunks()


def _empty(schema: DatasetSchema, loose: pa.Schema) -> pa.Table:
    columns = match_columns(schema) if schema.primary_keys else []
    return loose.empty_table().select(columns)
