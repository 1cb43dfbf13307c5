"""Load-time conversion: validated records as an Arrow table of the dataset's schema.

Three paths give the same table (property-tested): `json_to_arrow` reads events' texts with
pyarrow's JSON reader in C++, `records_to_arrow` converts parsed records through one struct
conversion in C, and when either cannot vouch for a value, a column-by-column conversion names the
field that does not convert. Values follow the same rules as at send time (`schema.rules`):
numbers and timestamps sent as strings (or timestamps as epoch milliseconds) are text that
`schema.text` converts, as it converts CSV cells.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from itertools import repeat
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from supplylake.schema.arrow_types import ARROW_TYPES, arrow_schema
from supplylake.schema.errors import RecordError, RecordFailure, show_name
from supplylake.schema.rules import expected, needed
from supplylake.schema.text import convert_text_column
from supplylake.schema.types import DatasetSchema, FieldType, Operation

#: Bytes per block pyarrow's JSON reader parses (blocks are parsed on its threads).
_JSON_BLOCK = 4 << 20
_JSON_SMALLEST_BLOCK = 64 << 10
_LINE_BREAKS_AS_SPACES = bytes.maketrans(b"\r\n", b"  ")
_JSON_SPACE = re.compile(rb"[ \t\r\n]*")


def records_to_arrow(
    records: Sequence[dict[str, Any]],
    schema: DatasetSchema,
    *,
    fill: Mapping[str, str] | None = None,
    operation: Operation = Operation.APPEND,
    checked: bool = False,
) -> pa.Table:
    """Validated records as an Arrow table in schema order; ``fill`` sets a field in every row.

    Fields a record leaves out are null. A field the operation needs without a value raises
    RecordError. The table has the dataset's Arrow schema, except for DELETE records, which need
    only their key: then every field is nullable. ``checked`` says the records were validated
    against this very schema, so timestamps need not be checked again (only converted).
    """
    fill = fill or {}
    unknown = set(fill) - {f.name for f in schema.fields}
    if unknown:
        raise ValueError(f"fill names fields not in the schema: {sorted(unknown)}")
    fast = _struct_to_arrow(records, schema, fill, operation, checked)
    if fast is not None:
        return fast
    # Column by column: slower, and it names the field that does not convert.
    n = len(records)
    must = needed(schema, operation)
    get = dict.get
    arrays = []
    for f in schema.fields:
        name = f.name
        values = [fill[name]] * n if name in fill else list(map(get, records, repeat(name)))
        try:
            array = _column(values, f.type, name)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as e:
            raise RecordError(f"Invalid data in field {show_name(name)}: {e}") from None
        if array.null_count and name in must:
            raise RecordError(
                f"Invalid data: field {show_name(name)} needs a value in every record"
            )
        arrays.append(array)
    return _table(arrays, schema, operation)


def json_to_arrow(
    texts: Sequence[str],
    schema: DatasetSchema,
    *,
    fill: Mapping[str, str] | None = None,
    operation: Operation = Operation.APPEND,
    checked: bool = False,
) -> pa.Table | None:
    """The records of events' ``data`` texts as one Arrow table, parsed by pyarrow's JSON reader
    in C++ without a Python object per value; None when it cannot (then parse the records and
    use `records_to_arrow`, which also says what is wrong).

    The same table as `records_to_arrow` of the parsed records (property-tested): each text is
    read as one line ``{"r": [records]}`` against a struct of the schema's types, timestamps as
    strings converted as on the other paths. Only line breaks are rewritten, to spaces: in JSON
    text they can only stand between tokens (inside a string they must be escaped).
    """
    fill = fill or {}
    # Up to a few 64 MiB batches of text go through here: one copy of each text (its encoding,
    # line breaks made spaces in the same pass), then one for the whole.
    parts: list[bytes] = []
    longest = 0
    for text in texts:
        body = text.encode().translate(_LINE_BREAKS_AS_SPACES)
        start = _JSON_SPACE.match(body).end()  # type: ignore[union-attr]
        first = body[start : start + 1]
        if first == b"{":
            parts += (b'{"r":[', body, b"]}\n")
        elif first == b"[":
            parts += (b'{"r":', body, b"}\n")
        else:
            return None
        longest = max(longest, len(body) + 8)
    if not parts:
        return None
    whole = b"".join(parts)
    # Blocks are parsed in parallel, but each is allocated whole: a small text gets a small one.
    block = max(2 * longest, min(_JSON_BLOCK, max(len(whole), _JSON_SMALLEST_BLOCK)))
    array = _read_json(whole, block, _struct_type(schema, frozenset()))
    if array is None:
        # Perhaps numbers sent as strings: read as text the numeric fields the first record
        # gives as strings (a client mostly spells a field one way), and try once more.
        text_fields = _text_fields(schema, _first_record(texts[0]))
        if text_fields:
            array = _read_json(whole, block, _struct_type(schema, text_fields))
    if array is None:
        return None
    return _struct_columns_to_table(array.flatten(), schema, fill, operation, checked)


def _read_json(lines: bytes, block: int, struct: pa.StructType) -> pa.StructArray | None:
    """The records of ``{"r": [records]}`` lines as one struct array, or None."""
    try:
        table = pa_json.read_json(
            io.BytesIO(lines),
            read_options=pa_json.ReadOptions(block_size=block),
            parse_options=pa_json.ParseOptions(
                explicit_schema=pa.schema([("r", pa.list_(struct))]),
                unexpected_field_behavior="ignore",
            ),
        )
        array = pc.list_flatten(table.column("r")).combine_chunks()
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        return None
    if not isinstance(array, pa.StructArray) or not len(array):
        return None
    return array


def _first_record(text: str) -> Any:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if type(value) is list:
        return value[0] if value else None
    return value


def _text_fields(schema: DatasetSchema, record: Any) -> frozenset[str]:
    """The numeric fields ``record`` gives as strings."""
    if type(record) is not dict:
        return frozenset()
    return frozenset(
        f.name for f in schema.fields if f.type in _NUMBERS and type(record.get(f.name)) is str
    )


def _struct_to_arrow(
    records: Sequence[dict[str, Any]],
    schema: DatasetSchema,
    fill: Mapping[str, str],
    operation: Operation,
    checked: bool,
) -> pa.Table | None:
    """The records as Arrow through one struct conversion in C, or None when any value does not
    convert (then the column-by-column path says which).

    pyarrow converts a list of dicts to a struct array with the same rules as each column on its
    own (missing keys are null, keys not in the struct are not read), and much faster than
    picking each field's values out in Python. Timestamps come out as strings and are
    checked and converted as a column, as on the other path, and so are numeric fields the first
    record gives as strings (numbers sent as text).
    """
    struct = _struct_type(schema, _text_fields(schema, records[0]) if records else frozenset())
    try:
        array = pa.array(records, type=struct)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        return None
    if not isinstance(array, pa.StructArray):
        return None  # chunked (over 2 GiB of strings): the column path copes
    return _struct_columns_to_table(array.flatten(), schema, fill, operation, checked)


def _struct_columns_to_table(
    columns: Sequence[pa.Array],
    schema: DatasetSchema,
    fill: Mapping[str, str],
    operation: Operation,
    checked: bool,
) -> pa.Table | None:
    """The table of a struct conversion's columns (timestamps still strings), or None when a
    value does not fit (a bad timestamp, a needed field without a value)."""
    n = len(columns[0]) if columns else 0
    must = needed(schema, operation)
    arrays = []
    for f, column in zip(schema.fields, columns, strict=True):
        name = f.name
        if name in fill:
            arrays.append(pa.array([fill[name]] * n, ARROW_TYPES[f.type]))
            continue
        if f.type is FieldType.TIMESTAMP or (
            f.type is not FieldType.STRING and pa.types.is_string(column.type)
        ):
            # Read as text: timestamps (ISO 8601 or epoch milliseconds as a string of digits),
            # and numbers sent as strings.
            converted = convert_text_column(column, f.type, empty_is_null=False, checked=checked)
            if converted.any_bad:
                return None
            column = converted.values
        if column.null_count and name in must:
            return None
        arrays.append(column)
    return _table(arrays, schema, operation)


def _table(arrays: list[pa.Array], schema: DatasetSchema, operation: Operation) -> pa.Table:
    if operation is Operation.DELETE:
        return pa.Table.from_arrays(arrays, names=[f.name for f in schema.fields])
    return pa.Table.from_arrays(arrays, schema=arrow_schema(schema))


@lru_cache(maxsize=256)
def _struct_type(schema: DatasetSchema, text_fields: frozenset[str]) -> pa.StructType:
    """The records' struct, with timestamps and ``text_fields`` as strings (converted apart)."""
    return pa.struct(
        [
            (
                f.name,
                pa.string()
                if f.type is FieldType.TIMESTAMP or f.name in text_fields
                else ARROW_TYPES[f.type],
            )
            for f in schema.fields
        ]
    )


