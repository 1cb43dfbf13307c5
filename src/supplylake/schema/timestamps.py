"""Timestamps in record data: which values are accepted, and their conversion to Arrow.

Accepted, as ISO 8601 text: ``YYYY-MM-DD``, optionally followed by ``T`` or a space and
``HH:MM``, ``HH:MM:SS`` or ``HH:MM:SS.f`` (1 to 6 fraction digits), optionally followed by ``Z``
or ``±HH:MM``; the date and time must exist. Without an offset a timestamp is UTC. Or as Unix
epoch milliseconds, a JSON integer or a string of ASCII digits, from 0 (1970-01-01T00:00:00Z) to
the last millisecond of the year 9999, the last moment an ISO timestamp can name. Values are
Arrow ``timestamp('us', 'UTC')``.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from itertools import repeat
from typing import Any

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")
_NAIVE_TIMESTAMP = pa.timestamp("us")
#: 9999-12-31T23:59:59.999Z in epoch milliseconds: the last moment ISO 8601 text can name.
EPOCH_MS_MAX = 253_402_300_799_999
_EPOCH_MS_DIGITS = len(str(EPOCH_MS_MAX))


def _layouts() -> frozenset[bytes]:
    # Every accepted spelling with its digits written as 0: 65 layouts in all.
    times = ["00:00", "00:00:00"] + ["00:00:00." + "0" * n for n in range(1, 7)]
    zones = ["", "Z", "+00:00", "-00:00"]
    tails = [sep + t + z for sep in "T " for t in times for z in zones]
    return frozenset(("0000-00-00" + tail).encode() for tail in ["", *tails])


_LAYOUTS = _layouts()
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")


def timestamps_ok(values: list[str]) -> bool:
    """Whether every string is an accepted timestamp; one pass of C loops over the batch."""
    if not values:
        return True
    try:
        joined = "\n".join(values)
    except TypeError:  # a value that is no string
        return False
    if not joined.isascii():
        return False
    # fromisoformat alone would also take forms we do not (week dates, basic format, any
    # separator, more than six fraction digits, which it truncates), so the layout comes first.
    layouts = joined.encode().translate(_DIGITS_AS_ZERO)
    end = layouts.find(b"\n")
    first = layouts if end < 0 else layouts[:end]
    # Mostly every value is spelled alike: then one comparison of bytes checks them all.
    if not (
        first in _LAYOUTS and layouts == b"\n".join(repeat(first, len(values)))
    ) and not _LAYOUTS.issuperset(layouts.split(b"\n")):
        return False
    try:
        deque(map(datetime.fromisoformat, values), maxlen=0)
    except ValueError:
        return False
    return True


def timestamp_ok(value: Any) -> bool:
    """Whether ``value`` is an accepted ISO 8601 timestamp string."""
    return type(value) is str and timestamps_ok([value])


def epoch_ms(value: Any) -> int | None:
    """The epoch milliseconds ``value`` gives (a JSON integer or a string of ASCII digits in
    range), or None."""
    kind = type(value)
    if kind is int:
        return value if 0 <= value <= EPOCH_MS_MAX else None
    if kind is not str or not (value.isascii() and value.isdigit()):
        return None
    significant = value.lstrip("0")
    if len(significant) > _EPOCH_MS_DIGITS:
        return None
    ms = int(significant or "0")
    return ms if ms <= EPOCH_MS_MAX else None


def timestamp_value_ok(value: Any) -> bool:
    """Whether a JSON value is an accepted timestamp, in any of its forms."""
    return epoch_ms(value) is not None or timestamp_ok(value)


def timestamp_values_ok(values: list[Any]) -> bool:
    """Whether every JSON value is an accepted timestamp, in any of its forms.

    ISO text alone, the usual case, is checked by `timestamps_ok` in one pass; epoch
    milliseconds are picked out only when that fails.
    """
    if timestamps_ok(values):
        return True
    iso = [v for v in values if epoch_ms(v) is None]
    return len(iso) < len(values) and timestamps_ok(iso)


def timestamp_array(values: list[str | None] | pa.Array) -> pa.Array:
    """Accepted timestamp strings (or None), a list or an Arrow string array, as an Arrow array
    of UTC microseconds."""
    # Arrow parses a column in C when all its values carry an offset, or none does (UTC).
    # Try first what the first value suggests: a failed cast costs more than a good one.
    if isinstance(values, pa.Array):
        strings = values
        valid = strings.drop_null()
        first = valid[0].as_py() if len(valid) else None
    else:
        strings = pa.array(values, pa.string())
        first = next((v for v in values if v is not None), None)
    casts = [_zoned_cast, _naive_cast]
    if first is not None and not _has_offset(first):
        casts.reverse()
    for cast in casts:
        try:
            return cast(strings)
        except pa.ArrowInvalid:
            pass
    # Offsets on some values only: parsed one by one.
    fromisoformat = datetime.fromisoformat
    texts = strings.to_pylist()
    return pa.array([v if v is None else fromisoformat(v) for v in texts], TIMESTAMP)


def _has_offset(value: str) -> bool:
    return value[-1] == "Z" or (len(value) > 16 and value[-6] in "+-")


def _zoned_cast(strings: pa.Array) -> pa.Array:
    return strings.cast(TIMESTAMP)


def _naive_cast(strings: pa.Array) -> pa.Array:
    return strings.cast(_NAIVE_TIMESTAMP).cast(TIMESTAMP)
