"""Records of a data-integration event: parsing, send-time validation, load-time Arrow conversion.

Values a field accepts (JSON as parsed by orjson). Nothing is coerced that would change a value:

=========  ================================================================================
INT        a JSON integer in -2**31 .. 2**31-1 (no floats, not even 2.0; no booleans)
LONG       a JSON integer in -2**63 .. 2**63-1 (no floats; no booleans)
DOUBLE     a JSON number; an integer only in -2**53 .. 2**53, where a double holds it exactly
STRING     a JSON string, including "" (numbers are not turned into strings)
TIMESTAMP  an ISO 8601 string ``YYYY-MM-DD[(T| )HH:MM[:SS[.f]]][Z|±HH:MM]`` with at most six
           fraction digits; without an offset it is UTC. Stored as UTC microseconds
           (see ``timestamps``).
=========  ================================================================================

``null`` in an optional field is the same as leaving the field out. Which fields a record must
hold depends on the operation: APPEND needs the required fields, UPSERT the required and the
primary-key fields, DELETE only the primary-key fields and the required fields the partition spec
uses, as it matches within a partition (other fields may be sent; they are checked but play no
part). Unknown fields are rejected, and so are the dataset's internal fields, which
only the service fills. Records are numbered from 0, as array indexes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, repeat
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from supplylake.aws.errors import ValidationException
from supplylake.schema.timestamps import TIMESTAMP, timestamp_array, timestamp_ok, timestamps_ok
from supplylake.schema.types import DatasetSchema, FieldType, Operation

_SHOWN_FAILURES = 5
_ECHO_CHARS = 40
_ARROW_TYPES = {
    FieldType.INT: pa.int32(),
    FieldType.LONG: pa.int64(),
    FieldType.DOUBLE: pa.float64(),
    FieldType.STRING: pa.string(),
    FieldType.TIMESTAMP: TIMESTAMP,
}


@dataclass(frozen=True)
class RecordFailure:
    """Why one record (``index``) was rejected; ``field`` is None for the record as a whole."""

    index: int
    field: str | None
    rule: str  # missing, null, type, unknown, internal, not_object
    message: str

    def __str__(self) -> str:
        if self.field is None:
            return f"record {self.index}: {self.message}"
        return f"record {self.index}, field {_show_name(self.field)}: {self.message}"


class RecordError(ValidationException):
    """Event data that cannot be written to the dataset."""

    def __init__(self, message: str, failures: Sequence[RecordFailure] = ()) -> None:
        super().__init__(message)
        self.failures = list(failures)

    @classmethod
    def from_failures(cls, failures: Sequence[RecordFailure]) -> RecordError:
        shown = "; ".join(str(f) for f in failures[:_SHOWN_FAILURES])
        more = len(failures) - _SHOWN_FAILURES
        suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more > 0 else ""
        return cls(f"Invalid data: {shown}{suffix}", failures)


def parse_records(data: str | bytes) -> list[dict[str, Any]]:
    """The records in ``data``: a JSON object is one record, a JSON array of objects several."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise RecordError(f"Invalid data: not valid JSON ({e})") from None
    if type(value) is dict:
        return [value]
    if type(value) is not list:
        raise RecordError(
            f"Invalid data: expected a JSON object or an array of objects, got {_kind(value)}"
        )
    if not value:
        raise RecordError("Invalid data: data must contain at least one record")
    if not all(type(r) is dict for r in value):
        raise RecordError.from_failures(
            [
                RecordFailure(i, None, "not_object", f"expected a JSON object, got {_kind(r)}")
                for i, r in enumerate(value)
                if type(r) is not dict
            ]
        )
    return value


def validate_records(
    records: Sequence[dict[str, Any]],
    schema: DatasetSchema,
    operation: Operation,
    *,
    internal_fields: frozenset[str],
) -> None:
    """Raise RecordError unless every record fits ``schema`` for ``operation``."""
    _validator_for(schema, operation, internal_fields).validate(records)


