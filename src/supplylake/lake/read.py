"""Reads from lake tables: rows to Arrow, counts, and the last batch position.

Files without deletes are read by pyiceberg's ArrowScan as they are. A file with position deletes
is read whole and its deleted rows dropped with one bitmap filter: pyiceberg instead builds a
Python range per batch and copies every column with `take`, which made a large table with a few
percent of its rows deleted read markedly slower than the same table without deletes.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue, BooleanExpression, parser
from pyiceberg.expressions.visitors import bind, extract_field_ids
from pyiceberg.io.pyarrow import ArrowScan, expression_to_pyarrow
from pyiceberg.table import FileScanTask, Table

from supplylake.lake.deletes import deleted_positions
from supplylake.lake.layout import POSITION_PROPERTY


def scan(
    table: Table,
    row_filter: str | None = None,
    limit: int | None = None,
    columns: tuple[str, ...] | None = None,
    snapshot_id: int | None = None,
) -> pa.Table:
    """Rows of `table` as Arrow; `row_filter` uses pyiceberg's syntax (`"qty > 3 AND id = 'a'"`).

    `snapshot_id` reads an older snapshot (default: the current one).
    """
    expression: BooleanExpression = parser.parse(row_filter) if row_filter else AlwaysTrue()
    plan = table.scan(
        row_filter=expression,
        selected_fields=columns or ("*",),
        limit=limit,
        snapshot_id=snapshot_id,
    )
    tasks = list(plan.plan_files())
    clean = [t for t in tasks if not t.delete_files]
    projection = plan.projection()
    rows: pa.Table = ArrowScan(
        table.metadata, table.io, projection, expression, limit=limit
    ).to_table(clean)
    deleted = [t for t in tasks if t.delete_files]
    if not deleted or (limit is not None and rows.num_rows >= limit):
        return rows

    schema = table.schema()
    bound = bind(schema, expression, case_sensitive=True)
    needed: set[str | None] = {f.name for f in projection.fields}
    needed |= {schema.find_column_name(i) for i in extract_field_ids(bound)}
    wide = schema.select(*sorted(n for n in needed if n is not None))
    predicate = expression_to_pyarrow(bound) if row_filter else None

    def read(task: FileScanTask) -> pa.Table:
        whole = ArrowScan(table.metadata, table.io, wide, AlwaysTrue()).to_table(
            [FileScanTask(task.file)]
        )
        gone = deleted_positions(table.io, task.file.file_path, task.delete_files)
        live = whole.filter(live_mask(whole.num_rows, gone)) if gone else whole
        if predicate is not None:
            live = live.filter(predicate)
        return live.select(projection.column_names).cast(rows.schema)

    # Not pyiceberg's shared executor: its scans submit to it, and waiting on it from its own
    # workers deadlocks once the tasks outnumber its threads.
    with ThreadPoolExecutor(max_workers=min(4, len(deleted))) as pool:
        parts = [rows, *pool.map(read, deleted)]
    result = pa.concat_tables(parts)
    return result.slice(0, limit) if limit is not None else result


def live_mask(rows: int, deleted: set[int]) -> pa.Array:
    """A boolean array of `rows` values, false at the `deleted` positions."""
    bits = bytearray(b"\xff" * ((rows + 7) // 8))
    for position in deleted:
        if position < rows:
            bits[position >> 3] &= ~(1 << (position & 7)) & 0xFF
    return pa.Array.from_buffers(pa.bool_(), rows, [None, pa.py_buffer(bytes(bits))])


def row_count(table: Table) -> int:
    """The number of live rows, from metadata when no delete files are involved."""
    count: int = table.scan().count()
    return count


def last_position(table: Table) -> int:
    """The position of the latest batch committed to `table`, or 0 if none was."""
    snapshot = table.current_snapshot()
    while snapshot is not None:
        value = snapshot.summary.get(POSITION_PROPERTY) if snapshot.summary else None
        if value is not None:
            return int(value)
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    return 0
