"""Turn a rest-json request (uri labels, query, headers, JSON body) into snake_case input params."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import orjson

from supplylake.aws.errors import ValidationException
from supplylake.aws.scalars import (
    JSON_SCALARS,
    Convert,
    Mismatch,
    document,
    split_header,
    text_converter,
    timestamp,
)
from supplylake.aws.shapes import Member, is_sensitive, members
from supplylake.aws.validation import Violation, hidden, validation_error

Query = Iterable[tuple[str, str]] | Mapping[str, Any]


def parse_request(
    operation: Any,
    uri_params: Mapping[str, str],
    query: Query,
    headers: Mapping[str, str],
    body: bytes,
) -> dict[str, Any]:
    """The operation's input as a dict with snake_case keys (values typed per the model)."""
    plan = _plan(operation)
    params: dict[str, Any] = {}
    member: Member | None = None
    try:
        for member, convert in plan.uri:
            raw = uri_params.get(member.wire)
            if raw is not None:
                params[member.snake] = convert(raw)
        if plan.query:
            multi = _multi(query)
            for member, convert in plan.query:
                if member.shape.type_name == "map":
                    claimed = plan.query_names
                    rest = {k: v for k, v in multi.items() if k not in claimed}
                    if rest:
                        params[member.snake] = convert(rest)
                elif member.wire in multi:
                    params[member.snake] = convert(multi[member.wire])
        for member, convert in plan.headers:
            if member.location == "headers":
                prefix = member.wire.lower()
                found = {
                    k[len(prefix) :]: v for k, v in headers.items() if k.lower().startswith(prefix)
                }
                if found:
                    params[member.snake] = found
            else:
                raw = headers.get(member.wire) or headers.get(member.wire.lower())
                if raw is not None:
                    params[member.snake] = convert(raw)
        member = None
        if plan.payload is not None:
            member, convert = plan.payload
            value = convert(body)
            if value is not None:
                params[member.snake] = value
        elif plan.body is not None:
            params.update(plan.body(_json_object(body)))
    except Mismatch as e:
        if member is not None:
            e.segments.append(member.name)
            e.sensitive = e.sensitive or is_sensitive(member.shape)
        path = ".".join(reversed(e.segments))
        value = hidden(e.sensitive, e.value)
        raise validation_error([Violation(path, e.constraint, value)]) from None
    return params


def _json_object(body: bytes) -> Any:
    if not body or body.isspace():
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationException("Request body is not valid UTF-8") from None
        raise ValidationException(f"Could not parse request body into json: {e}") from None
    if not isinstance(value, dict):
        raise ValidationException("Request body must be a JSON object")
    return value


def _multi(query: Query) -> dict[str, list[str]]:
    """Query parameters as name -> all values, from pairs, a multidict or a plain mapping."""
    multi: dict[str, list[str]] = {}
    if isinstance(query, Mapping):
        items = getattr(query, "multi_items", None)  # starlette's QueryParams keeps repeats here
        if items is not None:
            for k, v in items():
                multi.setdefault(k, []).append(v)
        else:
            for k, v in query.items():
                multi[k] = list(v) if isinstance(v, list | tuple) else [v]
    else:
        for k, v in query:
            multi.setdefault(k, []).append(v)
    return multi


# ---- plans: what to read from where, built once per operation -------------------------------


class _Plan(NamedTuple):
    uri: tuple[tuple[Member, Convert], ...]
    query: tuple[tuple[Member, Convert], ...]
    query_names: frozenset[str]
    headers: tuple[tuple[Member, Convert], ...]
    body: Convert | None  # converts the JSON object holding the body members
    payload: tuple[Member, Convert] | None  # a member that is the whole body


_PLANS: dict[str, _Plan] = {}


def prepare(operation: Any) -> None:
    """Build the operation's plan now (at start-up) rather than on its first request."""
    _plan(operation)


def _plan(operation: Any) -> _Plan:
    plan = _PLANS.get(operation.name)
    if plan is None:
        plan = _PLANS[operation.name] = _build_plan(operation.input_shape)
    return plan


def _build_plan(shape: Any) -> _Plan:
    if shape is None:
        return _Plan((), (), frozenset(), (), None, None)
    all_members = members(shape)
    uri = tuple((m, text_converter(m.shape)) for m in all_members if m.location == "uri")
    query = tuple(
        (m, _query_converter(m.shape)) for m in all_members if m.location == "querystring"
    )
    headers = tuple(
        (m, _header_converter(m.shape)) for m in all_members if m.location in ("header", "headers")
    )
    payload_name = shape.serialization.get("payload")
    payload = None
    body = None
    if payload_name is not None:
        member = next(m for m in all_members if m.name == payload_name)
        payload = (member, _payload_converter(member.shape))
    else:
        in_body = tuple(m for m in all_members if m.location is None)
        if in_body:
            body = _Struct(in_body).parse
    names = frozenset(m.wire for m, _ in query if m.shape.type_name != "map")
    return _Plan(uri, query, names, headers, body, payload)


def _payload_converter(shape: Any) -> Convert:
    if shape.type_name == "blob":
        return lambda body: body
    if shape.type_name == "string":
        return lambda body: _utf8(body)
    convert = _json_converter(shape)
    return lambda body: convert(_json_object(body)) if body.strip() else None