def check_records(
    data: str | bytes,
    schema: DatasetSchema,
    operation: Operation,
    *,
    internal_fields: frozenset[str],
) -> None:
    """Parse event data and raise RecordError unless every record fits: the check an event gets.

    The verdict and the message are those of ``validate_records(parse_records(data), ...)``.
    Records straight from orjson hold nothing but dicts, lists, strings, numbers, booleans and
    nulls of the exact built-in types, so they can be judged a column at a time in C loops
    (:meth:`_Validator.all_fit`); whatever that cannot vouch for goes through the record-by-record
    check, which names every failure.
    """
    records = parse_records(data)
    validator = _validator_for(schema, operation, internal_fields)
    # A few records are checked faster one by one, by the verdicts kept on their shapes.
    if len(records) < _COLUMNS_FROM or not validator.all_fit(records):
        validator.validate(records)


def _validator_for(
    schema: DatasetSchema, operation: Operation, internal_fields: frozenset[str]
) -> _Validator:
    key = (id(schema), operation, internal_fields)
    found = _BY_IDENTITY.get(key)
    if found is None or found[0] is not schema:
        # Hashing a schema hashes every field: look the validator up by value once per object.
        if len(_BY_IDENTITY) >= 1024:
            _BY_IDENTITY.clear()
        found = _BY_IDENTITY[key] = (schema, _validator(schema, operation, internal_fields))
    return found[1]


def arrow_schema(schema: DatasetSchema) -> pa.Schema:
    """The Arrow schema of a dataset: fields in order, required fields not nullable."""
    return _arrow_schema(schema)


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
    needed = _needed(schema, operation)
    get = dict.get
    arrays = []
    for f in schema.fields:
        name = f.name
        values = [fill[name]] * n if name in fill else list(map(get, records, repeat(name)))
        try:
            if f.type is FieldType.TIMESTAMP:
                array = _timestamp_column(values, name)
            else:
                array = pa.array(values, type=_ARROW_TYPES[f.type])
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as e:
            raise RecordError(f"Invalid data in field {_show_name(name)}: {e}") from None
        if array.null_count and name in needed:
            raise RecordError(
                f"Invalid data: field {_show_name(name)} needs a value in every record"
            )
        arrays.append(array)
    if operation is Operation.DELETE:
        return pa.Table.from_arrays(arrays, names=[f.name for f in schema.fields])
    return pa.Table.from_arrays(arrays, schema=_arrow_schema(schema))


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
    own (missing keys are null, keys not in the struct are not read), four to five times faster
    than picking each field's values out in Python. Timestamps come out as strings and are
    checked and converted as a column, as on the other path.
    """
    struct = _struct_type(schema)
    try:
        array = pa.array(records, type=struct)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        return None
    if not isinstance(array, pa.StructArray):
        return None  # chunked (over 2 GiB of strings): the column path copes
    return _struct_columns_to_table(array.flatten(), schema, fill, operation, checked)


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
    struct = _struct_type(schema)
    try:
        table = pa_json.read_json(
            io.BytesIO(b"".join(parts)),
            read_options=pa_json.ReadOptions(block_size=max(_JSON_BLOCK, 2 * longest)),
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
    return _struct_columns_to_table(array.flatten(), schema, fill, operation, checked)


#: Bytes per block pyarrow's JSON reader parses (blocks are parsed on its threads).
_JSON_BLOCK = 4 << 20
_LINE_BREAKS_AS_SPACES = bytes.maketrans(b"\r\n", b"  ")
_JSON_SPACE = re.compile(rb"[ \t\r\n]*")


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
    needed = _needed(schema, operation)
    arrays = []
    for f, column in zip(schema.fields, columns, strict=True):
        name = f.name
        if name in fill:
            arrays.append(pa.array([fill[name]] * n, _ARROW_TYPES[f.type]))
            continue
        if f.type is FieldType.TIMESTAMP:
            if not checked and not timestamps_ok(column.drop_null().to_pylist()):
                return None
            column = timestamp_array(column)
        if column.null_count and name in needed:
            return None
        arrays.append(column)
    if operation is Operation.DELETE:
        return pa.Table.from_arrays(arrays, names=[f.name for f in schema.fields])
    return pa.Table.from_arrays(arrays, schema=_arrow_schema(schema))


@lru_cache(maxsize=256)
def _struct_type(schema: DatasetSchema) -> pa.StructType:
    """The records' struct, with timestamps as strings (converted apart)."""
    return pa.struct(
        [
            (f.name, pa.string() if f.type is FieldType.TIMESTAMP else _ARROW_TYPES[f.type])
            for f in schema.fields
        ]
    )


