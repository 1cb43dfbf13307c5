"""SQL of events: one append at a time, reads, the loader's outcomes and the purge.

Placeholders are ``?``; see :mod:`.dialect`. Both stores append many events at once
(:class:`supplylake.store.sqlite.append.SqliteAppend`,
:class:`supplylake.store.postgres.append.PostgresAppend`) and fall back to :func:`append_event`
one by one.

An event's payload lives in ``sl_event_data``, keyed by its position, apart from its row in
``sl_events``: the loader's status update then rewrites a small row, never the payload.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from supplylake.schema.types import Operation
from supplylake.states import LoadStatus
from supplylake.store.base import (
    AppendResult,
    DatasetRef,
    Event,
    IdempotencyKey,
    NewEvent,
    NotFound,
    Outcome,
    PendingQuotaExceeded,
)
from supplylake.store.codec import Stored, dt, dt_req, ts, unpack
from supplylake.store.sql.connection import Connection, Row
from supplylake.store.sql.tokens import claim_token

EVENT_COLS = (
    "position, event_id, instance_id, event_type, event_group_id, event_timestamp, namespace,"
    " dataset, operation, status, received_at, message, applied_at"
)

INSERT_EVENT = (
    "INSERT INTO sl_events (event_id, instance_id, event_type, event_group_id,"
    " event_timestamp, namespace, dataset, operation, status, received_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'IN_PROGRESS', ?)"
)
INSERT_DATA = "INSERT INTO sl_event_data (position, data, packed) VALUES (?, ?, ?)"
#: Events with their payload's two columns (see store.codec): select ``d.data, d.packed``.
_WITH_DATA = "sl_events LEFT JOIN sl_event_data AS d USING (position)"


def event_row(ev: NewEvent) -> tuple[Any, ...]:
    """The parameters of INSERT_EVENT."""
    return (
        ev.event_id,
        ev.instance_id,
        ev.event_type,
        ev.event_group_id,
        ts(ev.event_timestamp),
        ev.namespace,
        ev.dataset,
        ev.operation.value,
        ts(ev.received_at),
    )


def _event(row: Row, data: str | None = None) -> Event:
    return Event(
        position=row[0],
        event_id=row[1],
        instance_id=row[2],
        event_type=row[3],
        event_group_id=row[4],
        event_timestamp=dt_req(row[5]),
        namespace=row[6],
        dataset=row[7],
        operation=Operation(row[8]),
        status=LoadStatus(row[9]),
        received_at=dt_req(row[10]),
        message=row[11],
        applied_at=dt(row[12]),
        data=data,
    )


def append_event(
    conn: Connection,
    ev: NewEvent,
    idem: IdempotencyKey | None,
    max_pending: int,
    stored: Stored,
) -> AppendResult:
    """Append one event; ``stored`` is its payload as stored (see store.codec)."""
    if idem is not None:
        earlier = claim_token(conn, idem, ev.event_id)
        if earlier is not None:
            pos = conn.execute(
                "SELECT position FROM sl_events WHERE event_id = ?", (earlier,)
            ).fetchone()
            return AppendResult(event_id=earlier, position=pos[0] if pos else 0, replayed=True)
    # Count first: the row lock it takes on PostgreSQL keeps the quota exact across processes.
    counted = conn.execute(
        "UPDATE sl_instances SET pending = pending + 1 WHERE instance_id = ? AND pending < ?"
        " RETURNING pending",
        (ev.instance_id, max_pending),
    ).fetchone()
    if counted is None:
        known = conn.execute(
            "SELECT 1 FROM sl_instances WHERE instance_id = ?", (ev.instance_id,)
        ).fetchone()
        raise PendingQuotaExceeded(ev.instance_id) if known else NotFound(ev.instance_id)
    row = conn.execute(INSERT_EVENT + " RETURNING position", event_row(ev)).fetchone()
    assert row is not None  # RETURNING of a single-row INSERT that did not raise
    position = int(row[0])
    conn.execute(INSERT_DATA, (position, *stored))
    return AppendResult(event_id=ev.event_id, position=position)


def get_event(conn: Connection, instance_id: str, event_id: str, with_data: bool) -> Event | None:
    source = f"d.data, d.packed FROM {_WITH_DATA}" if with_data else "NULL, NULL FROM sl_events"
    row = conn.execute(
        f"SELECT {EVENT_COLS}, {source} WHERE event_id = ? AND instance_id = ?",
        (event_id, instance_id),
    ).fetchone()
    return _event(row, unpack(row[13], row[14])) if row else None


def list_events(
    conn: Connection, instance_id: str, event_type: str | None, before: int | None, limit: int
) -> list[Event]:
    sql = f"SELECT {EVENT_COLS} FROM sl_events WHERE instance_id = ? AND position < ?"
    args: list[Any] = [instance_id, before if before is not None else 2**62]
    if event_type is not None:
        sql += " AND event_type = ?"
        args.append(event_type)
    sql += " ORDER BY position DESC LIMIT ?"
    args.append(limit)
    return [_event(r) for r in conn.execute(sql, args).fetchall()]


def pending_datasets(conn: Connection) -> list[DatasetRef]:
    rows = conn.execute(
        "SELECT instance_id, namespace, dataset FROM sl_events WHERE status = 'IN_PROGRESS'"
        " GROUP BY instance_id, namespace, dataset ORDER BY MIN(position)"
    )
    return [DatasetRef(r[0], r[1], r[2]) for r in rows.fetchall()]


def pending_events(conn: Connection, ref: DatasetRef, limit: int) -> list[Event]:
    rows = conn.execute(
        f"SELECT {EVENT_COLS}, d.data, d.packed FROM {_WITH_DATA} WHERE instance_id = ?"
        " AND namespace = ? AND dataset = ? AND status = 'IN_PROGRESS' ORDER BY position LIMIT ?",
        (ref.instance_id, ref.namespace, ref.name, limit),
    )
    return [_event(r, unpack(r[13], r[14])) for r in rows.fetchall()]


def complete_events(conn: Connection, outcomes: list[Outcome], at: datetime) -> None:
    finished: Counter[str] = Counter()
    for o in outcomes:
        row = conn.execute(
            "UPDATE sl_events SET status = ?, message = ?, applied_at = ?"
            " WHERE position = ? AND status = 'IN_PROGRESS' RETURNING instance_id",
            (o.status, o.message, ts(at), o.position),
        ).fetchone()
        if row is not None:
            finished[row[0]] += 1
    for instance_id, n in sorted(finished.items()):
        conn.execute(
            "UPDATE sl_instances SET pending = CASE WHEN pending > ? THEN pending - ? ELSE 0 END"
            " WHERE instance_id = ?",
            (n, n, instance_id),
        )


def purge_events(
    conn: Connection, received_before: datetime, tokens_expired_before: datetime
) -> int:
    cutoff = (ts(received_before),)
    conn.execute(
        "DELETE FROM sl_event_data WHERE position IN (SELECT position FROM sl_events"
        " WHERE received_at < ? AND status != 'IN_PROGRESS')",
        cutoff,
    )
    cur = conn.execute(
        "DELETE FROM sl_events WHERE received_at < ? AND status != 'IN_PROGRESS'", cutoff
    )
    conn.execute("DELETE FROM sl_tokens WHERE expires_at < ?", (ts(tokens_expired_before),))
    return int(cur.rowcount)
