"""Appending a whole batch of events on PostgreSQL in a few statements.

The group committer hands over every append of a transaction at once. Instead of a savepoint
and four statements per event, the batch takes: one read of the live tokens (only if some
appends carry one), one locking read of the instances' pending counters, and one statement that
claims the new tokens, moves the counters and inserts the events in order (data-modifying CTEs
around ``INSERT ... SELECT FROM unnest(...)``). The outcome of each append is the one it would
have had alone, in submission order: a replay or TokenConflict for a live token, NotFound,
PendingQuotaExceeded once the counter reaches the quota, else a new position.

The rare append whose token an earlier append of the same batch used runs afterwards, alone, in
a savepoint (see :mod:`supplylake.store.sql.append`). If anything unexpected fails, the
committer rolls the transaction back and runs it again with every append alone.

A transaction that appends events also runs ``NOTIFY supplylake_events``: delivered when it
commits, once per transaction, to the loaders LISTENing (see :mod:`.sessions`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from supplylake.store.base import AppendResult, StoreError
from supplylake.store.codec import ts
from supplylake.store.postgres.connection import PostgresConnection
from supplylake.store.postgres.sessions import CHANNEL
from supplylake.store.sql.append import (
    AppendItem,
    BatchedAppend,
    ClaimRaced,
    answer_live_tokens,
    count_against_quota,
)

# Arrays go as parameters in binary (``%b``): psycopg escapes each element of a text-format
# array with a regular expression, which took longer than the server did for the whole insert.

#: Largest amount of event data sent in one INSERT statement.
_MAX_STATEMENT_BYTES = 32 * 1024 * 1024


def _replay_live_tokens(
    conn: PostgresConnection, items: Sequence[AppendItem], fresh: list[int], results: list[Any]
) -> list[int]:
    """Answer the appends whose token is live; return the others."""
    with_token = [idem for i in fresh if (idem := items[i].idem) is not None]
    if not with_token:
        return fresh
    live = {
        (scope, token): (request_hash, result)
        for scope, token, request_hash, result in conn.raw.execute(
            "SELECT scope, token, request_hash, result FROM sl_tokens WHERE expires_at > %s"
            " AND (scope, token) IN (SELECT * FROM unnest(%b::text[], %b::text[]))",
            (time.time(), [t.scope for t in with_token], [t.token for t in with_token]),
        ).fetchall()
    }
    if not live:
        return fresh

    def positions(event_ids: list[str]) -> dict[str, int]:
        return dict(
            conn.raw.execute(
                "SELECT event_id, position FROM sl_events WHERE event_id = ANY(%b::text[])",
                (event_ids,),
            ).fetchall()
        )

    return answer_live_tokens(items, fresh, live, positions, results)


def _count(
    conn: PostgresConnection, items: Sequence[AppendItem], fresh: list[int], results: list[Any]
) -> tuple[list[int], Counter[str]]:
    """Check each append against its instance's quota, in order; lock the counters."""
    instance_ids = sorted({items[i].event.instance_id for i in fresh})
    if not instance_ids:
        return [], Counter()
    pending: dict[str, int] = dict(
        conn.raw.execute(
            "SELECT instance_id, pending FROM sl_instances WHERE instance_id = ANY(%b::text[])"
            " ORDER BY instance_id FOR UPDATE",
            (instance_ids,),
        ).fetchall()
    )
    return count_against_quota(items, fresh, pending, results)


def _insert_all(
    conn: PostgresConnection,
    items: Sequence[AppendItem],
    accepted: list[int],
    added: Counter[str],
    results: list[Any],
) -> None:
    """The accepted appends in statements of at most _MAX_STATEMENT_BYTES of data."""
    first = True
    for chunk in _chunks(accepted, items):
        # The first statement also claims the tokens and moves the counters.
        claims = [items[i] for i in accepted if items[i].idem is not None] if first else []
        positions = _insert(conn, [items[i] for i in chunk], claims, added if first else {})
        first = False
        for i in chunk:
            event_id = items[i].event.event_id
            results[i] = AppendResult(event_id=event_id, position=positions[event_id])


def _chunks(accepted: list[int], items: Sequence[AppendItem]) -> Iterator[list[int]]:
    chunk: list[int] = []
    size = 0
    for i in accepted:
        data, packed = items[i].stored
        n = len(data) + len(packed or b"")
        if chunk and size + n > _MAX_STATEMENT_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(i)
        size += n
    if chunk:
        yield chunk


