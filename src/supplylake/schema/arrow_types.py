"""The Arrow type that holds each field type, and a dataset's Arrow schema."""

from __future__ import annotations

from functools import lru_cache

import pyarrow as pa

from supplylake.schema.timestamps import TIMESTAMP
from supplylake.schema.types import DatasetSchema, FieldType

ARROW_TYPES: dict[FieldType, pa.DataType] = {
    FieldType.INT: pa.int32(),
    FieldType.LONG: pa.int64(),
    FieldType.DOUBLE: pa.float64(),
    FieldType.STRING: pa.string(),
    FieldType.TIMESTAMP: TIMESTAMP,
}


@lru_cache(maxsize=256)
def arrow_schema(schema: DatasetSchema) -> pa.Schema:
    """The Arrow schema of a dataset: fields in order, required fields not nullable."""
    return pa.schema(
        [pa.field(f.name, ARROW_TYPES[f.type], nullable=not f.required) for f in schema.fields]
    )
