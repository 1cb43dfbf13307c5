"""Domain types for dataset schemas, shared by the service, the loader and the lake."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class FieldType(StrEnum):
    INT = "INT"
    LONG = "LONG"
    DOUBLE = "DOUBLE"
    STRING = "STRING"
    TIMESTAMP = "TIMESTAMP"


class Transform(StrEnum):
    YEAR = "YEAR"
    MONTH = "MONTH"
    DAY = "DAY"
    HOUR = "HOUR"
    IDENTITY = "IDENTITY"


class Operation(StrEnum):
    APPEND = "APPEND"
    UPSERT = "UPSERT"
    DELETE = "DELETE"


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    required: bool = False


@dataclass(frozen=True)
class PartitionField:
    name: str
    transform: Transform


@dataclass(frozen=True)
class DatasetSchema:
    """The schema of one dataset: its fields in order, primary keys and partition spec."""

    name: str
    fields: tuple[Field, ...]
    primary_keys: tuple[str, ...] = ()
    partition_spec: tuple[PartitionField, ...] = field(default=())

    def field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None
