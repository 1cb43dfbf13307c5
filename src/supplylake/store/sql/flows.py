"""SQL of data integration flows, their executions and the objects their watchers have seen.

Placeholders are ``?``; see :mod:`.dialect`. A flow's definition is kept as the JSON of its
snake_case params (``FlowDefinition.to_params``), so the store knows nothing of its rules.

An execution is queued (IN_PROGRESS, not started), started by a loader, then finished
(SUCCEEDED or FAILED). ``seq`` orders them: the loader runs a flow's executions in that order,
and they are answered newest first. Queueing an execution for an object records the object's
version in the same transaction, so a watcher that dies between the two neither loses the
file nor queues it twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from supplylake.states import FlowExecutionStatus
from supplylake.store.base import FlowExecution, StoredFlow
from supplylake.store.codec import dt, dt_req, ts
from supplylake.store.sql.connection import Connection, Row
from supplylake.store.sql.tags import drop_tags_under, tag

_FLOW_COLS = "instance_id, name, definition, request_hash, created_at, updated_at"
_EXEC_COLS = (
    "instance_id, flow_name, execution_id, seq, status, started, source_info, trigger_info,"
    " message, created_at, start_time, end_time, rows_read, rows_written, rows_rejected,"
    " diagnostics_uri"
)


def _json(value: dict[str, Any]) -> str:
    return orjson.dumps(value).decode()


def _flow(row: Row) -> StoredFlow:
    return StoredFlow(
        instance_id=row[0],
        name=row[1],
        definition=orjson.loads(row[2]),
        request_hash=row[3],
        created_at=dt_req(row[4]),
        updated_at=dt_req(row[5]),
    )


def _execution(row: Row) -> FlowExecution:
    return FlowExecution(
        instance_id=row[0],
        flow_name=row[1],
        execution_id=row[2],
        seq=int(row[3]),
        status=FlowExecutionStatus(row[4]),
        started=bool(row[5]),
        source_info=orjson.loads(row[6]),
        trigger=orjson.loads(row[7]),
        message=row[8],
        created_at=dt_req(row[9]),
        start_time=dt(row[10]),
        end_time=dt(row[11]),
        rows_read=int(row[12]),
        rows_written=int(row[13]),
        rows_rejected=int(row[14]),
        diagnostics_uri=row[15],
    )


# -- flows ---------------------------------------------------------------------------------
def create_flow(
    conn: Connection,
    instance_id: str,
    name: str,
    definition: dict[str, Any],
    request_hash: str,
    now: datetime,
    tags: dict[str, str] | None,
    arn: str | None,
) -> tuple[StoredFlow, bool]:
    existing = get_flow(conn, instance_id, name)
    if existing is not None:
        return existing, False
    conn.execute(
        f"INSERT INTO sl_flows ({_FLOW_COLS}) VALUES (?, ?, ?, ?, ?, ?)",
        (instance_id, name, _json(definition), request_hash, ts(now), ts(now)),
    )
    if arn is not None:
        # A flow left by a deleted one of the same name must not inherit its tags.
        drop_tags_under(conn, arn)
        tag(conn, arn, tags or {}, max_tags=200)
    return StoredFlow(instance_id, name, definition, request_hash, now, now), True


def get_flow(conn: Connection, instance_id: str, name: str) -> StoredFlow | None:
    row = conn.execute(
        f"SELECT {_FLOW_COLS} FROM sl_flows WHERE instance_id = ? AND name = ?",
        (instance_id, name),
    ).fetchone()
    return _flow(row) if row else None


def list_flows(
    conn: Connection, instance_id: str, after: str | None, limit: int
) -> list[StoredFlow]:
    rows = conn.execute(
        f"SELECT {_FLOW_COLS} FROM sl_flows WHERE instance_id = ? AND name > ?"
        " ORDER BY name LIMIT ?",
        (instance_id, after or "", limit),
    )
    return [_flow(r) for r in rows.fetchall()]


def all_flows(conn: Connection, instance_id: str | None) -> list[StoredFlow]:
    if instance_id is None:
        rows = conn.execute(f"SELECT {_FLOW_COLS} FROM sl_flows ORDER BY instance_id, name")
    else:
        rows = conn.execute(
            f"SELECT {_FLOW_COLS} FROM sl_flows WHERE instance_id = ? ORDER BY name",
            (instance_id,),
        )
    return [_flow(r) for r in rows.fetchall()]


def update_flow(
    conn: Connection, instance_id: str, name: str, definition: dict[str, Any], now: datetime
) -> StoredFlow | None:
    cur = conn.execute(
        "UPDATE sl_flows SET definition = ?, updated_at = ? WHERE instance_id = ? AND name = ?",
        (_json(definition), ts(now), instance_id, name),
    )
    if not cur.rowcount:
        return None
    return get_flow(conn, instance_id, name)


def delete_flow(conn: Connection, instance_id: str, name: str, arn: str | None) -> bool:
    """Delete the flow, its tags, the objects it has seen and its executions, except one already
    started and not finished: its loader finishes it (its row says how it ended)."""
    cur = conn.execute(
        "DELETE FROM sl_flows WHERE instance_id = ? AND name = ?", (instance_id, name)
    )
    if not cur.rowcount:
        return False
    if arn is not None:
        drop_tags_under(conn, arn)
    conn.execute(
        "DELETE FROM sl_flow_executions WHERE instance_id = ? AND flow_name = ?"
        " AND NOT (started = 1 AND status = ?)",
        (instance_id, name, FlowExecutionStatus.IN_PROGRESS.value),
    )
    conn.execute(
        "DELETE FROM sl_flow_objects WHERE instance_id = ? AND flow_name = ?", (instance_id, name)
    )
    return True


def purge_flows(conn: Connection, instance_id: str) -> None:
    """Forget every flow of a deleted instance, with its executions and objects."""
    for table in ("sl_flow_executions", "sl_flow_objects", "sl_flows"):
        conn.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))


# -- executions ----------------------------------------------------------------------------
def queue_flow_execution(
    conn: Connection,
    instance_id: str,
    flow_name: str,
    execution_id: str,
    source_info: dict[str, Any],
    trigger: dict[str, Any],
    now: datetime,
) -> FlowExecution:
    row = conn.execute(
        "INSERT INTO sl_flow_executions (instance_id, flow_name, execution_id, status, started,"
        " source_info, trigger_info, created_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?) RETURNING seq",
        (
            instance_id,
            flow_name,
            execution_id,
            FlowExecutionStatus.IN_PROGRESS.value,
            _json(source_info),
            _json(trigger),
            ts(now),
        ),
    ).fetchone()
    assert row is not None
    kind = trigger.get("kind")
    if kind == "object":
        set_flow_object(conn, instance_id, flow_name, str(trigger["key"]), str(trigger["version"]))
    elif kind == "removed":
        set_flow_object(conn, instance_id, flow_name, str(trigger["key"]), None)
    return FlowExecution(
        instance_id=instance_id,
        flow_name=flow_name,
        execution_id=execution_id,
        seq=int(row[0]),
        status=FlowExecutionStatus.IN_PROGRESS,
        started=False,
        source_info=source_info,
        trigger=trigger,
        message=None,
        created_at=now,
        start_time=None,
        end_time=None,
        rows_read=0,
        rows_written=0,
        rows_rejected=0,
        diagnostics_uri=None,
    )


def get_flow_execution(
    conn: Connection, instance_id: str, flow_name: str, execution_id: str
) -> FlowExecution | None:
    row = conn.execute(
        f"SELECT {_EXEC_COLS} FROM sl_flow_executions"
        " WHERE execution_id = ? AND instance_id = ? AND flow_name = ?",
        (execution_id, instance_id, flow_name),
    ).fetchone()
    return _execution(row) if row else None


def list_flow_executions(
    conn: Connection, instance_id: str, flow_name: str, before_seq: int | None, limit: int
) -> list[FlowExecution]:
    sql = f"SELECT {_EXEC_COLS} FROM sl_flow_executions WHERE instance_id = ? AND flow_name = ?"
    args: list[Any] = [instance_id, flow_name]
    if before_seq is not None:
        sql += " AND seq < ?"
        args.append(before_seq)
    sql += " ORDER BY seq DESC LIMIT ?"
    args.append(limit)
    return [_execution(r) for r in conn.execute(sql, args).fetchall()]


def next_flow_execution(conn: Connection, instance_id: str, flow_name: str) -> FlowExecution | None:
    row = conn.execute(
        f"SELECT {_EXEC_COLS} FROM sl_flow_executions"
        " WHERE instance_id = ? AND flow_name = ? AND status = ? ORDER BY seq LIMIT 1",
        (instance_id, flow_name, FlowExecutionStatus.IN_PROGRESS.value),
    ).fetchone()
    return _execution(row) if row else None


def start_flow_execution(conn: Connection, execution_id: str, now: datetime) -> None:
    # A rerun (its first loader died) keeps the first start time.
    conn.execute(
        "UPDATE sl_flow_executions SET started = 1, start_time = coalesce(start_time, ?)"
        " WHERE execution_id = ? AND status = ?",
        (ts(now), execution_id, FlowExecutionStatus.IN_PROGRESS.value),
    )


def finish_flow_execution(
    conn: Connection,
    execution_id: str,
    status: FlowExecutionStatus,
    message: str | None,
    now: datetime,
    rows_read: int,
    rows_written: int,
    rows_rejected: int,
    diagnostics_uri: str | None,
) -> None:
    if status is FlowExecutionStatus.IN_PROGRESS:
        raise ValueError("an execution finishes SUCCEEDED or FAILED")
    conn.execute(
        "UPDATE sl_flow_executions SET status = ?, message = ?, started = 1,"
        " start_time = coalesce(start_time, ?), end_time = ?, rows_read = ?, rows_written = ?,"
        " rows_rejected = ?, diagnostics_uri = ? WHERE execution_id = ?",
        (
            FlowExecutionStatus(status).value,
            message,
            ts(now),
            ts(now),
            rows_read,
            rows_written,
            rows_rejected,
            diagnostics_uri,
            execution_id,
        ),
    )


def expire_flow_executions(conn: Connection, before: datetime) -> int:
    cur = conn.execute(
        "DELETE FROM sl_flow_executions WHERE status <> ? AND end_time < ?",
        (FlowExecutionStatus.IN_PROGRESS.value, ts(before)),
    )
    return max(cur.rowcount, 0)


# -- objects seen --------------------------------------------------------------------------
def flow_objects(conn: Connection, instance_id: str, flow_name: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT key, version FROM sl_flow_objects WHERE instance_id = ? AND flow_name = ?",
        (instance_id, flow_name),
    )
    return {k: v for k, v in rows.fetchall()}


def set_flow_object(
    conn: Connection, instance_id: str, flow_name: str, key: str, version: str | None
) -> None:
    if version is None:
        conn.execute(
            "DELETE FROM sl_flow_objects WHERE instance_id = ? AND flow_name = ? AND key = ?",
            (instance_id, flow_name, key),
        )
        return
    conn.execute(
        "INSERT INTO sl_flow_objects (instance_id, flow_name, key, version) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (instance_id, flow_name, key) DO UPDATE SET version = excluded.version",
        (instance_id, flow_name, key, version),
    )
