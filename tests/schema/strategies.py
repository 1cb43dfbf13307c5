"""Hypothesis strategies for schemas and the records that fit them."""

import math
from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from supplylake.schema.types import DatasetSchema, Field, FieldType

NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
_EPOCH = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)


@st.composite
def schemas(draw: st.DrawFn) -> DatasetSchema:
    names = draw(st.lists(NAMES, min_size=1, max_size=8, unique=True))
    fields = tuple(Field(n, draw(st.sampled_from(FieldType)), draw(st.booleans())) for n in names)
    keys = draw(st.lists(st.sampled_from(names), unique=True, max_size=3))
    return DatasetSchema("t", fields, tuple(keys))


@st.composite
def timestamps(draw: st.DrawFn) -> tuple[str, int]:
    """An accepted spelling of a moment, and its UTC microseconds worked out apart."""
    moment = draw(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)))
    style = draw(st.sampled_from(["date", "minutes", "seconds", "fraction"]))
    if style == "date":
        return f"{moment:%Y-%m-%d}", (
            moment.replace(hour=0, minute=0, second=0, microsecond=0) - _EPOCH
        ) // _US
    text = f"{moment:%Y-%m-%d}{draw(st.sampled_from('T '))}{moment:%H:%M}"
    if style == "minutes":
        moment = moment.replace(second=0, microsecond=0)
    elif style == "seconds":
        text += f":{moment:%S}"
        moment = moment.replace(microsecond=0)
    else:
        digits = f"{moment.microsecond:06d}"[: draw(st.integers(1, 6))]
        text += f":{moment:%S}.{digits}"
        moment = moment.replace(microsecond=int(digits.ljust(6, "0")))
    zone = draw(st.one_of(st.none(), st.just("Z"), st.integers(-(23 * 60 + 59), 23 * 60 + 59)))
    offset = 0
    if zone == "Z":
        text += "Z"
    elif isinstance(zone, int):
        offset = zone
        text += f"{'-' if zone < 0 else '+'}{abs(zone) // 60:02d}:{abs(zone) % 60:02d}"
    return text, (moment - _EPOCH - timedelta(minutes=offset)) // _US


#: The last millisecond of the year 9999, the latest epoch milliseconds accepted.
EPOCH_MS_MAX = 253_402_300_799_999


def _int_text(n: int, zeros: int) -> str:
    """``n`` as integer text, with leading zeros after the sign."""
    return ("-" if n < 0 else "") + "0" * zeros + str(abs(n))


def _integers(low: int, high: int) -> st.SearchStrategy[tuple[Any, Any]]:
    """An integer as a JSON number or as integer text (leading zeros too)."""
    numbers = st.integers(low, high)
    texts = st.tuples(numbers, st.integers(0, 3)).map(lambda p: (_int_text(*p), p[0]))
    return numbers.map(lambda v: (v, v)) | texts


@st.composite
def decimal_texts(draw: st.DrawFn) -> str:
    """Decimal number text as the DOUBLE rules spell it (not integer text)."""
    sign = draw(st.sampled_from(["", "-"]))
    whole = draw(st.from_regex(r"[0-9]{0,20}", fullmatch=True))
    fraction = draw(st.from_regex(r"[0-9]{0,20}", fullmatch=True))
    mantissa = f"{whole}.{fraction}" if whole or fraction else "0."
    exponent = draw(st.sampled_from(["", "e", "E"]))
    if exponent:
        exponent += draw(st.sampled_from(["", "+", "-"])) + str(draw(st.integers(0, 330)))
    return sign + mantissa + exponent


def _finite(text: str) -> bool:
    return math.isfinite(float(text))


def values(field_type: FieldType) -> st.SearchStrategy[tuple[Any, Any]]:
    """(JSON value, what the table holds) pairs of one type, in each accepted encoding."""
    if field_type is FieldType.INT:
        return _integers(-(2**31), 2**31 - 1)
    if field_type is FieldType.LONG:
        return _integers(-(2**63), 2**63 - 1)
    if field_type is FieldType.DOUBLE:
        numbers = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53)
        texts = st.floats(allow_nan=False, allow_infinity=False).map(repr) | decimal_texts().filter(
            _finite
        )
        return (
            numbers.map(lambda v: (v, float(v)))
            | texts.map(lambda t: (t, float(t)))
            | _integers(-(2**53), 2**53).map(lambda p: (p[0], float(p[1])))
        )
    if field_type is FieldType.STRING:
        return st.text().map(lambda v: (v, v))
    epoch = st.integers(0, EPOCH_MS_MAX)
    return (
        timestamps()
        | epoch.map(lambda ms: (ms, ms * 1000))
        | st.tuples(epoch, st.integers(0, 3)).map(lambda p: (_int_text(*p), p[0] * 1000))
    )
