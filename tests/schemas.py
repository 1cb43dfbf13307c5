"""Dataset schemas that several test modules share, defined once.

``KV`` and ``DAILY`` are domain schemas for the lake's own tests; ``STOCK`` is the API's form of a
small custom dataset, as boto3 sends it to ``CreateDataLakeDataset``.
"""

from __future__ import annotations

from typing import Any

from supplylake.schema.types import DatasetSchema, Field, FieldType, PartitionField, Transform

#: A string key and a value: the smallest table with a primary key.
KV = DatasetSchema(
    "kv",
    (Field("k", FieldType.STRING, required=True), Field("v", FieldType.LONG)),
    primary_keys=("k",),
)

#: A keyed table partitioned by the day of a timestamp.
DAILY = DatasetSchema(
    "daily",
    (
        Field("k", FieldType.LONG, required=True),
        Field("at", FieldType.TIMESTAMP),
        Field("v", FieldType.LONG),
    ),
    primary_keys=("k",),
    partition_spec=(PartitionField("at", Transform.DAY),),
)

#: A custom dataset with a key and a quantity, in the API's form.
STOCK: dict[str, Any] = {
    "name": "Stock",
    "fields": [
        {"name": "id", "type": "STRING", "isRequired": True},
        {"name": "qty", "type": "LONG", "isRequired": False},
    ],
    "primaryKeys": [{"name": "id"}],
}
