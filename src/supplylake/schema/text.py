"""Values given as text, a column at a time: CSV files, and numbers or timestamps sent as strings.

`convert_text_column` turns an Arrow column of strings into a field's type by the rules of
`schema.rules`, in Arrow's compute kernels (the grammar is checked by a regular expression, then
the text is cast). `convert_text_table` does it for a whole table of text columns, as a CSV reader
gives them, and reports the first cells that do not convert by line and column. Both the loader
(numbers and timestamps sent as JSON strings) and CSV imports use these, so a value means the
same whichever way it came.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from supplylake.schema.arrow_types import ARROW_TYPES, arrow_schema
from supplylake.schema.errors import SHOWN_FAILURES, CellFailure, TableError
from supplylake.schema.rules import DECIMAL_TEXT, INT_RANGES, INT_TEXT, expected, int_of_text
from supplylake.schema.timestamps import (
    EPOCH_MS_MAX,
    TIMESTAMP,
    timestamp_array,
    timestamp_ok,
    timestamps_ok,
)
from supplylake.schema.types import DatasetSchema, FieldType

_INT_PATTERN = f"^{INT_TEXT}$"
_DECIMAL_PATTERN = f"^{DECIMAL_TEXT}$"
_EXACT = float(INT_RANGES[FieldType.DOUBLE][1])
#: Digits of epoch milliseconds beyond which a value is out of range whatever it is.
_EPOCH_DIGITS = len(str(EPOCH_MS_MAX))


@dataclass(frozen=True)
class Converted:
    """A text column in its field's type: ``values`` (null where the text was null, or did not
    convert) and ``bad``, true where a present text did not convert (None: nowhere)."""

    values: pa.Array
    bad: pa.BooleanArray | None = None

    @property
    def any_bad(self) -> bool:
        return self.bad is not None and bool(pc.any(self.bad).as_py())

    def bad_rows(self) -> list[int]:
        """The rows whose text did not convert."""
        return [] if self.bad is None else pc.indices_nonzero(self.bad).to_pylist()


def convert_text_column(
    strings: pa.Array, field_type: FieldType, *, empty_is_null: bool, checked: bool = False
) -> Converted:
    """``strings`` as values of a ``field_type`` field.

    ``empty_is_null`` reads an empty text as null (CSV's empty cell) rather than as a value.
    ``checked`` says the text was validated already, so ISO timestamps need not be checked again.
    """
    if not pa.types.is_string(strings.type):
        strings = strings.cast(pa.string())
    if empty_is_null:
        strings = pc.if_else(pc.equal(strings, ""), pa.scalar(None, pa.string()), strings)
    if field_type is FieldType.STRING:
        return Converted(strings)
    if field_type is FieldType.TIMESTAMP:
        return _timestamps(strings, checked)
    if field_type is FieldType.DOUBLE:
        return _doubles(strings)
    return _integers(strings, field_type)


def _bad(strings: pa.Array, values: pa.Array) -> pa.BooleanArray:
    """True where a present text gave no value."""
    return pc.and_(pc.is_valid(strings), pc.is_null(values))


def _only(strings: pa.Array, keep: pa.Array) -> pa.Array:
    """The texts where ``keep`` is true, null elsewhere."""
    return pc.if_else(pc.fill_null(keep, False), strings, pa.scalar(None, strings.type))


def _integers(strings: pa.Array, field_type: FieldType) -> Converted:
    arrow_type = ARROW_TYPES[field_type]
    candidates = _only(strings, pc.match_substring_regex(strings, _INT_PATTERN))
    try:
        values = candidates.cast(arrow_type)
    except (pa.ArrowInvalid, OverflowError):
        # Some integer is out of range: judged one by one, to keep the others.
        low, high = INT_RANGES[field_type]
        numbers = [
            n if n is not None and low <= n <= high else None
            for n in (None if t is None else int_of_text(t) for t in candidates.to_pylist())
        ]
        values = pa.array(numbers, arrow_type)
    return Converted(values, _bad(strings, values))


def _doubles(strings: pa.Array) -> Converted:
    candidates = _only(strings, pc.match_substring_regex(strings, _DECIMAL_PATTERN))
    values = candidates.cast(pa.float64())
    keep = pc.is_finite(values)
    # An integer is taken only where a double holds it exactly; at the edge itself rounding
    # hides which it was, so that one is judged from its text.
    integral = pc.match_substring_regex(candidates, _INT_PATTERN)
    magnitude = pc.abs(values)
    keep = pc.and_(keep, pc.or_(pc.invert(integral), pc.less(magnitude, _EXACT)))
    edge = pc.and_(integral, pc.equal(magnitude, _EXACT))
    if pc.any(edge).as_py():
        low, high = INT_RANGES[FieldType.DOUBLE]
        exact = [
            e and (n := int_of_text(t)) is not None and low <= n <= high
            for e, t in zip(edge.to_pylist(), candidates.to_pylist(), strict=True)
        ]
        keep = pc.or_(keep, pa.array(exact, pa.bool_()))
    values = pc.if_else(pc.fill_null(keep, False), values, pa.scalar(None, pa.float64()))
    return Converted(values, _bad(strings, values))


def _timestamps(strings: pa.Array, checked: bool) -> Converted:
    digits = pc.ascii_is_decimal(strings)
    if not pc.any(digits).as_py():
        # ISO 8601 text alone, the usual case. ``checked`` text may skip the layout check, but
        # never digits: Python's ``fromisoformat`` (a fallback of `timestamp_array`) would read
        # ``20240102`` as a date, where the rules read epoch milliseconds.
        if checked or timestamps_ok(strings.drop_null().to_pylist()):
            return Converted(timestamp_array(strings))
        values = _iso(strings)
        return Converted(values, _bad(strings, values))
    digits = pc.fill_null(digits, False)
    iso = _iso(_only(strings, pc.invert(digits)))
    epoch = _epoch(_only(strings, digits))
    values = pc.if_else(digits, epoch, iso)
    return Converted(values, _bad(strings, values))


def _iso(strings: pa.Array) -> pa.Array:
    """ISO 8601 texts as timestamps, null where a text is no timestamp."""
    if timestamps_ok(strings.drop_null().to_pylist()):
        return timestamp_array(strings)
    texts = strings.to_pylist()
    return timestamp_array([t if t is not None and timestamp_ok(t) else None for t in texts])


def _epoch(strings: pa.Array) -> pa.Array:
    trimmed = pc.utf8_ltrim(strings, characters="0")
    short = pc.less_equal(pc.utf8_length(trimmed), _EPOCH_DIGITS)
    candidates = _only(strings, short)
    ms = candidates.cast(pa.int64())
    ms = pc.if_else(pc.less_equal(ms, EPOCH_MS_MAX), ms, pa.scalar(None, pa.int64()))
    return pc.multiply(ms, 1000).cast(TIMESTAMP)


def convert_text_table(
    table: pa.Table,
    schema: DatasetSchema,
    *,
    first_line: int = 2,
    fill: Mapping[str, str] | None = None,
) -> pa.Table:
    """A table of text columns (a CSV file's cells: an empty text is null) as a table of the
    dataset's Arrow schema, by the rules events follow; or TableError naming the first cells
    that do not convert, by line (row ``i`` is line ``first_line + i``) and column.

    Columns are matched by name; a field without a column is null in every row (or takes its
    ``fill`` value); a required field needs a value in every row. A column that names no field
    is an error.
    """
    fill = fill or {}
    fields = {f.name: f for f in schema.fields}
    problems: list[CellFailure] = []
    count = 0
    unknown = [n for n in table.column_names if n not in fields]
    problems += [CellFailure(None, n, "unknown", "no such field in the dataset") for n in unknown]
    n = table.num_rows
    arrays: list[pa.Array] = []
    for f in schema.fields:
        if f.name in fill:
            arrays.append(pa.array([fill[f.name]] * n, pa.string()).cast(ARROW_TYPES[f.type]))
            continue
        if f.name not in table.column_names:
            if f.required:
                problems.append(CellFailure(None, f.name, "missing", "required field is missing"))
            arrays.append(pa.nulls(n, ARROW_TYPES[f.type]))
            continue
        text = table.column(f.name).combine_chunks()
        converted = convert_text_column(text, f.type, empty_is_null=True)
        rows = converted.bad_rows()
        if f.required and converted.values.null_count:
            rows = sorted({*rows, *pc.indices_nonzero(pc.is_null(converted.values)).to_pylist()})
        count += len(rows)
        problems += _cell_failures(text, rows, f.type, f.name, first_line)
        arrays.append(converted.values)
    if problems:
        count += len(problems) - sum(1 for p in problems if p.line is not None)
        order = {name: i for i, name in enumerate([*unknown, *fields])}
        problems.sort(key=lambda p: (-1 if p.line is None else p.line, order[p.column]))
        raise TableError.from_failures(problems, count)
    return pa.Table.from_arrays(arrays, schema=arrow_schema(schema))


def _cell_failures(
    text: pa.Array, rows: list[int], field_type: FieldType, name: str, first_line: int
) -> list[CellFailure]:
    """The failures of the first few ``rows`` of one column (enough to fill a message)."""
    out = []
    for row in rows[:SHOWN_FAILURES]:
        value = text[row].as_py()
        if value is None or value == "":
            out.append(CellFailure(first_line + row, name, "null", "required field is empty"))
        else:
            out.append(CellFailure(first_line + row, name, "type", expected(field_type, value)))
    return out
