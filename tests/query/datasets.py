"""The datasets the query tests read, and their rows, defined once."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from supplylake.lake import Change, Lake
from supplylake.schema.types import (
    DatasetSchema,
    Field,
    FieldType,
    Operation,
    PartitionField,
    Transform,
)

INSTANCE = "4f1c2e0a-9b7d-4c3e-8f6a-5b4c3d2e1f0a"
OTHER = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

#: Every field type, partitioned by site.
EVERY_TYPE = DatasetSchema(
    "every_type",
    (
        Field("k", FieldType.STRING, required=True),
        Field("site", FieldType.STRING),
        Field("i", FieldType.INT),
        Field("n", FieldType.LONG),
        Field("x", FieldType.DOUBLE),
        Field("placed", FieldType.TIMESTAMP),
    ),
    primary_keys=("k",),
    partition_spec=(PartitionField("site", Transform.IDENTITY),),
)

#: An asc dataset partitioned by month, and a custom one without keys.
ORDERS = DatasetSchema(
    "inbound_order",
    (
        Field("id", FieldType.STRING, required=True),
        Field("placed", FieldType.TIMESTAMP),
        Field("qty", FieldType.LONG),
    ),
    primary_keys=("id",),
    partition_spec=(PartitionField("placed", Transform.MONTH),),
)
NOTES = DatasetSchema(
    "my_dataset", (Field("id", FieldType.STRING), Field("note", FieldType.STRING))
)


def rows(keys: range, site: str, tag: int) -> pa.Table:
    """`EVERY_TYPE` rows of these keys at `site`; `tag` scales `i`, to tell versions apart."""
    return pa.table(
        {
            "k": [f"k{i}" for i in keys],
            "site": [site] * len(keys),
            "i": [None if i % 7 == 0 else i * tag for i in keys],
            "n": [2**40 + i for i in keys],
            "x": [i / 3 for i in keys],
            "placed": pa.array(
                [
                    None if i % 5 == 0 else datetime(2024, 1, 1 + i % 28, i % 24, tzinfo=UTC)
                    for i in keys
                ],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )


def apply(lake: Lake, position: int, op: Operation, table: pa.Table) -> None:
    lake.apply_batch(INSTANCE, "default", EVERY_TYPE, [Change(op, table)], position)
