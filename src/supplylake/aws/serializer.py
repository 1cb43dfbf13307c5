"""Turn snake_case output (or a ServiceError) into a rest-json HTTP response."""

from __future__ import annotations

import base64
import calendar
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, NamedTuple

import orjson

from supplylake.aws.errors import ServiceError
from supplylake.aws.shapes import Member, members

Headers = list[tuple[str, str]]
_JSON_CONTENT = ("Content-Type", "application/json")


def serialize_response(
    operation: Any, output: Mapping[str, Any] | None, request_id: str | None = None
) -> tuple[int, Headers, bytes]:
    """Status, headers and JSON body for an operation's snake_case output."""
    plan = _plan(operation)
    status = plan.status
    headers: Headers = [_JSON_CONTENT]
    if request_id is not None:
        headers.append(("x-amzn-RequestId", request_id))
    if output is None:
        return status, headers, b"{}"
    for member, to_text in plan.headers:
        value = output.get(member.snake)
        if value is None:
            continue
        if member.location == "headers":
            headers.extend((f"{member.wire}{k}", str(v)) for k, v in value.items())
        else:
            headers.append((member.wire, to_text(value)))
    if plan.status_member is not None and output.get(plan.status_member) is not None:
        status = int(output[plan.status_member])
    if plan.payload is not None:
        member, to_bytes = plan.payload
        value = output.get(member.snake)
        body = b"" if value is None else to_bytes(value)
    else:
        body = orjson.dumps(plan.body(output))
    return status, headers, body


def serialize_error(err: ServiceError, request_id: str) -> tuple[int, Headers, bytes]:
    """The response for an error: botocore reads the code from ``X-Amzn-ErrorType``."""
    headers: Headers = [
        _JSON_CONTENT,
        ("X-Amzn-ErrorType", err.code),
        ("x-amzn-RequestId", request_id),
    ]
    return err.status, headers, orjson.dumps({"message": err.message})


# ---- plans -----------------------------------------------------------------------------------

_ToWire = Callable[[Any], Any]


class _Plan(NamedTuple):
    status: int
    headers: tuple[tuple[Member, Callable[[Any], str]], ...]
    status_member: str | None
    body: _ToWire
    payload: tuple[Member, Callable[[Any], bytes]] | None


_PLANS: dict[str, _Plan] = {}


def prepare(operation: Any) -> None:
    """Build the operation's plan now (at start-up) rather than on its first request."""
    _plan(operation)


def _plan(operation: Any) -> _Plan:
    plan = _PLANS.get(operation.name)
    if plan is None:
        plan = _PLANS[operation.name] = _build_plan(operation)
    return plan


def _build_plan(operation: Any) -> _Plan:
    status = int(operation.http.get("responseCode", 200))
    shape = operation.output_shape
    if shape is None:
        return _Plan(status, (), None, lambda _: {}, None)
    all_members = members(shape)
    headers = tuple(
        (m, _header_text(m.shape)) for m in all_members if m.location in ("header", "headers")
    )
    status_member = next((m.snake for m in all_members if m.location == "statusCode"), None)
    payload_name = shape.serialization.get("payload")
    payload = None
    if payload_name is not None:
        member = next(m for m in all_members if m.name == payload_name)
        payload = (member, _payload_bytes(member.shape))
    return _Plan(status, headers, status_member, _Struct(all_members, body_only=True), payload)


def _payload_bytes(shape: Any) -> Callable[[Any], bytes]:
    if shape.type_name == "blob":
        return bytes
    if shape.type_name == "string":
        return lambda v: str(v).encode("utf-8")
    convert = _converter(shape)
    return lambda v: orjson.dumps(convert(v))


# ---- values ----------------------------------------------------------------------------------

_CONVERTERS: dict[str, _ToWire] = {}


def _converter(shape: Any) -> _ToWire:
    """Converts a snake_case value of this shape to its JSON form (cached per shape name)."""
    kind = shape.type_name
    if kind == "timestamp":
        # The format can be set on the member, so it is not a property of the shape name.
        fmt = shape.serialization.get("timestampFormat", "unixTimestamp").lower()
        return _TIMESTAMPS[fmt]
    found = _CONVERTERS.get(shape.name)
    if found is not None:
        return found
    if kind == "structure" and not shape.metadata.get("document"):
        struct = _Struct()  # registered first so that recursive shapes terminate
        _CONVERTERS[shape.name] = struct
        struct.build(members(shape))
        return struct
    if kind == "list":
        found = _list_of(_converter(shape.member))
    elif kind == "map":
        found = _map_of(_converter(shape.value))
    else:
        found = _SCALARS.get(kind, _identity)
    _CONVERTERS[shape.name] = found
    return found


class _Struct:
    __slots__ = ("members",)

    def __init__(self, of: tuple[Member, ...] = (), body_only: bool = False) -> None:
        self.build(tuple(m for m in of if m.location is None) if body_only else of)

    def build(self, of: tuple[Member, ...]) -> None:
        self.members = tuple((m.snake, m.wire, _converter(m.shape)) for m in of)

    def __call__(self, value: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for snake, wire, convert in self.members:
            item = value.get(snake)
            if item is not None:
                out[wire] = item if convert is _identity else convert(item)
        return out


def _identity(value: Any) -> Any:
    return value


def _list_of(element: _ToWire) -> _ToWire:
    if element is _identity:
        return list

    def convert(value: Any) -> list[Any]:
        return [None if x is None else element(x) for x in value]

    return convert


def _map_of(element: _ToWire) -> _ToWire:
    if element is _identity:
        return dict

    def convert(value: Any) -> dict[str, Any]:
        return {k: None if x is None else element(x) for k, x in value.items()}

    return convert


def _blob(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _float(value: Any) -> Any:
    value = float(value)
    if math.isfinite(value):
        return value
    # JSON has no NaN or Infinity; botocore reads these strings back as floats.
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


_SCALARS: dict[str, _ToWire] = {"blob": _blob, "float": _float, "double": _float}


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _epoch(value: Any) -> Any:
    if not isinstance(value, datetime):
        return value  # already epoch seconds
    seconds = calendar.timegm(_aware(value).utctimetuple())
    if value.microsecond:
        # Integer arithmetic first, so the float is rounded once (as botocore does).
        return (seconds * 10**6 + value.microsecond) / 10**6
    return seconds


def _iso8601(value: datetime) -> str:
    text = _aware(value).astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def _rfc822(value: datetime) -> str:
    return format_datetime(_aware(value).astimezone(UTC), usegmt=True)


_TIMESTAMPS: dict[str, _ToWire] = {
    "unixtimestamp": _epoch,
    "iso8601": _iso8601,
    "rfc822": _rfc822,
}


def _header_text(shape: Any) -> Callable[[Any], str]:
    kind = shape.type_name
    if kind == "timestamp":
        fmt = shape.serialization.get("timestampFormat", "rfc822").lower()
        to_wire = _TIMESTAMPS[fmt]
        return lambda v: str(to_wire(v))
    if kind == "boolean":
        return lambda v: "true" if v else "false"
    if kind == "string" and shape.serialization.get("jsonvalue"):
        return lambda v: base64.b64encode(orjson.dumps(v)).decode("ascii")
    if kind == "blob":
        return _blob
    if kind == "list":
        element = _header_text(shape.member)
        return lambda v: ",".join(_quote_header_item(element(x)) for x in v)
    return str


def _quote_header_item(text: str) -> str:
    if '"' in text or "," in text:
        return '"' + text.replace('"', '\\"') + '"'
    return text
