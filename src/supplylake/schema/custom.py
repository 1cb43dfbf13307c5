"""Custom dataset schemas: CreateDataLakeDataset's ``schema`` and ``partitionSpec``, both ways.

Both sides use the API's structures with snake_case keys (``is_required``, ``primary_keys``).
Name patterns and lengths and list sizes are given by the caller (`SchemaLimits`: the service
reads them from botocore's service model), so the rules have one source. A custom dataset may
name a field ``connection_id``: only asc datasets reserve it. The first problem found is reported.

A DatasetSchema is named after its dataset (the lake names tables after it). The schema's own
name is answered as the dataset name in PascalCase (``inbound_order`` → ``InboundOrder``), as AWS
does for asc datasets, unless the caller kept the name the client gave.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from supplylake.schema.errors import SchemaError
from supplylake.schema.types import DatasetSchema, Field, FieldType, PartitionField, Transform

_TIME_TRANSFORMS = frozenset({Transform.YEAR, Transform.MONTH, Transform.DAY, Transform.HOUR})


@dataclass(frozen=True)
class Limit:
    """How long a name or a list may be, and the pattern a name must match."""

    pattern: re.Pattern[str] | None = None
    min: int = 0
    max: int = 2**31


@dataclass(frozen=True)
class SchemaLimits:
    """The limits a custom schema's names and lists must keep."""

    dataset_name: Limit
    schema_name: Limit
    field_name: Limit
    fields: Limit
    primary_keys: Limit
    partition_fields: Limit


def build_dataset_schema(
    name: str,
    schema_param: Mapping[str, Any],
    partition_spec_param: Mapping[str, Any] | None = None,
    *,
    limits: SchemaLimits,
) -> DatasetSchema:
    """The DatasetSchema of custom dataset ``name``, or raise SchemaError."""
    _check_name(name, "dataset name", name, limits.dataset_name)
    _check_name(name, "schema name", schema_param.get("name"), limits.schema_name)
    fields = _fields(name, _list(name, schema_param, "fields", limits.fields), limits)
    by_name = {f.name: f for f in fields}
    keys: list[str] = []
    if schema_param.get("primary_keys") is not None:
        entries = _list(name, schema_param, "primary_keys", limits.primary_keys)
        for entry in entries:
            key = _entry_name(name, "primary key", entry, limits)
            if key not in by_name:
                raise _error(name, f"primary key {key!r} is not a field of the schema")
            if key in keys:
                raise _error(name, f"primary key {key!r} is listed more than once")
            keys.append(key)
    partition: list[PartitionField] = []
    if partition_spec_param is not None:
        entries = _list(name, partition_spec_param, "fields", limits.partition_fields, "partition")
        for entry in entries:
            field = _partition_field(name, entry, by_name, limits)
            if any(p.name == field.name for p in partition):
                raise _error(name, f"partition field {field.name!r} is listed more than once")
            partition.append(field)
    return DatasetSchema(name, tuple(fields), tuple(keys), tuple(partition))


def schema_to_api(ds: DatasetSchema, schema_name: str | None = None) -> dict[str, Any]:
    """The schema as the API answers it (``DataLakeDatasetSchema``, snake_case keys)."""
    out: dict[str, Any] = {
        "name": schema_name or default_schema_name(ds.name),
        "fields": [
            {"name": f.name, "type": str(f.type), "is_required": f.required} for f in ds.fields
        ],
    }
    if ds.primary_keys:
        out["primary_keys"] = [{"name": k} for k in ds.primary_keys]
    return out


def default_schema_name(dataset: str) -> str:
    """``inbound_order_line`` → ``InboundOrderLine`` (schema names allow no underscores)."""
    return "".join(part.capitalize() for part in dataset.split("_"))


def partition_spec_to_api(ds: DatasetSchema) -> dict[str, Any] | None:
    """The partition spec as the API answers it, or None for an unpartitioned dataset."""
    if not ds.partition_spec:
        return None
    return {
        "fields": [
            {"name": p.name, "transform": {"type": str(p.transform)}} for p in ds.partition_spec
        ]
    }


def _fields(dataset: str, entries: list[Any], limits: SchemaLimits) -> list[Field]:
    fields: list[Field] = []
    seen: set[str] = set()
    for entry in entries:
        name = _entry_name(dataset, "field", entry, limits)
        if name in seen:
            raise _error(dataset, f"field {name!r} is listed more than once")
        seen.add(name)
        field_type = entry.get("type")
        if not isinstance(field_type, str) or field_type not in FieldType.__members__:
            allowed = ", ".join(FieldType)
            raise _error(dataset, f"field {name!r} has type {field_type!r}; use one of {allowed}")
        required = entry.get("is_required")
        if not isinstance(required, bool):
            raise _error(dataset, f"field {name!r} needs is_required true or false")
        fields.append(Field(name, FieldType(field_type), required))
    return fields


def _partition_field(
    dataset: str, entry: Any, by_name: Mapping[str, Field], limits: SchemaLimits
) -> PartitionField:
    name = _entry_name(dataset, "partition field", entry, limits)
    field = by_name.get(name)
    if field is None:
        raise _error(dataset, f"partition field {name!r} is not a field of the schema")
    transform = entry.get("transform")
    raw = transform.get("type") if isinstance(transform, Mapping) else None
    if not isinstance(raw, str) or raw not in Transform.__members__:
        allowed = ", ".join(Transform)
        raise _error(
            dataset, f"partition field {name!r} has transform {raw!r}; use one of {allowed}"
        )
    kind = Transform(raw)
    if kind in _TIME_TRANSFORMS and field.type is not FieldType.TIMESTAMP:
        raise _error(
            dataset,
            f"partition field {name!r}: transform {kind} needs a TIMESTAMP field, not {field.type}",
        )
    return PartitionField(name, kind)


def _entry_name(dataset: str, what: str, entry: Any, limits: SchemaLimits) -> str:
    if not isinstance(entry, Mapping):
        raise _error(dataset, f"each {what} must be a structure with a name")
    name = entry.get("name")
    _check_name(dataset, f"{what} name", name, limits.field_name)
    return str(name)


def _check_name(dataset: str, what: str, value: Any, limit: Limit) -> None:
    if not isinstance(value, str) or not limit.min <= len(value) <= limit.max:
        raise _error(dataset, f"{what} {value!r} must be {limit.min} to {limit.max} characters")
    if limit.pattern is not None and not limit.pattern.fullmatch(value):
        raise _error(dataset, f"{what} {value!r} must match {limit.pattern.pattern}")


def _list(
    dataset: str, param: Mapping[str, Any], key: str, limit: Limit, what: str | None = None
) -> list[Any]:
    value = param.get(key)
    label = f"{what} {key}" if what else key
    if not isinstance(value, list) or not limit.min <= len(value) <= limit.max:
        raise _error(dataset, f"{label} must list {limit.min} to {limit.max} entries")
    return value


def _error(dataset: str, problem: str) -> SchemaError:
    return SchemaError(f"Invalid schema for dataset {dataset!r}: {problem}")