_INSERT = (
    "WITH claimed AS ("
    " INSERT INTO sl_tokens (scope, token, request_hash, result, expires_at)"
    " SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::float8[])"
    " ON CONFLICT (scope, token) DO UPDATE SET request_hash = excluded.request_hash,"
    " result = excluded.result, expires_at = excluded.expires_at"
    " WHERE sl_tokens.expires_at <= %s RETURNING 1),"
    " counted AS ("
    " UPDATE sl_instances AS i SET pending = i.pending + d.n"
    " FROM unnest(%b::text[], %b::int[]) AS d(instance_id, n)"
    " WHERE i.instance_id = d.instance_id RETURNING 1),"
    " given AS MATERIALIZED ("
    " SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::float8[],"
    " %b::text[], %b::text[], %b::text[], %b::text[], %b::bytea[], %b::float8[])"
    " WITH ORDINALITY AS e(event_id, instance_id, event_type, event_group_id, event_timestamp,"
    " namespace, dataset, operation, data, packed, received_at, n)),"
    " added AS ("
    " INSERT INTO sl_events (event_id, instance_id, event_type, event_group_id,"
    " event_timestamp, namespace, dataset, operation, status, received_at)"
    " SELECT e.event_id, e.instance_id, e.event_type, e.event_group_id, e.event_timestamp,"
    " e.namespace, e.dataset, e.operation, 'IN_PROGRESS', e.received_at"
    " FROM given AS e ORDER BY e.n RETURNING event_id, position),"
    # The payload has its own table, so that the loader's status update never rewrites it.
    " stored AS ("
    " INSERT INTO sl_event_data (position, data, packed)"
    " SELECT a.position, e.data, e.packed FROM added AS a JOIN given AS e USING (event_id)"
    " RETURNING 1)"
    " SELECT event_id, position, (SELECT count(*) FROM claimed),"
    " (SELECT count(*) FROM stored) FROM added"
)


def _insert(
    conn: PostgresConnection,
    chunk: list[AppendItem],
    claims: list[AppendItem],
    added: dict[str, int],
) -> dict[str, int]:
    """One statement: claim the tokens, add to the counters, insert the events in the given
    order (positions increase along it). Returns event id → position."""
    idems = [item.idem for item in claims if item.idem is not None]
    events = [item.event for item in chunk]
    rows = conn.raw.execute(
        _INSERT,
        (
            [i.scope for i in idems],
            [i.token for i in idems],
            [i.request_hash for i in idems],
            [item.event.event_id for item in claims],
            [ts(i.expires_at) for i in idems],
            time.time(),
            list(added),
            list(added.values()),
            [e.event_id for e in events],
            [e.instance_id for e in events],
            [e.event_type for e in events],
            [e.event_group_id for e in events],
            [ts(e.event_timestamp) for e in events],
            [e.namespace for e in events],
            [e.dataset for e in events],
            [e.operation.value for e in events],
            [item.stored[0] for item in chunk],
            [item.stored[1] for item in chunk],
            [ts(e.received_at) for e in events],
        ),
    ).fetchall()
    if rows and rows[0][2] != len(idems):
        raise ClaimRaced("a token became live while the batch was checked")
    if len(rows) != len(events) or (rows and rows[0][3] != len(events)):
        raise StoreError("a batch of events was not stored whole")
    return {event_id: int(position) for event_id, position, _, _ in rows}


_NOTIFY = f"NOTIFY {CHANNEL}"


class PostgresAppend(BatchedAppend[PostgresConnection]):
    """The batched append on PostgreSQL, waking the listening loaders once it commits."""

    replay_live_tokens = staticmethod(_replay_live_tokens)
    count = staticmethod(_count)
    insert = staticmethod(_insert_all)

    def savepoint(self, conn: PostgresConnection, statement: str) -> None:
        conn.raw.execute(statement)

    def run_one(self, conn: PostgresConnection, item: AppendItem) -> AppendResult:
        result = super().run_one(conn, item)
        if not result.replayed:
            # Rolled back with the append's savepoint if it fails later; repeats in one
            # transaction are folded into one notification.
            conn.raw.execute(_NOTIFY)
        return result

    def run_many(self, conn: PostgresConnection, items: Sequence[AppendItem]) -> list[Any]:
        results = super().run_many(conn, items)
        if any(isinstance(r, AppendResult) and not r.replayed for r in results):
            conn.raw.execute(_NOTIFY)
        return results
