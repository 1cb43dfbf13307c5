"""Server-side constraint checks (required, length, pattern, enum, range), worded the AWS way."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from supplylake.aws.errors import ValidationException
from supplylake.aws.shapes import is_sensitive, members

#: How many violations one message lists; the count in front still says how many there were.
MAX_REPORTED = 10
#: Echoed values are cut to this many characters.
MAX_ECHO = 100

_HIDDEN = object()  # value of a violation whose value must not be shown


class Violation(NamedTuple):
    """One failed constraint at a camelCase wire path such as ``datasetTarget.operationType``."""

    path: str
    constraint: str
    value: Any = _HIDDEN  # None shows as "null"; leave unset for sensitive or composite values


def hidden(sensitive: bool, value: Any) -> Any:
    """The value to report for a member: hidden when sensitive or not a scalar."""
    if sensitive or isinstance(value, dict | list | tuple | set | bytes):
        return _HIDDEN
    return value


def validation_error(violations: Sequence[Violation]) -> ValidationException:
    """One ValidationException listing the violations in AWS's wording."""
    count = len(violations)
    shown = "; ".join(_describe(v) for v in violations[:MAX_REPORTED])
    noun = "error" if count == 1 else "errors"
    return ValidationException(f"{count} validation {noun} detected: {shown}")


def _describe(v: Violation) -> str:
    if v.value is _HIDDEN:
        value = "Value"
    elif v.value is None:
        value = "Value null"
    else:
        text = str(v.value).lower() if isinstance(v.value, bool) else str(v.value)
        if len(text) > MAX_ECHO:
            text = text[:MAX_ECHO] + "..."
        value = f"Value '{text}'"
    return f"{value} at '{v.path}' failed to satisfy constraint: {v.constraint}"


def validate(shape: Any, params: dict[str, Any]) -> None:
    """Check snake_case ``params`` against the constraints of a structure shape."""
    if shape is None:  # an operation without input
        return
    violations: list[Violation] = []
    _validator(shape)(params, "", violations, False)
    if violations:
        raise validation_error(violations)


def prepare(shape: Any) -> None:
    """Generate the checks of an input shape now (at start-up) rather than on its first request."""
    if shape is not None:
        _validator(shape)


# (value, path of the value, violations out, inside a sensitive shape)
_Check = Callable[[Any, str, list[Violation], bool], None]
# the constraints a scalar value breaks
_Scalar = Callable[[Any], list[str]]

_VALIDATORS: dict[str, _Check | None] = {}


def _validator(shape: Any) -> _Check:
    check = _child(shape)
    return check if check is not None else _nothing


def _nothing(value: Any, path: str, out: list[Violation], sensitive: bool) -> None:
    return None


def _child(shape: Any) -> _Check | None:
    """The check for a shape, or None when no value of it can fail (cached per shape name)."""
    if shape.name in _VALIDATORS:
        return _VALIDATORS[shape.name]
    kind = shape.type_name
    if kind == "structure":
        # Registered before its members are built so that recursive shapes terminate.
        struct = _Struct()
        _VALIDATORS[shape.name] = struct
        struct.build(shape)
        return struct
    check: _Check | None
    if kind == "list":
        check = _list_check(shape)
    elif kind == "map":
        check = _map_check(shape)
    else:
        check = _leaf_check(shape)
    _VALIDATORS[shape.name] = check
    return check


class _Struct:
    """The check of a structure shape: one function generated from the model per shape.

    Calling a closure per member, and formatting each member's path whether or not it fails,
    cost more than the checks themselves. The generated function tests each member inline
    (presence, then length or range, pattern, enum, in the order AWS reports them) and builds a
    path only for a violation; members that are lists, maps or structures call their own check.
    """

    __slots__ = ("check", "sensitive")

    def build(self, shape: Any) -> None:
        self.sensitive = is_sensitive(shape)
        self.check = _generate(shape, self.sensitive)

    def __call__(self, value: Any, path: str, out: list[Violation], sensitive: bool) -> None:
        self.check(value, path, out, sensitive)


