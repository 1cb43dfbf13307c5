"""A transformation's result rows in the target dataset's types, or why they do not fit.

Text columns (CSV and JSON cells, or SQL that answers strings) are converted by the same rules
as event records (``schema.text``); a column already in its field's Arrow type (Parquet, SQL
that casts) is taken as it is; any other type goes through its text. A result column that names
no field of the dataset, a required field without a value, or a value that does not convert
fails the execution, named by file, line and column when each result row is one row of the
file (the line travels in ``flows.files.LINE_COLUMN``), else by its row of the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from supplylake.flows.errors import ExecutionError
from supplylake.flows.files import LINE_COLUMN
from supplylake.schema.arrow_types import ARROW_TYPES, arrow_schema
from supplylake.schema.errors import SHOWN_FAILURES, CellFailure, TableError, show_name
from supplylake.schema.text import convert_text_table
from supplylake.schema.types import DatasetSchema


class ConversionError(ExecutionError):
    """Result rows that do not fit the target; ``rows`` are the offending rows' indices."""

    def __init__(self, message: str, rows: list[int], count: int) -> None:
        super().__init__(message)
        self.rows = rows
        self.count = count


def lines_of(batch: pa.RecordBatch | pa.Table) -> tuple[pa.Table, pa.Array | None]:
    """The batch without its line column, and that column (None when it has none)."""
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    if LINE_COLUMN not in table.column_names:
        return table, None
    lines = table.column(LINE_COLUMN).combine_chunks()
    return table.drop_columns([LINE_COLUMN]), lines


def to_target(
    rows: pa.Table,
    schema: DatasetSchema,
    *,
    source: str,
    lines: pa.Array | None = None,
    first_row: int = 0,
    fill: Mapping[str, str] | None = None,
    loaded_at: datetime | None = None,
    load_time_fields: tuple[str, ...] = (),
) -> pa.Table:
    """``rows`` in the dataset's Arrow schema; ConversionError naming where they do not fit.

    ``source`` names the rows in messages (a file's URI); ``first_row`` is the index of the
    first row among all the result's rows. ``fill`` values replace a column (``connection_id``);
    ``load_time_fields`` left empty get ``loaded_at``.
    """
    fill = dict(fill or {})
    typed: dict[str, pa.ChunkedArray] = {}
    for f in schema.fields:
        if f.name in fill or f.name not in rows.column_names:
            continue
        column = rows.column(f.name)
        wanted = ARROW_TYPES[f.type]
        if pa.types.is_timestamp(column.type) and column.type != wanted:
            # Another unit or zone (a naive time is taken as UTC): no text in between.
            naive = column.cast(pa.timestamp("us", tz=column.type.tz), safe=False)
            column = naive.cast(wanted)
        if column.type == wanted and not (f.required and column.null_count):
            typed[f.name] = column
    text_fields = tuple(f for f in schema.fields if f.name not in typed)
    text = rows.drop_columns(list(typed))
    try:
        converted = convert_text_table(
            text, replace(schema, fields=text_fields, primary_keys=()), first_line=0, fill=fill
        )
    except TableError as e:
        raise _failure(e, source, lines, first_row) from None
    arrays = [typed[f.name] if f.name in typed else converted.column(f.name) for f in schema.fields]
    out = pa.Table.from_arrays(arrays, schema=arrow_schema(schema))
    if loaded_at is not None:
        for name in load_time_fields:
            i = out.schema.get_field_index(name)
            if i >= 0 and out.column(i).null_count:
                column = out.column(i)
                filled = pc.if_else(pc.is_null(column), pa.scalar(loaded_at, column.type), column)
                out = out.set_column(i, out.schema.field(i), filled)
    return out


def _failure(e: TableError, source: str, lines: pa.Array | None, first_row: int) -> ConversionError:
    shown: list[str] = []
    rows: list[int] = []
    for f in e.failures:
        if f.line is not None:
            rows.append(f.line)
        if len(shown) < SHOWN_FAILURES:
            shown.append(_describe(f, lines, first_row))
    more = e.count - len(shown)
    suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more > 0 else ""
    message = f"{source}: {'; '.join(shown)}{suffix}."
    return ConversionError(message, sorted(set(rows)), e.count)


def _describe(f: CellFailure, lines: pa.Array | None, first_row: int) -> str:
    if f.line is None:
        if f.rule == "unknown":
            return f"column {show_name(f.column)} is not a field of the target dataset"
        return f"column {show_name(f.column)}: {f.message}"
    if lines is not None:
        where = f"line {lines[f.line].as_py()}"
    else:
        where = f"row {first_row + f.line + 1} of the transformation's result"
    return f"{where}, column {show_name(f.column)}: {f.message}"
