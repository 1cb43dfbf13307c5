"""Scalar values off the wire, checked and typed: JSON body values and text (uri, query, header)."""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

Convert = Callable[[Any], Any]


class Mismatch(Exception):
    """A value of the wrong type; containers add their path segment as it propagates up."""

    def __init__(self, constraint: str, value: Any) -> None:
        self.constraint = constraint
        self.value = value
        self.segments: list[str] = []
        self.sensitive = False


def _string(value: Any) -> str:
    if type(value) is not str:
        raise Mismatch("Member must be a string", value)
    return value


def _integer(value: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise Mismatch("Member must be an integer", value)


def _boolean(value: Any) -> bool:
    if type(value) is not bool:
        raise Mismatch("Member must be a boolean", value)
    return value


_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _number(value: Any) -> float:
    if type(value) is float or type(value) is int:
        return float(value)
    if type(value) is str and value in _NON_FINITE:  # how botocore sends non-finite floats
        return _NON_FINITE[value]
    raise Mismatch("Member must be a number", value)


def _blob(value: Any) -> bytes:
    if type(value) is not str:
        raise Mismatch("Member must be a base64-encoded string", value)
    return _base64(value)


def _base64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Mismatch("Member must be valid base64", value) from None


def document(value: Any) -> Any:
    """Document (free-form JSON) values pass as they are."""
    return value


JSON_SCALARS: dict[str, Convert] = {
    "string": _string,
    "integer": _integer,
    "long": _integer,
    "boolean": _boolean,
    "float": _number,
    "double": _number,
    "blob": _blob,
}


def timestamp(value: Any) -> datetime:
    """Epoch seconds (the rest-json body default), or ISO 8601 / RFC 822 text."""
    try:
        if type(value) is int or type(value) is float:
            return datetime.fromtimestamp(value, UTC)
        if type(value) is str:
            return _timestamp_text(value)
    except (ValueError, TypeError, OverflowError, OSError):
        pass
    raise Mismatch("Member must be a timestamp (epoch seconds or ISO 8601)", value)


_EPOCH = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _timestamp_text(text: str) -> datetime:
    if _EPOCH.fullmatch(text):
        return datetime.fromtimestamp(float(text), UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = parsedate_to_datetime(text)  # RFC 822, the header default
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# ---- uri, query and header text --------------------------------------------------------------

_INTEGER = re.compile(r"-?[0-9]+")


def text_converter(shape: Any) -> Convert:
    """Converts one text value (uri label, query value, header) to the shape's type."""
    kind = shape.type_name
    if kind == "string":
        if shape.serialization.get("jsonvalue"):
            return _json_value
        return _identity
    return _TEXT.get(kind, _identity)


def _identity(value: Any) -> Any:
    return value


def _int_text(text: str) -> int:
    if not _INTEGER.fullmatch(text):
        raise Mismatch("Member must be an integer", text)
    return int(text)


def _bool_text(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise Mismatch("Member must be a boolean (true or false)", text)
    return lowered == "true"


def _float_text(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise Mismatch("Member must be a number", text) from None


def _timestamp_text_checked(text: str) -> datetime:
    try:
        return _timestamp_text(text)
    except (ValueError, TypeError, OverflowError, OSError):
        raise Mismatch("Member must be a timestamp", text) from None


def _json_value(text: str) -> Any:
    try:
        return orjson.loads(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        raise Mismatch("Member must be base64-encoded JSON", text) from None


_TEXT: dict[str, Convert] = {
    "integer": _int_text,
    "long": _int_text,
    "boolean": _bool_text,
    "float": _float_text,
    "double": _float_text,
    "timestamp": _timestamp_text_checked,
    "blob": _base64,
}


def split_header(text: str) -> list[str]:
    """The items of a list header: comma-separated, quoted when they hold commas or quotes."""
    items = re.findall(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^,]*?))\s*(?:,|$)', text)
    values = [q.replace('\\"', '"') if q else plain for q, plain in items]
    return values[:-1] if values and values[-1] == "" else values