def _column(values: list[Any], field_type: FieldType, name: str) -> pa.Array:
    """One field's JSON values as an Arrow array, or RecordError naming the first that is not a
    value of the field."""
    arrow_type = ARROW_TYPES[field_type]
    kinds = set(map(type, values)) - {type(None)}
    if field_type is FieldType.STRING or (
        field_type is not FieldType.TIMESTAMP and kinds <= _NUMBERS[field_type]
    ):
        return pa.array(values, type=arrow_type)
    # Numbers sent as strings, timestamps: converted as text, JSON numbers by their spelling.
    texts = values if kinds <= {str} else [_as_text(v) for v in values]
    converted = convert_text_column(pa.array(texts, pa.string()), field_type, empty_is_null=False)
    if converted.any_bad:
        index = converted.bad_rows()[0]
        failure = RecordFailure(index, name, "type", expected(field_type, values[index]))
        raise RecordError.from_failures([failure])
    return converted.values


#: JSON values a numeric field converts with pyarrow directly, as the struct path does (the
#: others go as text). Only validated records reach the lake, so the booleans and floats pyarrow
#: may take here never get there.
_NUMBERS: dict[FieldType, set[type]] = {
    FieldType.INT: {int, float, bool},
    FieldType.LONG: {int, float, bool},
    FieldType.DOUBLE: {int, float, bool},
}


def _as_text(value: Any) -> str | None:
    """A JSON value as the text a field's rules read: numbers in their JSON spelling (a float's
    ``repr`` gives back the same double), anything else as text no rule accepts."""
    kind = type(value)
    if value is None or kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int or kind is float:
        return repr(value)
    return "\x00"
