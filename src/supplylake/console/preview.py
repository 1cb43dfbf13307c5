"""The dataset preview's simple filters, turned into a pyiceberg row filter string.

Only fields of the dataset can be named, and values are checked against the field's type before
they are written into the filter, so the filter text can never be anything but the conditions
the form shows.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.datastructures import QueryParams

from supplylake.schema.timestamps import timestamp_ok
from supplylake.schema.types import DatasetSchema, FieldType

MAX_CONDITIONS = 3
DEFAULT_LIMIT = 50
MAX_LIMIT = 500

OPERATORS = {
    "eq": "equals",
    "ne": "does not equal",
    "lt": "is less than",
    "le": "is at most",
    "gt": "is greater than",
    "ge": "is at least",
    "starts": "starts with",
    "null": "is empty",
    "notnull": "is not empty",
}
_SYMBOLS = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_COLUMN = re.compile(r"[a-z_][a-z0-9_]*")


class FilterError(ValueError):
    """A filter the preview cannot apply; the message says why."""


@dataclass(frozen=True)
class Condition:
    column: str
    op: str
    value: str = ""


@dataclass(frozen=True)
class PreviewRequest:
    conditions: tuple[Condition, ...]
    limit: int
    all_columns: bool

    @classmethod
    def from_query(cls, query: QueryParams) -> PreviewRequest:
        conditions = []
        for i in range(1, MAX_CONDITIONS + 1):
            column = query.get(f"f{i}_col", "")
            op = query.get(f"f{i}_op", "eq")
            if column:
                conditions.append(Condition(column, op, query.get(f"f{i}_val", "")))
        raw = query.get("limit", "")
        limit = int(raw) if raw.isdigit() else DEFAULT_LIMIT
        return cls(tuple(conditions), max(1, min(limit, MAX_LIMIT)), query.get("all") == "1")


def row_filter(schema: DatasetSchema, conditions: tuple[Condition, ...]) -> str | None:
    """The pyiceberg filter for ``conditions`` (ANDed), or None for no condition."""
    types = {f.name: f.type for f in schema.fields}
    parts = [_condition(types, c) for c in conditions]
    return " AND ".join(parts) if parts else None


def _condition(types: dict[str, FieldType], cond: Condition) -> str:
    field_type = types.get(cond.column)
    if field_type is None:
        raise FilterError(f"{cond.column!r} is not a field of this dataset.")
    if cond.op not in OPERATORS:
        raise FilterError(f"Unknown comparison {cond.op!r}.")
    if not _COLUMN.fullmatch(cond.column):
        raise FilterError(f"Filter on {cond.column} in the SQL box: its name starts with a digit.")
    if cond.op == "null":
        return f"{cond.column} IS NULL"
    if cond.op == "notnull":
        return f"{cond.column} IS NOT NULL"
    if cond.op == "starts":
        if field_type is not FieldType.STRING:
            raise FilterError(f"'starts with' needs a text field; {cond.column} is {field_type}.")
        if "%" in cond.value:
            raise FilterError("'starts with' values cannot contain %.")
        return f"{cond.column} LIKE {_string(cond.value + '%')}"
    return f"{cond.column} {_SYMBOLS[cond.op]} {_literal(field_type, cond.column, cond.value)}"


def _literal(field_type: FieldType, column: str, value: str) -> str:
    text = value.strip()
    if field_type in (FieldType.INT, FieldType.LONG):
        try:
            return str(int(text))
        except ValueError:
            raise FilterError(f"{column} holds whole numbers; {value!r} is not one.") from None
    if field_type is FieldType.DOUBLE:
        try:
            number = float(text)
        except ValueError:
            raise FilterError(f"{column} holds numbers; {value!r} is not one.") from None
        if not math.isfinite(number):
            raise FilterError(f"{column}: {value!r} is not a finite number.")
        return repr(number)
    if field_type is FieldType.TIMESTAMP:
        if not timestamp_ok(text):
            raise FilterError(
                f"{column} holds timestamps: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[Z]."
            )
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return _string(moment.astimezone(UTC).isoformat())
    return _string(value)


def _string(value: str) -> str:
    # pyiceberg's filter parser has no escape for quotes: refuse them rather than guess.
    if "'" in value or "\\" in value:
        raise FilterError("Filter values cannot contain ' or \\; use the SQL box for those.")
    return f"'{value}'"
