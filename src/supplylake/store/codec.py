"""How the SQL backends keep values in columns: timestamps, schemas, tuples and event payloads.

Timestamps are seconds since the epoch (a float64 sorts and compares the same on both engines),
schemas and tuples are JSON text.

Large event payloads are packed with LZ4, small ones kept as text. A large payload as text fills
many pages of SQLite's WAL, written twice (once to the WAL, again when the WAL is copied into the
database); packed, the JSON of an ERP extract is several times smaller. LZ4 rather than zstd:
zstd packs smaller, but packs and unpacks several times slower, and the loader, which unpacks
every payload, felt the difference. PostgreSQL gains too: it would compress large text with
pglz, in the server, slower still.

``sl_event_data`` holds either ``data`` (the text; packed is NULL) or ``packed`` (data is ''):
a byte naming the codec (1: an LZ4 frame), the 8-byte little-endian length of the UTF-8 text,
then the packed text.
"""

from __future__ import annotations

import struct
import threading
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from supplylake.schema.types import DatasetSchema, Field, FieldType, PartitionField, Transform


# -- timestamps, schemas, tuples ------------------------------------------------------------
def ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def dt_req(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def schema_to_json(schema: DatasetSchema) -> str:
    return orjson.dumps(
        {
            "name": schema.name,
            "fields": [[f.name, f.type.value, f.required] for f in schema.fields],
            "primary_keys": list(schema.primary_keys),
            "partition_spec": [[p.name, p.transform.value] for p in schema.partition_spec],
        }
    ).decode()


def schema_from_json(text: str) -> DatasetSchema:
    raw: dict[str, Any] = orjson.loads(text)
    return DatasetSchema(
        name=raw["name"],
        fields=tuple(Field(n, FieldType(t), bool(r)) for n, t, r in raw["fields"]),
        primary_keys=tuple(raw["primary_keys"]),
        partition_spec=tuple(PartitionField(n, Transform(t)) for n, t in raw["partition_spec"]),
    )


def tuple_to_json(values: tuple[str, ...]) -> str:
    return orjson.dumps(list(values)).decode()


def tuple_from_json(text: str) -> tuple[str, ...]:
    return tuple(orjson.loads(text))


# -- event payloads -------------------------------------------------------------------------
#: Payloads of at least this many characters are packed (smaller ones gain a page at most).
PACK_FROM = 16 * 1024

#: A payload as stored: (data, packed).
Stored = tuple[str, bytes | None]

_HEADER = struct.Struct("<BQ")  # codec, length of the text in bytes
_LZ4 = 1


class _Codecs(threading.local):
    """An LZ4 codec per thread."""

    def __init__(self) -> None:
        self.lz4 = pa.Codec("lz4")


_CODECS = _Codecs()


def pack(data: str) -> Stored:
    """``data`` as stored: packed when it is large."""
    if len(data) < PACK_FROM:
        return (data, None)
    raw = data.encode()
    return ("", _HEADER.pack(_LZ4, len(raw)) + _CODECS.lz4.compress(raw, asbytes=True))


def unpack(data: str | None, packed: bytes | memoryview | None) -> str | None:
    """The payload stored as (``data``, ``packed``); None when neither was read."""
    if packed is None:
        return data
    view = memoryview(packed)
    codec, length = _HEADER.unpack_from(view)
    if codec != _LZ4:
        raise ValueError(f"a stored payload names codec {codec}, unknown to this supplylake")
    raw = _CODECS.lz4.decompress(view[_HEADER.size :], decompressed_size=length, asbytes=True)
    return raw.decode()  # type: ignore[no-any-return]
