"""Appending a whole batch of events on SQLite with a few statements (``executemany``).

The group committer hands over every append of a transaction at once (see
:mod:`supplylake.store.sql.append` for the outline, and the outcome each must have). Instead of a savepoint and four statements per event, the batch
reads the live tokens among its own, reads the instances' pending counters once, then claims
the new tokens, moves the counters, and inserts the events and their payloads with multi-row
``INSERT`` statements. The writer holds SQLite's write lock for the whole transaction, so
nothing changes between the reads and the writes, and the ``AUTOINCREMENT`` positions of the
inserted rows are consecutive, in submission order, ending at the last one's.

If anything unexpected fails, the committer rolls the transaction back and runs it again with
every append alone (:func:`supplylake.store.sql.events.append_event`).
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from supplylake.store.base import AppendResult, StoreError
from supplylake.store.codec import ts
from supplylake.store.sql.append import (
    AppendItem,
    BatchedAppend,
    ClaimRaced,
    answer_live_tokens,
    count_against_quota,
)
from supplylake.store.sql.events import INSERT_DATA, INSERT_EVENT, event_row

_CLAIM = (
    "INSERT INTO sl_tokens (scope, token, request_hash, result, expires_at)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, token) DO UPDATE SET"
    " request_hash = excluded.request_hash, result = excluded.result,"
    " expires_at = excluded.expires_at WHERE sl_tokens.expires_at <= ?"
)


def _replay_live_tokens(
    conn: sqlite3.Connection, items: Sequence[AppendItem], fresh: list[int], results: list[Any]
) -> list[int]:
    now = time.time()
    live: dict[tuple[str, str], tuple[str, str]] = {}
    for i in fresh:
        idem = items[i].idem
        if idem is None:
            continue
        row = conn.execute(
            "SELECT request_hash, result FROM sl_tokens"
            " WHERE scope = ? AND token = ? AND expires_at > ?",
            (idem.scope, idem.token, now),
        ).fetchone()
        if row is not None:
            live[(idem.scope, idem.token)] = (row[0], row[1])
    if not live:
        return fresh

    def positions(event_ids: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for event_id in event_ids:
            row = conn.execute(
                "SELECT position FROM sl_events WHERE event_id = ?", (event_id,)
            ).fetchone()
            if row is not None:
                found[event_id] = int(row[0])
        return found

    return answer_live_tokens(items, fresh, live, positions, results)


def _count(
    conn: sqlite3.Connection, items: Sequence[AppendItem], fresh: list[int], results: list[Any]
) -> tuple[list[int], Counter[str]]:
    """Check each append against its instance's quota, in order; the counters to move."""
    instance_ids = sorted({items[i].event.instance_id for i in fresh})
    if not instance_ids:
        return [], Counter()
    if len(instance_ids) == 1 and len({items[i].max_pending for i in fresh}) == 1:
        # The usual batch: one instance, far from its quota. Then one statement counts them all.
        n, limit = len(fresh), items[fresh[0]].max_pending
        if conn.execute(
            "UPDATE sl_instances SET pending = pending + ? WHERE instance_id = ?"
            " AND pending + ? <= ? RETURNING pending",
            (n, instance_ids[0], n, limit),
        ).fetchall():
            return fresh, Counter()
    marks = ", ".join("?" * len(instance_ids))
    pending: dict[str, int] = dict(
        conn.execute(
            f"SELECT instance_id, pending FROM sl_instances WHERE instance_id IN ({marks})",
            instance_ids,
        ).fetchall()
    )
    return count_against_quota(items, fresh, pending, results)


def _insert(
    conn: sqlite3.Connection,
    items: Sequence[AppendItem],
    accepted: list[int],
    added: Counter[str],
    results: list[Any],
) -> None:
    now = time.time()
    claims = [
        (
            idem.scope,
            idem.token,
            idem.request_hash,
            items[i].event.event_id,
            ts(idem.expires_at),
            now,
        )
        for i in accepted
        if (idem := items[i].idem) is not None
    ]
    if claims and conn.executemany(_CLAIM, claims).rowcount != len(claims):
        raise ClaimRaced("a token checked as free was live")
    for instance_id, n in added.items():
        conn.execute(
            "UPDATE sl_instances SET pending = pending + ? WHERE instance_id = ?", (n, instance_id)
        )
    rows = [event_row(items[i].event) for i in accepted]
    inserted, last = _insert_rows(conn, _EVENT_INSERTS, rows)
    if inserted != len(rows):
        raise StoreError("a batch of events was not inserted whole")
    # One writer holds the write lock, so the rows just inserted took consecutive positions,
    # in order, up to the last one's.
    first = last - len(rows) + 1
    payloads = [(first + k, *items[i].stored) for k, i in enumerate(accepted)]
    if _insert_rows(conn, _DATA_INSERTS, payloads)[0] != len(rows):
        raise StoreError("a batch of payloads was not inserted whole")
    for k, i in enumerate(accepted):
        results[i] = AppendResult(event_id=items[i].event.event_id, position=first + k)


class _MultiRow:
    """``INSERT ... VALUES (...), (...)`` texts by number of rows.

    Every statement releases the GIL while SQLite runs it, and the event loop then has to hand
    it back: a few statements per batch (not one per row) keep those hand-overs few, and the
    few dozen texts stay in the connection's statement cache.
    """

    def __init__(self, single: str) -> None:
        head, _, row = single.partition(" VALUES ")
        self._head = head + " VALUES "
        self._row = row
        self._texts: dict[int, str] = {}

    def text(self, rows: int) -> str:
        found = self._texts.get(rows)
        if found is None:
            found = self._texts[rows] = self._head + ", ".join([self._row] * rows)
        return found


#: Batches up to this many rows take one statement of their exact size; larger ones take one
#: per power of two. SQLite allows 32,766 parameters per statement: 1,024 rows of 10 at most.
_EXACT_ROWS = 32
_MAX_ROWS = 1024
_EVENT_INSERTS = _MultiRow(INSERT_EVENT)
_DATA_INSERTS = _MultiRow(INSERT_DATA)


def _insert_rows(
    conn: sqlite3.Connection, statements: _MultiRow, rows: list[tuple[Any, ...]]
) -> tuple[int, int]:
    """Insert ``rows`` in order with a few statements: how many went in, the last rowid."""
    done = inserted = last = 0
    while done < len(rows):
        left = len(rows) - done
        size = left if left <= _EXACT_ROWS else min(_MAX_ROWS, 1 << (left.bit_length() - 1))
        chunk = rows[done : done + size]
        cur = conn.execute(statements.text(size), [v for row in chunk for v in row])
        inserted += cur.rowcount
        last = cur.lastrowid if cur.lastrowid is not None else last  # set by every INSERT
        done += size
    return inserted, last


class SqliteAppend(BatchedAppend[sqlite3.Connection]):
    """The batched append on the SQLite writer connection."""

    replay_live_tokens = staticmethod(_replay_live_tokens)
    count = staticmethod(_count)
    insert = staticmethod(_insert)

    def savepoint(self, conn: sqlite3.Connection, statement: str) -> None:
        conn.execute(statement)
