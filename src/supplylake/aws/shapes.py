"""Per-shape member tables (wire name, snake_case name, location), computed once per shape.

This module and the plans in router, parser, validation and serializer cache by shape and
operation name: they assume one service model per process (the ``supplychain`` one).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from botocore import xform_name


class Member(NamedTuple):
    """One member of a structure shape, with the names each side of the wire uses."""

    name: str  # the model's member name, camelCase; also the path used in error messages
    snake: str  # the key the rest of supplylake uses
    wire: str  # the JSON key, header name or query/uri label (the member's locationName)
    location: str | None  # None for the JSON body
    required: bool
    shape: Any  # botocore Shape of the member (carries member-level serialization)


# Keyed by shape name: the service model has one definition per name, and botocore builds fresh
# Shape objects on every traversal, so identity would never hit.
_MEMBERS: dict[str, tuple[Member, ...]] = {}


def members(shape: Any) -> tuple[Member, ...]:
    """The members of a structure shape (cached per shape name)."""
    found = _MEMBERS.get(shape.name)
    if found is None:
        required = set(shape.required_members)
        found = tuple(
            Member(
                name=name,
                snake=xform_name(name),
                wire=member.serialization.get("name", name),
                location=member.serialization.get("location"),
                required=name in required,
                shape=member,
            )
            for name, member in shape.members.items()
        )
        _MEMBERS[shape.name] = found
    return found


def is_sensitive(shape: Any) -> bool:
    """Whether values of this shape must never be echoed (``sensitive`` trait)."""
    return bool(shape.metadata.get("sensitive", False))