def _needed(schema: DatasetSchema, operation: Operation) -> set[str]:
    """The fields a record of ``operation`` must give a value."""
    if operation is not Operation.DELETE:
        required = {f.name for f in schema.fields if f.required}
        return required | (set(schema.primary_keys) if operation is Operation.UPSERT else set())
    # A DELETE matches within the record's partition: a required partition field names it.
    sources = {p.name for p in schema.partition_spec}
    return set(schema.primary_keys) | {
        f.name for f in schema.fields if f.required and f.name in sources
    }


def _timestamp_column(values: list[Any], name: str) -> pa.Array:
    present = [v for v in values if v is not None]
    if not timestamps_ok(present):
        index, value = next(
            (i, v) for i, v in enumerate(values) if v is not None and not timestamp_ok(v)
        )
        failure = RecordFailure(index, name, "type", _expected(FieldType.TIMESTAMP, value))
        raise RecordError.from_failures([failure])
    return timestamp_array(values)


@lru_cache(maxsize=256)
def _arrow_schema(schema: DatasetSchema) -> pa.Schema:
    return pa.schema(
        [pa.field(f.name, _ARROW_TYPES[f.type], nullable=not f.required) for f in schema.fields]
    )


#: Record shapes (keys and value types) a validator remembers its verdict on.
_MAX_SHAPES = 1024
_BY_IDENTITY: dict[tuple[int, Operation, frozenset[str]], tuple[DatasetSchema, _Validator]] = {}


@lru_cache(maxsize=256)
def _validator(schema: DatasetSchema, operation: Operation, internal: frozenset[str]) -> _Validator:
    return _Validator(schema, operation, internal)


_IntCheck = Callable[[int], bool]
_ValueChecks = tuple[tuple[str, _IntCheck], ...]


