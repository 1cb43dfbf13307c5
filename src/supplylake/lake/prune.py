"""Which data files may hold a key that a batch removes.

A file is a candidate when its partition is one the removing rows fall in, and each primary-key
column's [lower, upper] bounds hold one of their values. This is done here, per file and with a
binary search, rather than with an `In` filter given to pyiceberg's scan: that binds the whole
literal set again for every file (residuals), so 600 keys over 600 files took 14 s.
"""

from __future__ import annotations

import bisect
from typing import Any

import pyarrow as pa
from pyiceberg.conversions import from_bytes

from supplylake.schema.types import DatasetSchema


def candidate_tasks(table: Any, removing: pa.Table, schema: DatasetSchema) -> list[Any]:
    """The scan tasks of `table` whose file may hold a row matching one of `removing`."""
    partitions = _partitions(table, removing)
    spec_id = table.spec().spec_id
    columns = [_KeyColumn(table, removing, name) for name in schema.primary_keys]
    found = []
    for task in table.scan().plan_files():
        data_file = task.file
        # Files of an older partition spec cannot be compared by partition; keep them.
        if data_file.spec_id == spec_id and _partition(data_file) not in partitions:
            continue
        if all(column.may_hold(data_file) for column in columns):
            found.append(task)
    return found


def _partitions(table: Any, rows: pa.Table) -> set[tuple[Any, ...]]:
    """The partition tuples of `rows`, as Iceberg stores them in data files."""
    spec = table.spec()
    if not spec.fields:
        return {()}
    iceberg_schema = table.schema()
    values = []
    for field in spec.fields:
        source = iceberg_schema.find_field(field.source_id)
        out = field.transform.pyarrow_transform(source.field_type)(rows.column(source.name))
        values.append(_plain(out).to_pylist())
    return set(zip(*values, strict=True))


def _partition(data_file: Any) -> tuple[Any, ...]:
    record = data_file.partition
    return tuple(record[i] for i in range(len(record)))


def _plain(values: Any) -> Any:
    """Timestamps as epoch microseconds, the form of Iceberg's bounds and partition values."""
    if pa.types.is_timestamp(values.type):
        return values.cast(pa.int64())
    return values


class _KeyColumn:
    """One key column's values among the removing rows, tested against a file's bounds."""

    def __init__(self, table: Any, rows: pa.Table, name: str) -> None:
        field = table.schema().find_field(name)
        self.field_id: int = field.field_id
        self.type = field.field_type
        column = _plain(rows.column(name))
        self.has_null = column.null_count > 0
        self.values = sorted(set(column.drop_null().to_pylist()))

    def may_hold(self, data_file: Any) -> bool:
        if self.has_null and (data_file.null_value_counts or {}).get(self.field_id, 1) > 0:
            return True
        lower = (data_file.lower_bounds or {}).get(self.field_id)
        upper = (data_file.upper_bounds or {}).get(self.field_id)
        if lower is None or upper is None:
            return bool(self.values)  # no bounds to prune with
        low, high = from_bytes(self.type, lower), from_bytes(self.type, upper)
        at = bisect.bisect_left(self.values, low)
        return at < len(self.values) and self.values[at] <= high
