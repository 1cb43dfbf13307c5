"""How a DatasetSchema maps onto an Iceberg table: schema, partition spec, properties, Arrow."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from pyiceberg.partitioning import PartitionField as IcebergPartitionField
from pyiceberg.partitioning import PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.transforms import (
    DayTransform,
    HourTransform,
    IdentityTransform,
    MonthTransform,
    YearTransform,
)
from pyiceberg.transforms import Transform as Transform_
from pyiceberg.types import (
    DoubleType,
    IntegerType,
    LongType,
    NestedField,
    PrimitiveType,
    StringType,
    TimestamptzType,
)

# One definition of a dataset's Arrow schema (in schema/), re-exported for the lake's modules.
from supplylake.schema.arrow_types import arrow_schema as arrow_schema
from supplylake.schema.types import DatasetSchema, FieldType, Transform

POSITION_PROPERTY = "supplylake.position"
# The dataset's primary keys in order, so that compaction can index the files it writes.
PRIMARY_KEYS_PROPERTY = "supplylake.primary-keys"

TABLE_PROPERTIES: dict[str, str] = {
    "format-version": "2",
    # No retries inside pyiceberg: its retry rebases an append onto whatever landed meanwhile,
    # which would apply a batch twice if that was the same batch committed by a loader that lost
    # its lease. `retry_conflicts` retries instead, re-checking the recorded position each time.
    "commit.retry.num-retries": "0",
    "commit.retry.min-wait-ms": "50",
    "commit.retry.max-wait-ms": "5000",
    # One metadata file per commit otherwise piles up without bound.
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "10",
    "commit.manifest-merge.enabled": "true",
    "commit.manifest.min-count-to-merge": "16",
    # UPSERT and DELETE write position deletes (merge-on-read); other engines should too.
    "write.delete.mode": "merge-on-read",
    "write.update.mode": "merge-on-read",
    "write.merge.mode": "merge-on-read",
    # A row-level commit must fail (and be redone) if rows were added concurrently, or an
    # UPSERT could leave a duplicate key behind.
    "write.delete.isolation-level": "serializable",
    "write.update.isolation-level": "serializable",
}


def table_properties(schema: DatasetSchema) -> dict[str, str]:
    """The properties a dataset's table is created with."""
    if not schema.primary_keys:
        return dict(TABLE_PROPERTIES)
    return {**TABLE_PROPERTIES, PRIMARY_KEYS_PROPERTY: json.dumps(list(schema.primary_keys))}


def table_primary_keys(table: Table) -> list[str] | None:
    """The primary keys a table was created with (its identifier fields for older tables)."""
    recorded = table.properties.get(PRIMARY_KEYS_PROPERTY)
    if recorded is not None:
        keys: list[str] = json.loads(recorded)
        return keys
    schema = table.schema()
    names = [schema.find_column_name(i) for i in schema.identifier_field_ids]
    return [n for n in names if n is not None] or None


_ICEBERG_TYPES: dict[FieldType, PrimitiveType] = {
    FieldType.INT: IntegerType(),
    FieldType.LONG: LongType(),
    FieldType.DOUBLE: DoubleType(),
    FieldType.STRING: StringType(),
    FieldType.TIMESTAMP: TimestamptzType(),
}

_TRANSFORMS: dict[Transform, tuple[Transform_[Any, Any], str]] = {
    Transform.YEAR: (YearTransform(), "_year"),
    Transform.MONTH: (MonthTransform(), "_month"),
    Transform.DAY: (DayTransform(), "_day"),
    Transform.HOUR: (HourTransform(), "_hour"),
    Transform.IDENTITY: (IdentityTransform(), ""),
}

# Iceberg forbids floating-point identifier fields.
_IDENTIFIER_TYPES = {FieldType.INT, FieldType.LONG, FieldType.STRING, FieldType.TIMESTAMP}


def iceberg_schema(schema: DatasetSchema) -> Schema:
    """The Iceberg schema: field ids from 1; primary keys as identifier fields when valid."""
    fields = [
        NestedField(i, f.name, _ICEBERG_TYPES[f.type], required=f.required)
        for i, f in enumerate(schema.fields, start=1)
    ]
    ids = {f.name: i for i, f in enumerate(schema.fields, start=1)}
    keys = [schema.field(k) for k in schema.primary_keys]
    # Identifier fields must be required and non-float; with an optional key column the key is
    # still matched by the loader, it just is not advertised to other engines.
    valid = bool(keys) and all(
        k is not None and k.required and k.type in _IDENTIFIER_TYPES for k in keys
    )
    identifier_ids = [ids[k] for k in schema.primary_keys] if valid else []
    return Schema(*fields, identifier_field_ids=identifier_ids)


def partition_spec(schema: DatasetSchema) -> PartitionSpec:
    """The Iceberg partition spec; names follow Spark's (`col` for identity, `col_day` ...)."""
    ids = {f.name: i for i, f in enumerate(schema.fields, start=1)}
    fields = []
    for n, p in enumerate(schema.partition_spec):
        transform, suffix = _TRANSFORMS[p.transform]
        fields.append(
            IcebergPartitionField(
                source_id=ids[p.name], field_id=1000 + n, transform=transform, name=p.name + suffix
            )
        )
    return PartitionSpec(*fields)


def relaxed(target: pa.Schema) -> pa.Schema:
    """`target` with every field nullable: DELETE rows carry only the key columns."""
    return pa.schema([f.with_nullable(True) for f in target])


def conform(rows: pa.Table, target: pa.Schema) -> pa.Table:
    """Reorder and cast `rows` to `target`, filling absent columns with nulls."""
    have = {name: i for i, name in enumerate(rows.column_names)}
    extra = set(have) - set(target.names)
    if extra:
        raise ValueError(f"columns not in the dataset schema: {sorted(extra)}")
    columns = []
    for field in target:
        if field.name in have:
            column = rows.column(have[field.name])
            if column.type != field.type:
                column = column.cast(field.type)
        else:
            column = pa.chunked_array([pa.nulls(rows.num_rows, field.type)])
        if not field.nullable and column.null_count:
            raise ValueError(f"required field {field.name!r} has null values")
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=target)