class _Validator:
    """The checks of one (schema, operation, internal fields).

    The records of an event mostly share one shape: the same keys in the same order, holding
    values of the same types. Keys and types are judged once per shape; what is left per record
    is the range of its integers, and the timestamp strings, checked in one batch at the end.
    """

    def __init__(self, schema: DatasetSchema, operation: Operation, internal: frozenset[str]):
        if operation is not Operation.APPEND and not schema.primary_keys:
            raise RecordError(f"{operation} needs a dataset with primary keys; this one has none")
        keys = set() if operation is Operation.APPEND else set(schema.primary_keys)
        needed = _needed(schema, operation)
        fields = [f for f in schema.fields if f.name not in internal]
        self.internal = internal
        self.allowed = frozenset(f.name for f in fields)
        self.needed = frozenset(needed - internal)
        self.needed_in_order = [f.name for f in fields if f.name in self.needed]
        self.keys = frozenset(keys)
        self.field_types = {f.name: f.type for f in fields}
        # null is a type like any other: accepted where a value may be left out.
        self.accepted = {
            f.name: _ACCEPTED[f.type] | (frozenset() if f.name in needed else {type(None)})
            for f in fields
        }
        self.int_checks = {f.name: _INT_CHECKS[f.type] for f in fields if f.type in _INT_CHECKS}
        self.timestamps = [f.name for f in fields if f.type is FieldType.TIMESTAMP]
        self._verdicts: dict[tuple[Any, ...], _ValueChecks | None] = {}
        self._key_verdicts: dict[tuple[str, ...], bool] = {}

    def validate(self, records: Sequence[dict[str, Any]]) -> None:
        # Kept across events: clients send the same few shapes again and again.
        verdicts = self._verdicts
        if len(verdicts) > _MAX_SHAPES:
            verdicts.clear()
        bad: list[int] = []
        for i, record in enumerate(records):
            shape = (*record, *map(type, record.values()))
            try:
                checks = verdicts[shape]
            except KeyError:
                checks = verdicts[shape] = self._judge(record)
            if checks is None:
                bad.append(i)
            elif checks:
                for name, ok in checks:
                    if not ok(record[name]):
                        bad.append(i)
                        break
        if self.timestamps and not timestamps_ok(
            [v for k in self.timestamps for r in records if (v := r.get(k)) is not None]
        ):
            bad = list(range(len(records)))
        failures = [f for i in bad for f in self.failures(i, records[i])]
        if failures:
            raise RecordError.from_failures(failures)

    def all_fit(self, records: list[dict[str, Any]]) -> bool:
        """Whether every record fits, judged a column of values at a time; False when unsure.

        Only for records as orjson makes them (see :func:`check_records`): there ``"".join``
        takes exactly the strings, and no value's type is a subclass (``bool`` is a type of its
        own here, as in :meth:`validate`). Records are grouped by their keys in order; a group's
        values are laid out in one list, so a field's values are one slice of it.
        """
        groups: Iterable[tuple[tuple[str, ...], list[dict[str, Any]]]]
        first = list(records[0])
        # Every record's keys, one after the other, as the first record's over and over: then
        # every record has exactly those keys in that order (keys of a dict never repeat).
        if list(chain.from_iterable(records)) == first * len(records):
            groups = [(tuple(first), records)]
        else:
            layouts = list(map(tuple, records))
            distinct = dict.fromkeys(layouts)
            if len(distinct) > _MAX_GROUPS:
                return False
            by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {k: [] for k in distinct}
            for keys, record in zip(layouts, records, strict=True):
                by_keys[keys].append(record)
            groups = by_keys.items()
        for names, group in groups:
            if not self._keys_fit(names):
                return False
            width = len(names)
            if width:
                values = list(chain.from_iterable(map(dict.values, group)))
                for i, name in enumerate(names):
                    if not self._column_fits(name, values[i::width]):
                        return False
        return True

    def _keys_fit(self, names: tuple[str, ...]) -> bool:
        found = self._key_verdicts.get(names)
        if found is None:
            if len(self._key_verdicts) > _MAX_SHAPES:
                self._key_verdicts.clear()
            keys = set(names)
            found = self._key_verdicts[names] = keys <= self.allowed and keys >= self.needed
        return found

    def _column_fits(self, name: str, column: list[Any]) -> bool:
        """Whether every value of one field fits it (a null only where the field may be left
        out); False when unsure."""
        kind = self.field_types[name]
        accepted = self.accepted[name]
        if kind is FieldType.STRING or kind is FieldType.TIMESTAMP:
            fits = _strings if kind is FieldType.STRING else timestamps_ok
            if fits(column):
                return True
            # Nulls fail the joins: judged again without them, where a null is allowed.
            return _NONE in accepted and fits([v for v in column if v is not None])
        types = set(map(type, column))
        if not types <= accepted:
            return False
        if int not in types:
            return True
        ints = column if len(types) == 1 else [v for v in column if type(v) is int]
        in_range = self.int_checks[name]
        return in_range(min(ints)) and in_range(max(ints))

    def _judge(self, record: dict[str, Any]) -> _ValueChecks | None:
        """The integer checks records of this shape need, or None if the shape is wrong."""
        keys = record.keys()
        if not (keys <= self.allowed and keys >= self.needed):
            return None
        checks: list[tuple[str, _IntCheck]] = []
        for name, value in record.items():
            kind = type(value)
            if kind not in self.accepted[name]:
                return None
            if kind is int:
                checks.append((name, self.int_checks[name]))
        return tuple(checks)

    def failures(self, index: int, record: dict[str, Any]) -> list[RecordFailure]:
        """Every reason to reject ``record`` (the slow path, taken only for bad events)."""
        out = []
        for k, v in record.items():
            if k in self.internal:
                message = "reserved field: the service fills it, do not send it"
                out.append(RecordFailure(index, k, "internal", message))
            elif k not in self.allowed:
                out.append(RecordFailure(index, k, "unknown", "no such field in the dataset"))
            elif v is None:
                if k in self.needed:
                    out.append(RecordFailure(index, k, "null", f"{self._role(k)} is null"))
            elif not self._value_ok(k, v):
                out.append(RecordFailure(index, k, "type", _expected(self.field_types[k], v)))
        for k in self.needed_in_order:
            if k not in record:
                out.append(RecordFailure(index, k, "missing", f"{self._role(k)} is missing"))
        return out

    def _value_ok(self, name: str, value: Any) -> bool:
        if self.field_types[name] is FieldType.TIMESTAMP:
            return timestamp_ok(value)
        kind = type(value)
        return kind in self.accepted[name] and (kind is not int or self.int_checks[name](value))

    def _role(self, name: str) -> str:
        return "primary key field" if name in self.keys else "required field"


