"""Shared token buckets: the per-instance rate limit that every API process draws from.

A bucket is one row (its level and when it was last taken from). A take runs in a write
transaction, and the store's writers are serialized (SQLite's write lock; on PostgreSQL the
writers' advisory lock every write transaction starts with), so reading the row and writing it
back needs no row lock.
"""

from __future__ import annotations

import math

from supplylake.store.sql.connection import Connection


def take_tokens(
    conn: Connection, bucket: str, wanted: int, rate: float, burst: float, at: float
) -> int:
    row = conn.execute("SELECT level, at FROM sl_buckets WHERE name = ?", (bucket,)).fetchone()
    if row is None:
        level, last = burst, at
    else:
        # A clock behind the last take (another machine's) refills nothing and moves nothing back.
        last = max(float(row[1]), at)
        level = min(burst, float(row[0]) + (last - float(row[1])) * rate)
    granted = max(0, min(wanted, math.floor(level)))
    conn.execute(
        "INSERT INTO sl_buckets (name, level, at) VALUES (?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET level = excluded.level, at = excluded.at",
        (bucket, level - granted, last),
    )
    return granted
