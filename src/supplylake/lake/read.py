"""Reads from lake tables: rows to Arrow, counts, and the last batch position."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue

from supplylake.lake.layout import POSITION_PROPERTY


def scan(
    table: Any,
    row_filter: str | None = None,
    limit: int | None = None,
    columns: tuple[str, ...] | None = None,
) -> pa.Table:
    """Rows of `table` as Arrow; `row_filter` uses pyiceberg's syntax (`"qty > 3 AND id = 'a'"`)."""
    selected = columns if columns is not None else ("*",)
    result: pa.Table = table.scan(
        row_filter=row_filter or AlwaysTrue(), selected_fields=selected, limit=limit
    ).to_arrow()
    return result


def row_count(table: Any) -> int:
    """The number of live rows, from metadata when no delete files are involved."""
    count: int = table.scan().count()
    return count


def last_position(table: Any) -> int:
    """The position of the latest batch committed to `table`, or 0 if none was."""
    snapshot = table.current_snapshot()
    while snapshot is not None:
        value = snapshot.summary.get(POSITION_PROPERTY) if snapshot.summary else None
        if value is not None:
            return int(value)
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    return 0