def _strings(values: list[Any]) -> bool:
    """Whether every value is a string (of records from orjson: no subclass of str)."""
    try:
        "".join(values)
    except TypeError:
        return False
    return True


_NONE = type(None)
#: Events of fewer records are checked one record at a time (measured: faster below ~25).
_COLUMNS_FROM = 32
#: Records of more key layouts than this are checked one record at a time.
_MAX_GROUPS = 8

# Python types of the JSON values a field takes; bool is a type of its own, never an int here.
_ACCEPTED: dict[FieldType, frozenset[type]] = {
    FieldType.INT: frozenset({int}),
    FieldType.LONG: frozenset({int}),
    FieldType.DOUBLE: frozenset({float, int}),
    FieldType.STRING: frozenset({str}),
    FieldType.TIMESTAMP: frozenset({str}),
}
_INT_CHECKS: dict[FieldType, _IntCheck] = {
    FieldType.INT: lambda v: -(2**31) <= v < 2**31,
    FieldType.LONG: lambda v: -(2**63) <= v < 2**63,
    # Arrow takes an integer as a double only where every integer is exact.
    FieldType.DOUBLE: lambda v: -(2**53) <= v <= 2**53,
}
_EXPECTED = {
    FieldType.INT: "an INT (integer in -2147483648..2147483647)",
    FieldType.LONG: "a LONG (integer in -9223372036854775808..9223372036854775807)",
    FieldType.DOUBLE: "a number",
    FieldType.STRING: "a string",
    FieldType.TIMESTAMP: "an ISO 8601 timestamp",
}


def _expected(field_type: FieldType, value: Any) -> str:
    return f"expected {_EXPECTED[field_type]}, got {_show(value)}"


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return _show(value)


def _show(value: Any) -> str:
    """A value echoed in a message: JSON spelling, strings quoted, long ones cut."""
    if isinstance(value, dict | list):
        return _kind(value)
    if type(value) is str:
        return repr(value if len(value) <= _ECHO_CHARS else value[:_ECHO_CHARS] + "…")
    if value is None or type(value) is bool:
        return "null" if value is None else str(value).lower()
    text = repr(value)
    return text if len(text) <= _ECHO_CHARS else text[:_ECHO_CHARS] + "…"


def _show_name(name: str) -> str:
    return repr(name if len(name) <= 64 else name[:64] + "…")
