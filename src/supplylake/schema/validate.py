"""Send-time validation: does every record of an event fit its dataset, for its operation?

What each field type accepts is said in `schema.rules`. ``null`` in an optional field is the
same as leaving the field out. Which fields a record must hold depends on the operation (see
`rules.needed`): APPEND needs the required fields, UPSERT the required and the primary-key
fields, DELETE only the primary-key fields and the required fields the partition spec uses, as
it matches within a partition (other fields may be sent; they are checked but play no part).
Unknown fields are rejected, and so are the dataset's internal fields, which only the service
fills.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache, partial
from itertools import chain
from typing import Any

from supplylake.schema.errors import RecordError, RecordFailure
from supplylake.schema.records import parse_records
from supplylake.schema.rules import (
    ACCEPTED,
    INT_CHECKS,
    expected,
    needed,
    text_ok,
    texts_ok,
    value_ok,
)
from supplylake.schema.timestamps import timestamp_values_ok
from supplylake.schema.types import DatasetSchema, FieldType, Operation

#: Events of fewer records are checked one record at a time (faster for a few records).
_COLUMNS_FROM = 32
#: Records of more key layouts than this are checked one record at a time.
_MAX_GROUPS = 8
#: Record shapes (keys and value types) a validator remembers its verdict on.
_MAX_SHAPES = 1024
_NONE = type(None)

_ValueCheck = Callable[[Any], bool]
_ValueChecks = tuple[tuple[str, _ValueCheck], ...]


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


_BY_IDENTITY: dict[tuple[int, Operation, frozenset[str]], tuple[DatasetSchema, _Validator]] = {}


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


@lru_cache(maxsize=256)
def _validator(schema: DatasetSchema, operation: Operation, internal: frozenset[str]) -> _Validator:
    return _Validator(schema, operation, internal)


class _Validator:
    """The checks of one (schema, operation, internal fields).

    The records of an event mostly share one shape: the same keys in the same order, holding
    values of the same types. Keys and types are judged once per shape; what is left per record
    is the range of its integers and the text of its numbers sent as strings, and the timestamps,
    checked in one batch at the end.
    """

    def __init__(self, schema: DatasetSchema, operation: Operation, internal: frozenset[str]):
        if operation is not Operation.APPEND and not schema.primary_keys:
            raise RecordError(f"{operation} needs a dataset with primary keys; this one has none")
        keys = set() if operation is Operation.APPEND else set(schema.primary_keys)
        must = needed(schema, operation)
        fields = [f for f in schema.fields if f.name not in internal]
        self.internal = internal
        self.allowed = frozenset(f.name for f in fields)
        self.needed = frozenset(must - internal)
        self.needed_in_order = [f.name for f in fields if f.name in self.needed]
        self.keys = frozenset(keys)
        self.field_types = {f.name: f.type for f in fields}
        # null is a type like any other: accepted where a value may be left out.
        self.accepted = {
            f.name: ACCEPTED[f.type] | (frozenset() if f.name in must else {_NONE}) for f in fields
        }
        self.int_checks = {f.name: INT_CHECKS[f.type] for f in fields if f.type in INT_CHECKS}
        self.text_checks = {
            f.name: partial(text_ok, f.type)
            for f in fields
            if f.type is not FieldType.STRING and f.type is not FieldType.TIMESTAMP
        }
        self.timestamps = [f.name for f in fields if f.type is FieldType.TIMESTAMP]
        self.timestamp_set = frozenset(self.timestamps)
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
        if self.timestamps and not timestamp_values_ok(
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
            fits = _strings if kind is FieldType.STRING else timestamp_values_ok
            if fits(column):
                return True
            # Nulls fail the joins: judged again without them, where a null is allowed.
            return _NONE in accepted and fits([v for v in column if v is not None])
        types = set(map(type, column))
        if not types <= accepted:
            return False
        if str in types:
            texts = column if len(types) == 1 else [v for v in column if type(v) is str]
            if not texts_ok(kind, texts):
                return False
        if int not in types:
            return True
        ints = column if len(types) == 1 else [v for v in column if type(v) is int]
        in_range = self.int_checks[name]
        return in_range(min(ints)) and in_range(max(ints))

    def _judge(self, record: dict[str, Any]) -> _ValueChecks | None:
        """The value checks records of this shape need, or None if the shape is wrong.

        Timestamps are left to the batch check at the end of `validate`.
        """
        keys = record.keys()
        if not (keys <= self.allowed and keys >= self.needed):
            return None
        checks: list[tuple[str, _ValueCheck]] = []
        for name, value in record.items():
            kind = type(value)
            if kind not in self.accepted[name]:
                return None
            if name in self.timestamp_set:
                continue
            if kind is int:
                checks.append((name, self.int_checks[name]))
            elif kind is str and name in self.text_checks:
                checks.append((name, self.text_checks[name]))
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
                out.append(RecordFailure(index, k, "type", expected(self.field_types[k], v)))
        for k in self.needed_in_order:
            if k not in record:
                out.append(RecordFailure(index, k, "missing", f"{self._role(k)} is missing"))
        return out

    def _value_ok(self, name: str, value: Any) -> bool:
        return value_ok(self.field_types[name], value)

    def _role(self, name: str) -> str:
        return "primary key field" if name in self.keys else "required field"


def _strings(values: list[Any]) -> bool:
    """Whether every value is a string (of records from orjson: no subclass of str)."""
    try:
        "".join(values)
    except TypeError:
        return False
    return True
