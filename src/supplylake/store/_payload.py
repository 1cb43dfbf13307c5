"""Event payloads as the stores keep them: large ones packed with LZ4, small ones as text.

A 1 MiB payload as text filled 64 pages of 16 KiB in SQLite's WAL (two writes each), then as
many again when the WAL was copied into the database: 323 MB/s written to disk at 160 such
events/s. Packed, the JSON of an ERP extract is 3 to 5 times smaller. LZ4 rather than zstd:
zstd level 1 packs about twice as small, but takes 1.4 ms per MiB to pack and 0.46 ms to
unpack against LZ4's 1.1 and 0.14, and the loader, which unpacks every payload, felt the
difference (APPEND 7% slower with zstd). PostgreSQL gains too: it compressed large text with
pglz, in the server, slower still.

``sl_event_data`` holds either ``data`` (the text; packed is NULL) or ``packed`` (data is ''):
a byte naming the codec (1: an LZ4 frame), the 8-byte little-endian length of the UTF-8 text,
then the packed text.
"""

from __future__ import annotations

import struct
import threading

import pyarrow as pa

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
