"""Row codecs shared by the SQL backends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from supplylake.schema.types import DatasetSchema, Field, FieldType, PartitionField, Transform


def ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def dt_req(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def schema_to_json(schema: DatasetSchema) -> str:
    return orjson.dumps(
        {
            "name": schema.name,
            "fields": [[f.name, f.type.value, f.required] for f in schema.fields],
            "primary_keys": list(schema.primary_keys),
            "partition_spec": [[p.name, p.transform.value] for p in schema.partition_spec],
        }
    ).decode()


def schema_from_json(text: str) -> DatasetSchema:
    raw: dict[str, Any] = orjson.loads(text)
    return DatasetSchema(
        name=raw["name"],
        fields=tuple(Field(n, FieldType(t), bool(r)) for n, t, r in raw["fields"]),
        primary_keys=tuple(raw["primary_keys"]),
        partition_spec=tuple(PartitionField(n, Transform(t)) for n, t in raw["partition_spec"]),
    )


def tuple_to_json(values: tuple[str, ...]) -> str:
    return orjson.dumps(list(values)).decode()


def tuple_from_json(text: str) -> tuple[str, ...]:
    return tuple(orjson.loads(text))
