"""Identifiers the service makes: request ids, event ids, from a per-thread pool of random bytes."""

from __future__ import annotations

import os
import threading
import time


class _RandomPool(threading.local):
    """Bytes of ``os.urandom`` read a few kilobytes at a time (one system call, not one per id)."""

    data = b""
    at = 0


_POOL = _RandomPool()
# A forked child must not hand out the ids its parent will.
os.register_at_fork(after_in_child=lambda: setattr(_POOL, "data", b""))
_VARIANT = {f"{d:x}": f"{(d & 0x3) | 0x8:x}" for d in range(16)}


def _random_hex() -> str:
    """16 random bytes as 32 hex digits."""
    pool = _POOL
    at = pool.at
    if at + 16 > len(pool.data):
        pool.data, at = os.urandom(4096), 0
    pool.at = at + 16
    return pool.data[at : at + 16].hex()


def random_uuid() -> str:
    """A random (version 4) UUID as text, like ``str(uuid.uuid4())`` but cheaper."""
    h = _random_hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def time_ordered_uuid() -> str:
    """A version 7 UUID (RFC 9562) as text: 48 bits of Unix milliseconds, then 74 random bits.

    Ids made later sort later (to the millisecond), so a store's unique index on them grows at
    its right edge: a batch of new events dirties one or two index pages instead of one random
    page each.
    """
    h = _random_hex()
    t = f"{time.time_ns() // 1_000_000:012x}"
    return f"{t[:8]}-{t[8:]}-7{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"