def _utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationException("Request body is not valid UTF-8") from None


# ---- JSON body values ------------------------------------------------------------------------

_JSON: dict[str, Convert] = {}


def _json_converter(shape: Any) -> Convert:
    """Checks and converts a decoded JSON value of this shape (cached per shape name)."""
    kind = shape.type_name
    if kind == "timestamp":
        return timestamp  # any wire format is accepted, so member-level formats do not matter
    found = _JSON.get(shape.name)
    if found is not None:
        return found
    if kind == "structure" and not shape.metadata.get("document"):
        struct = _Struct()  # registered first so that recursive shapes terminate
        _JSON[shape.name] = struct
        struct.build(members(shape))
        return struct
    if kind == "list":
        found = _list(_json_converter(shape.member))
    elif kind == "map":
        found = _map(_json_converter(shape.value))
    else:
        found = JSON_SCALARS.get(kind, document)
    _JSON[shape.name] = found
    return found


class _Struct:
    """Reads a JSON object of a structure shape: one function generated from the model per shape.

    The generated function reads each member in place (a string member, the most common, passes
    without a call) instead of looping over a table of members and calling a converter for each.
    """

    __slots__ = ("members", "parse")

    def __init__(self, of: tuple[Member, ...] | None = None) -> None:
        if of is not None:
            self.build(of)

    def build(self, of: tuple[Member, ...]) -> None:
        self.members = tuple(
            (m.wire, m.snake, m.name, is_sensitive(m.shape), _json_converter(m.shape)) for m in of
        )
        self.parse = _generate(self.members)

    def __call__(self, value: Any) -> dict[str, Any]:
        return self.parse(value)


def _generate(
    struct_members: tuple[tuple[str, str, str, bool, Convert], ...],
) -> Callable[[Any], dict[str, Any]]:
    """Python source reading a structure's members, compiled once (the members come from the
    model only)."""
    names: dict[str, Any] = {"Mismatch": Mismatch, "_located": _located}
    lines = [
        "def parse(value):",
        "    if type(value) is not dict:",
        "        raise Mismatch('Member must be a structure (JSON object)', value)",
        "    out = {}",
        "    get = value.get",
    ]
    for i, (wire, snake, name, sensitive, convert) in enumerate(struct_members):
        names[f"c{i}"] = convert
        # JSON null means absent, as in botocore.
        lines.append(f"    item = get({wire!r})")
        lines.append("    if item is not None:")
        indent = "        "
        if convert is JSON_SCALARS["string"]:
            # A string passes as it is; anything else goes to the converter, which says why not.
            lines.append("        if type(item) is str:")
            lines.append(f"            out[{snake!r}] = item")
            lines.append("        else:")
            indent += "    "
        lines.append(f"{indent}try:")
        lines.append(f"{indent}    out[{snake!r}] = c{i}(item)")
        lines.append(f"{indent}except Mismatch as e:")
        lines.append(f"{indent}    raise _located(e, {name!r}, {sensitive!r})")
    lines.append("    return out")
    exec(compile("\n".join(lines) + "\n", "<parser of a structure>", "exec"), names)
    parse: Callable[[Any], dict[str, Any]] = names["parse"]
    return parse


def _located(e: Mismatch, name: str, sensitive: bool) -> Mismatch:
    """``e`` with the member it happened in added to its path."""
    e.segments.append(name)
    e.sensitive = e.sensitive or sensitive
    return e


def _list(convert: Convert) -> Convert:
    def parse(value: Any) -> list[Any]:
        if type(value) is not list:
            raise Mismatch("Member must be a list (JSON array)", value)
        out = []
        for i, item in enumerate(value, 1):
            try:
                if item is None:
                    raise Mismatch("Member must not be null", None)
                out.append(convert(item))
            except Mismatch as e:
                e.segments.append(f"{i}.member")
                raise
        return out

    return parse


def _map(convert: Convert) -> Convert:
    def parse(value: Any) -> dict[str, Any]:
        if type(value) is not dict:
            raise Mismatch("Member must be a map (JSON object)", value)
        out = {}
        for key, item in value.items():
            try:
                if item is None:
                    raise Mismatch("Member must not be null", None)
                out[key] = convert(item)
            except Mismatch as e:
                e.segments.append(key)
                raise
        return out

    return parse


def _query_converter(shape: Any) -> Convert:
    """Converts the list of values a query parameter arrived with."""
    if shape.type_name == "list":
        element = text_converter(shape.member)
        return lambda values: [element(v) for v in values]
    if shape.type_name == "map":
        value = shape.value
        if value.type_name == "list":
            element = text_converter(value.member)
            return lambda rest: {k: [element(v) for v in vs] for k, vs in rest.items()}
        single = text_converter(value)
        return lambda rest: {k: single(vs[0]) for k, vs in rest.items()}
    convert = text_converter(shape)
    return lambda values: convert(values[0])  # a repeated scalar parameter: the first one counts


def _header_converter(shape: Any) -> Convert:
    if shape.type_name == "list":
        element = text_converter(shape.member)
        return lambda text: [element(v) for v in split_header(text)]
    return text_converter(shape)
