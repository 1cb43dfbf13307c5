"""The records of a data-integration event's ``data``: a JSON object, or an array of objects.

Records are numbered from 0, as array indexes, in every message about them.
"""

from __future__ import annotations

from typing import Any

import orjson

from supplylake.schema.errors import RecordError, RecordFailure, describe


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
            f"Invalid data: expected a JSON object or an array of objects, got {describe(value)}"
        )
    if not value:
        raise RecordError("Invalid data: data must contain at least one record")
    if not all(type(r) is dict for r in value):
        raise RecordError.from_failures(
            [
                RecordFailure(i, None, "not_object", f"expected a JSON object, got {describe(r)}")
                for i, r in enumerate(value)
                if type(r) is not dict
            ]
        )
    return value
