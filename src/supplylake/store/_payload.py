"""Event payloads as the stores keep them: large ones packed with zstd, small ones as text.

A 1 MiB payload as text filled 64 pages of 16 KiB in SQLite's WAL (two writes each), then as
many again when the WAL was copied into the database: ~3.7 ms of system time per event, a third
of what a 1 MiB event cost. Packed (zstd level 1, ~1.4 ms per MiB on its own thread) the JSON of
an ERP extract is 3 to 8 times smaller. PostgreSQL gains too: it compressed large text with
pglz, in the server, slower still.

``sl_event_data`` holds either ``data`` (the text; packed is NULL) or ``packed`` (data is ''):
the 8-byte little-endian length of the UTF-8 text, then one zstd frame of it.
"""

from __future__ import annotations

import struct
import threading

import pyarrow as pa

#: Payloads of at least this many characters are packed (smaller ones gain a page at most).
PACK_FROM = 16 * 1024

#: A payload as stored: (data, packed).
Stored = tuple[str, bytes | None]

_LENGTH = struct.Struct("<Q")


class _Codecs(threading.local):
    """A zstd codec per thread."""

    def __init__(self) -> None:
        self.zstd = pa.Codec("zstd", compression_level=1)


_CODECS = _Codecs()


def pack(data: str) -> Stored:
    """``data`` as stored: packed when it is large."""
    if len(data) < PACK_FROM:
        return (data, None)
    raw = data.encode()
    return ("", _LENGTH.pack(len(raw)) + _CODECS.zstd.compress(raw, asbytes=True))


def unpack(data: str | None, packed: bytes | memoryview | None) -> str | None:
    """The payload stored as (``data``, ``packed``); None when neither was read."""
    if packed is None:
        return data
    view = memoryview(packed)
    (length,) = _LENGTH.unpack_from(view)
    raw = _CODECS.zstd.decompress(view[_LENGTH.size :], decompressed_size=length, asbytes=True)
    return bytes(raw).decode()
