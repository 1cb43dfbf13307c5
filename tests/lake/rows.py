"""Helpers to build and compare rows in lake tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from supplylake.lake.layout import arrow_schema
from supplylake.schema.types import DatasetSchema


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def table(schema: DatasetSchema, rows: list[dict[str, Any]]) -> pa.Table:
    """Rows (missing fields are null) in the dataset's Arrow schema, nullable for DELETE keys."""
    target = arrow_schema(schema)
    loose = pa.schema([f.with_nullable(True) for f in target])
    return pa.Table.from_pylist([{n: r.get(n) for n in target.names} for r in rows], schema=loose)


def canonical(rows: pa.Table | list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows as sorted tuples, a multiset comparison that ignores order and time zone objects."""
    dicts = rows.to_pylist() if isinstance(rows, pa.Table) else rows
    out = []
    for r in dicts:
        values = []
        for name in sorted(r):
            v = r[name]
            if isinstance(v, datetime):
                v = v.astimezone(UTC).replace(tzinfo=None)
            values.append((name, v is None, v if v is not None else 0))
        out.append(tuple(values))
    return sorted(out, key=repr)
