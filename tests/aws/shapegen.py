"""Hypothesis strategies that produce valid values for any botocore shape, and wire helpers.

Everything here is derived from the service model; no value is picked by member name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from botocore import xform_name
from botocore.awsrequest import AWSRequest, HeadersDict, prepare_request_dict
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from hypothesis import strategies as st

ENDPOINT = "https://scn.us-east-1.amazonaws.com"
# Collections are kept short so that examples stay fast; the minimum sizes are still honoured.
EXTRA_ITEMS = 3
EXTRA_CHARS = 24

_SERIALIZER = create_serializer("rest-json")  # validates params the way a boto3 client does
_PARSER = create_parser("rest-json")


def values(shape: Any, *, full: bool = False, snake: bool = False, top: bool = True) -> Any:
    """A strategy for valid values of ``shape``: camelCase keys, or snake_case with ``snake``.

    ``full`` includes every optional member. At the top level, lists bound to the query string or
    headers get at least one item: an empty one is not sent at all, so it cannot round-trip.
    """
    kind = shape.type_name
    if kind == "structure":
        required: dict[str, Any] = {}
        optional: dict[str, Any] = {}
        for name, member in shape.members.items():
            key = xform_name(name) if snake else name
            strategy = values(member, full=full, snake=snake, top=False)
            if top and member.type_name == "list" and member.serialization.get("location"):
                strategy = strategy.filter(bool)
            if full or name in shape.required_members:
                required[key] = strategy
            else:
                optional[key] = strategy
        return st.fixed_dictionaries(required, optional=optional)
    meta = shape.metadata
    low = meta.get("min", 0)
    if kind == "list":
        return st.lists(
            values(shape.member, full=full, snake=snake, top=False),
            min_size=low,
            max_size=min(meta.get("max", low + EXTRA_ITEMS), low + EXTRA_ITEMS),
        )
    if kind == "map":
        return st.dictionaries(
            values(shape.key, top=False),
            values(shape.value, full=full, snake=snake, top=False),
            min_size=low,
            max_size=min(meta.get("max", low + EXTRA_ITEMS), low + EXTRA_ITEMS),
        )
    if kind == "string":
        return _strings(shape)
    if kind in ("integer", "long"):
        return st.integers(meta.get("min", -(2**31)), meta.get("max", 2**31 - 1))
    if kind in ("float", "double"):
        return st.floats(meta.get("min"), meta.get("max"), allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return st.datetimes(datetime(1971, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC))
    if kind == "blob":
        return st.binary(min_size=low, max_size=low + EXTRA_CHARS)
    raise AssertionError(f"no strategy for {kind}")


def _strings(shape: Any) -> st.SearchStrategy[str]:
    if shape.enum:
        return st.sampled_from(shape.enum)
    meta = shape.metadata
    low = meta.get("min", 0)
    high = meta.get("max", 10**9)
    if "pattern" in meta:
        return st.from_regex(meta["pattern"], fullmatch=True).filter(
            lambda s: low <= len(s) <= high
        )
    return st.text(min_size=low, max_size=min(high, low + EXTRA_CHARS))


def to_snake(shape: Any, value: Any) -> Any:
    """A camelCase value of ``shape`` with its structure keys renamed the supplylake way."""
    kind = shape.type_name
    if kind == "structure":
        return {xform_name(k): to_snake(shape.members[k], v) for k, v in value.items()}
    if kind == "list":
        return [to_snake(shape.member, v) for v in value]
    if kind == "map":
        return {k: to_snake(shape.value, v) for k, v in value.items()}
    return value


def to_camel(shape: Any, value: Any) -> Any:
    """The inverse of ``to_snake``, walking the shape (never guessing from the key)."""
    kind = shape.type_name
    if kind == "structure":
        by_snake = {xform_name(k): k for k in shape.members}
        return {
            by_snake[k]: to_camel(shape.members[by_snake[k]], v)
            for k, v in value.items()
            if v is not None
        }
    if kind == "list":
        return [to_camel(shape.member, v) for v in value]
    if kind == "map":
        return {k: to_camel(shape.value, v) for k, v in value.items()}
    return value


def botocore_request(
    operation: Any, params: dict[str, Any]
) -> tuple[str, str, list[tuple[str, str]], HeadersDict, bytes]:
    """(method, raw path, query pairs, headers, body) exactly as botocore would send them."""
    request = _SERIALIZER.serialize_to_request(params, operation)
    prepare_request_dict(request, endpoint_url=ENDPOINT)
    prepared = AWSRequest(
        method=request["method"],
        url=request["url"],
        data=request["body"],
        headers=request["headers"],
    ).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    query = parse_qsl(url.query, keep_blank_values=True)
    return prepared.method, url.path, query, prepared.headers, body


def botocore_parse(status: int, headers: list[tuple[str, str]], body: bytes, shape: Any) -> Any:
    """Parse a response the way a boto3 client does."""
    response = {"status_code": status, "headers": HeadersDict(dict(headers)), "body": body}
    return _PARSER.parse(response, shape)
