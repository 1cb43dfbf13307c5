"""What a field of each type accepts, and which fields a record of an operation must hold.

The send-time check (`schema.validate`), the load-time conversion (`schema.arrow`) and the
conversion of text tables (`schema.text`) apply these same rules, so an event accepted at send
time converts at load time, and a value means the same as a JSON string and as CSV text.

=========  ==============================================================================
INT        a JSON integer, or a string of one (``-?[0-9]+``), in -2**31 .. 2**31-1
LONG       a JSON integer, or a string of one, in -2**63 .. 2**63-1
DOUBLE     a JSON number, or a string of one (``-?(digits[.digits]|.digits)[e±digits]``)
           that is finite as a double; an integer (JSON or string) only in -2**53 .. 2**53,
           where a double holds it exactly
STRING     a JSON string, including "" (numbers are not turned into strings)
TIMESTAMP  an ISO 8601 string (see `schema.timestamps`), or epoch milliseconds as a JSON
           integer or a string of digits, 0 .. the end of the year 9999
=========  ==============================================================================

Nothing else is coerced: no booleans for numbers, no ``2.5`` or ``"2.5"`` for an INT (an integer
is never rounded), no ``NaN``, ``Infinity``, hexadecimal, a ``+`` sign, spaces or digit
separators in number text, no free text for timestamps.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import partial
from typing import Any

from supplylake.schema.errors import show
from supplylake.schema.timestamps import timestamp_value_ok
from supplylake.schema.types import DatasetSchema, FieldType, Operation

IntCheck = Callable[[int], bool]

#: Number text, as regular expressions that Python's ``re`` and Arrow's RE2 read alike.
INT_TEXT = "-?[0-9]+"
DECIMAL_TEXT = r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_INT_TEXT = re.compile(INT_TEXT)
_DECIMAL_TEXT = re.compile(DECIMAL_TEXT)
_INT_LINES = re.compile(f"(?:{INT_TEXT}\n)*{INT_TEXT}")
_DECIMAL_LINES = re.compile(f"(?:{DECIMAL_TEXT}\n)*{DECIMAL_TEXT}")

#: The integers a field of each numeric type holds exactly.
INT_RANGES: dict[FieldType, tuple[int, int]] = {
    FieldType.INT: (-(2**31), 2**31 - 1),
    FieldType.LONG: (-(2**63), 2**63 - 1),
    FieldType.DOUBLE: (-(2**53), 2**53),
}
#: Digits of the widest integer in any range: longer integer text is out of every range.
_MAX_INT_DIGITS = 19
_EXACT_DOUBLE = float(2**53)

#: Python types of the JSON values a field takes; bool is a type of its own, never an int here.
ACCEPTED: dict[FieldType, frozenset[type]] = {
    FieldType.INT: frozenset({int, str}),
    FieldType.LONG: frozenset({int, str}),
    FieldType.DOUBLE: frozenset({float, int, str}),
    FieldType.STRING: frozenset({str}),
    FieldType.TIMESTAMP: frozenset({str, int}),
}


def _in_range(low: int, high: int) -> IntCheck:
    return lambda v: low <= v <= high


#: The range a JSON integer must fall in, by the type of the numeric field it is sent to.
INT_CHECKS: dict[FieldType, IntCheck] = {t: _in_range(*r) for t, r in INT_RANGES.items()}

_EXPECTED = {
    FieldType.INT: "an INT (an integer in -2147483648..2147483647, as a number or a string)",
    FieldType.LONG: (
        "a LONG (an integer in -9223372036854775808..9223372036854775807, as a number or a string)"
    ),
    FieldType.DOUBLE: (
        "a DOUBLE (a finite number, as a number or a string; "
        "an integer only in -9007199254740992..9007199254740992)"
    ),
    FieldType.STRING: "a string",
    FieldType.TIMESTAMP: (
        "a TIMESTAMP (an ISO 8601 timestamp, or epoch milliseconds as an integer "
        "or a string of digits)"
    ),
}


def expected(field_type: FieldType, value: Any) -> str:
    """The message for a value a field of ``field_type`` does not take."""
    return f"expected {_EXPECTED[field_type]}, got {show(value)}"


def int_of_text(text: str) -> int | None:
    """The integer that integer text (`INT_TEXT`) spells when it may fit some range, or None."""
    if not _INT_TEXT.fullmatch(text):
        return None
    negative = text[0] == "-"
    significant = text[negative:].lstrip("0")
    if len(significant) > _MAX_INT_DIGITS:
        return None  # out of every range (and int() of very long text is refused)
    value = int(significant or "0")
    return -value if negative else value


def text_ok(field_type: FieldType, text: str) -> bool:
    """Whether a string is a value of a field of ``field_type``."""
    if field_type is FieldType.STRING:
        return True
    if field_type is FieldType.TIMESTAMP:
        return timestamp_value_ok(text)
    number = int_of_text(text)
    if number is not None:
        return INT_CHECKS[field_type](number)
    if field_type is FieldType.DOUBLE and not _INT_TEXT.fullmatch(text):
        return _DECIMAL_TEXT.fullmatch(text) is not None and math.isfinite(float(text))
    return False


def texts_ok(field_type: FieldType, texts: list[str]) -> bool:
    """Whether every string is a value of a numeric field of ``field_type``: `text_ok` of each,
    judged in a few passes of C loops over the whole list (one regular expression over the
    texts joined, then their conversion)."""
    joined = "\n".join(texts)
    if joined.count("\n") != len(texts) - 1:  # a text holds a line break: no number does
        return False
    lines = _INT_LINES if field_type is not FieldType.DOUBLE else _DECIMAL_LINES
    if lines.fullmatch(joined) is None:
        return False
    if max(map(len, texts)) > _MAX_INT_DIGITS:
        return all(map(partial(text_ok, field_type), texts))  # long text: judged one by one
    if field_type is FieldType.DOUBLE:
        doubles = list(map(float, texts))
        # Below 2**53 every integer text is exact; at or above it, judged one by one.
        return max(map(abs, doubles)) < _EXACT_DOUBLE or all(
            map(partial(text_ok, field_type), texts)
        )
    integers = list(map(int, texts))
    in_range = INT_CHECKS[field_type]
    return in_range(min(integers)) and in_range(max(integers))


def value_ok(field_type: FieldType, value: Any) -> bool:
    """Whether a JSON value (not null) is a value of a field of ``field_type``."""
    kind = type(value)
    if kind is str:
        return text_ok(field_type, value)
    if field_type is FieldType.TIMESTAMP:
        return timestamp_value_ok(value)
    if kind is int:
        return field_type in INT_CHECKS and INT_CHECKS[field_type](value)
    return kind is float and field_type is FieldType.DOUBLE


def needed(schema: DatasetSchema, operation: Operation) -> set[str]:
    """The fields a record of ``operation`` must give a value."""
    if operation is not Operation.DELETE:
        required = {f.name for f in schema.fields if f.required}
        return required | (set(schema.primary_keys) if operation is Operation.UPSERT else set())
    # A DELETE matches within the record's partition: a required partition field names it.
    sources = {p.name for p in schema.partition_spec}
    return set(schema.primary_keys) | {
        f.name for f in schema.fields if f.required and f.name in sources
    }