def _generate(shape: Any, struct_sensitive: bool) -> _Check:
    """Python source for a structure's check, compiled once (shapes come from the model only)."""
    names: dict[str, Any] = {"Violation": Violation, "hidden": hidden}
    lines = ["def check(value, path, out, sensitive):"]
    if struct_sensitive:
        lines.append("    sensitive = True")
    lines.append("    get = value.get")

    def const(value: Any) -> str:
        name = f"k{len(names)}"
        names[name] = value
        return name

    for m in members(shape):
        where = f"path + {m.name!r}"
        shown = "hidden(True, v)" if is_sensitive(m.shape) else "hidden(sensitive, v)"
        body = _inline_leaf(m.shape, where, shown, const)
        if body is None:
            inner = _member_check(m.shape)
            flag = "True" if is_sensitive(m.shape) else "sensitive"
            body = [] if inner is None else [f"{const(inner)}(v, {where}, out, {flag})"]
        if not body and not m.required:
            continue  # nothing of this member can fail
        lines.append(f"    v = get({m.snake!r})")
        if m.required:
            lines.append("    if v is None:")
            lines.append(f"        out.append(Violation({where}, 'Member must not be null', None))")
            if body:
                lines.append("    else:")
        else:
            lines.append("    if v is not None:")
        lines.extend(f"        {line}" for line in body)
    source = "\n".join(lines) + "\n"
    exec(compile(source, f"<validation of {shape.name}>", "exec"), names)
    generated: _Check = names["check"]
    return generated


def _inline_leaf(
    shape: Any, where: str, shown: str, const: Callable[[Any], str]
) -> list[str] | None:
    """Statements checking a scalar member ``v`` in place, or None if it is not a scalar."""
    kind = shape.type_name
    meta = shape.metadata
    if kind in ("string", "blob"):
        measure, what = "n", "length"
    elif kind in ("integer", "long", "float", "double"):
        measure, what = "v", "value"
    elif kind in _COMPOSITE:
        return None
    else:
        return []
    body: list[str] = []
    low, high = meta.get("min"), meta.get("max")
    too_small, too_big = _bound_messages(low, high, what)
    bounds = []
    if low is not None:
        bounds.append((f"{measure} < {low!r}", too_small))
    if high is not None:
        bounds.append((f"{measure} > {high!r}", too_big))
    if bounds and measure == "n":
        body.append("n = len(v)")
    for i, (test, message) in enumerate(bounds):
        keyword = "if" if i == 0 else "elif"
        body.append(f"{keyword} {test}:")
        body.append(f"    out.append(Violation({where}, {message!r}, {shown}))")
    if kind == "string" and "pattern" in meta:
        regex = const(_compiled(meta["pattern"]).fullmatch)
        message = _pattern_message(meta["pattern"])
        body.append(f"if {regex}(v) is None:")
        body.append(f"    out.append(Violation({where}, {const(message)}, {shown}))")
    if kind == "string" and shape.enum:
        allowed = const(frozenset(shape.enum))
        message = _enum_message(shape.enum)
        body.append(f"if v not in {allowed}:")
        body.append(f"    out.append(Violation({where}, {const(message)}, {shown}))")
    return body


def _member_check(shape: Any) -> _Check | None:
    # A structure's member check receives the member's full path; containers below it add to it.
    check = _child(shape)
    if check is None or shape.type_name != "structure":
        return check
    inner = check

    def nested(value: Any, path: str, out: list[Violation], sensitive: bool) -> None:
        inner(value, f"{path}.", out, sensitive)

    return nested


def _leaf_check(shape: Any) -> _Check | None:
    scalar = _scalar(shape)
    if scalar is None:
        return None

    def leaf(value: Any, path: str, out: list[Violation], sensitive: bool) -> None:
        for constraint in scalar(value):
            out.append(Violation(path, constraint, hidden(sensitive, value)))

    return leaf


