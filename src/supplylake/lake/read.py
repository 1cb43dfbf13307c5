"""Reads from lake tables: rows to Arrow, counts, and the last batch position.

Files without deletes are read by pyiceberg's ArrowScan as they are. A file with position deletes
is read whole (`file_rows`) and its deleted rows dropped with one bitmap filter: pyiceberg instead
builds a Python range per batch and copies every column with `take`, which made a large table
with a few percent of its rows deleted read markedly slower than the same table without deletes.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.expressions import AlwaysTrue, BooleanExpression, parser
from pyiceberg.expressions.visitors import bind, extract_field_ids
from pyiceberg.io.pyarrow import ArrowScan, expression_to_pyarrow, schema_to_pyarrow
from pyiceberg.manifest import DataFile
from pyiceberg.schema import Schema
from pyiceberg.table import FileScanTask, Table

from supplylake.lake.deletes import deleted_positions
from supplylake.lake.layout import POSITION_PROPERTY
from supplylake.lake.paths import local_path

_FIELD_ID = b"PARQUET:field_id"


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
        whole = file_rows(table, [task.file], [f.name for f in wide.fields])
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


def file_rows(
    table: Table, data_files: Sequence[DataFile], columns: Sequence[str] | None = None
) -> pa.Table:
    """Every row of each of `data_files` (deleted rows too), the files in order and each in its
    row order, with the table's `columns` (all by default) typed as pyiceberg's scan types them.

    A local file that holds every column under its name and field id is read by pyarrow alone:
    pyiceberg's scan of one small file costs many times the read, and compaction and the key
    index read small files by the dozen. Any other file is read by pyiceberg's scan.
    """
    schema = table.schema() if columns is None else table.schema().select(*columns)
    parts = [_file_rows(table, data_file, schema) for data_file in data_files]
    if not parts:
        return schema_to_pyarrow(schema, include_field_ids=False).empty_table()
    rows = pa.concat_tables(parts, promote_options="permissive")
    if rows.num_rows != sum(f.record_count for f in data_files):
        raise OSError("data files hold other row counts than their manifests say")
    return rows


def _file_rows(table: Table, data_file: DataFile, schema: Schema) -> pa.Table:
    local = local_path(data_file.file_path)
    if local is not None:
        with pq.ParquetFile(local) as parquet:
            found = parquet.schema_arrow
            if all(_holds(found, field.name, field.field_id) for field in schema.fields):
                names = [field.name for field in schema.fields]
                rows = parquet.read(columns=names)
                # As the scan gives them: the file's types, the schema's nullability, no ids.
                fields = [
                    pa.field(f.name, rows.column(f.name).type, nullable=not f.required)
                    for f in schema.fields
                ]
                columns = [rows.column(f.name) for f in schema.fields]
                return pa.Table.from_arrays(columns, schema=pa.schema(fields))
    scan = ArrowScan(table.metadata, table.io, schema, AlwaysTrue())
    whole: pa.Table = scan.to_table([FileScanTask(data_file)])
    return whole


def _holds(file_schema: pa.Schema, name: str, field_id: int) -> bool:
    i = file_schema.get_field_index(name)
    if i < 0:
        return False
    metadata = file_schema.field(i).metadata or {}
    return metadata.get(_FIELD_ID) == str(field_id).encode()


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