def _list_check(shape: Any) -> _Check | None:
    size = _size_constraints(shape.metadata)
    element = _member_check(shape.member)
    if size is None and element is None:
        return None

    def check(value: Any, path: str, out: list[Violation], sensitive: bool) -> None:
        if size is not None:
            for constraint in size(len(value)):
                out.append(Violation(path, constraint))
        if element is not None:
            for i, item in enumerate(value, 1):
                element(item, f"{path}.{i}.member", out, sensitive)

    return check


def _map_check(shape: Any) -> _Check | None:
    size = _size_constraints(shape.metadata)
    key = _scalar(shape.key)
    value_leaf = _scalar(shape.value) if shape.value.type_name not in _COMPOSITE else None
    value_nested = _member_check(shape.value) if shape.value.type_name in _COMPOSITE else None
    if size is None and key is None and value_leaf is None and value_nested is None:
        return None
    value_sensitive = is_sensitive(shape.value)

    def check(value: Any, path: str, out: list[Violation], sensitive: bool) -> None:
        if size is not None:
            for constraint in size(len(value)):
                out.append(Violation(path, constraint))
        for k, v in value.items():
            if key is not None:
                for constraint in key(k):
                    msg = f"Map keys must satisfy constraint: [{constraint}]"
                    out.append(Violation(path, msg, hidden(sensitive, k)))
            if value_leaf is not None:
                for constraint in value_leaf(v):
                    msg = f"Map value must satisfy constraint: [{constraint}]"
                    out.append(Violation(path, msg, hidden(sensitive or value_sensitive, v)))
            elif value_nested is not None:
                value_nested(v, f"{path}.{k}", out, sensitive)

    return check


_COMPOSITE = frozenset({"structure", "list", "map"})


def _scalar(shape: Any) -> _Scalar | None:
    kind = shape.type_name
    meta = shape.metadata
    if kind in ("string", "blob"):
        checks: list[_Scalar] = []
        length = _size_constraints(meta)
        if length is not None:
            checks.append(lambda v: length(len(v)))
        if kind == "string" and "pattern" in meta:
            checks.append(_pattern_check(meta["pattern"]))
        if kind == "string" and shape.enum:
            checks.append(_enum_check(shape.enum))
        if not checks:
            return None
        if len(checks) == 1:
            return checks[0]
        return lambda v: [c for check in checks for c in check(v)]
    if kind in ("integer", "long", "float", "double"):
        return _range_check(meta.get("min"), meta.get("max"), "value")
    return None


def _size_constraints(meta: dict[str, Any]) -> Callable[[int], list[str]] | None:
    return _range_check(meta.get("min"), meta.get("max"), "length")


def _range_check(low: Any, high: Any, what: str) -> Callable[[Any], list[str]] | None:
    if low is None and high is None:
        return None
    too_small, too_big = _bound_messages(low, high, what)

    def check(n: Any) -> list[str]:
        if low is not None and n < low:
            return [too_small]
        if high is not None and n > high:
            return [too_big]
        return []

    return check


def _bound_messages(low: Any, high: Any, what: str) -> tuple[str, str]:
    return (
        f"Member must have {what} greater than or equal to {low}",
        f"Member must have {what} less than or equal to {high}",
    )


def _pattern_message(pattern: str) -> str:
    return f"Member must satisfy regular expression pattern: {pattern}"


def _enum_message(values: list[str]) -> str:
    return f"Member must satisfy enum value set: [{', '.join(values)}]"


def _pattern_check(pattern: str) -> _Scalar:
    # The model's patterns come without anchors; AWS matches them against the whole value.
    regex = _compiled(pattern)
    constraint = _pattern_message(pattern)
    return lambda v: [] if regex.fullmatch(v) else [constraint]


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    found = _PATTERNS.get(pattern)
    if found is None:
        found = _PATTERNS[pattern] = re.compile(pattern)
    return found


def _enum_check(values: list[str]) -> _Scalar:
    allowed = frozenset(values)
    constraint = _enum_message(values)
    return lambda v: [] if v in allowed else [constraint]
