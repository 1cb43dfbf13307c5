"""SQL of bill-of-materials import jobs. Placeholders are ``?``; see :mod:`.dialect`.

A job keeps its request's client token and hash on its own row, unique within the instance, so
the token lives as long as the job (a retry of a create answers the first job, whatever its
status) and is claimed by the same ``INSERT`` that makes the job.
"""

from __future__ import annotations

from datetime import datetime

from supplylake.states import BomJobStatus
from supplylake.store.base import BomJob, TokenConflict
from supplylake.store.codec import dt, dt_req, ts
from supplylake.store.sql.connection import Connection, Row

_COLS = "instance_id, job_id, seq, s3uri, status, created_at, message, started_at, finished_at"
_OPEN = "status IN ('NEW', 'QUEUED', 'IN_PROGRESS')"


def _job(row: Row) -> BomJob:
    return BomJob(
        instance_id=row[0],
        job_id=row[1],
        seq=int(row[2]),
        s3uri=row[3],
        status=BomJobStatus(row[4]),
        created_at=dt_req(row[5]),
        message=row[6],
        started_at=dt(row[7]),
        finished_at=dt(row[8]),
    )


def create_bom_job(
    conn: Connection,
    instance_id: str,
    job_id: str,
    s3uri: str,
    client_token: str,
    request_hash: str,
    now: datetime,
) -> tuple[BomJob, bool]:
    taken = conn.execute(
        "INSERT INTO sl_bom_jobs (job_id, instance_id, client_token, request_hash, s3uri, status,"
        " created_at) VALUES (?, ?, ?, ?, ?, 'NEW', ?)"
        " ON CONFLICT (instance_id, client_token) DO NOTHING RETURNING seq",
        (job_id, instance_id, client_token, request_hash, s3uri, ts(now)),
    ).fetchone()
    if taken is not None:
        return BomJob(instance_id, job_id, int(taken[0]), s3uri, BomJobStatus.NEW, now), True
    row = conn.execute(
        f"SELECT request_hash, {_COLS} FROM sl_bom_jobs WHERE instance_id = ? AND client_token = ?",
        (instance_id, client_token),
    ).fetchone()
    if row is None:  # cannot happen: the conflicting row is committed or in this transaction
        raise TokenConflict(client_token)
    if row[0] != request_hash:
        raise TokenConflict(client_token)
    return _job(row[1:]), False


def get_bom_job(conn: Connection, instance_id: str, job_id: str) -> BomJob | None:
    row = conn.execute(
        f"SELECT {_COLS} FROM sl_bom_jobs WHERE job_id = ? AND instance_id = ?",
        (job_id, instance_id),
    ).fetchone()
    return _job(row) if row else None


def list_bom_jobs(
    conn: Connection, instance_id: str, before_seq: int | None, limit: int
) -> list[BomJob]:
    rows = conn.execute(
        f"SELECT {_COLS} FROM sl_bom_jobs WHERE instance_id = ? AND seq < ?"
        " ORDER BY seq DESC LIMIT ?",
        (instance_id, before_seq if before_seq is not None else 2**62, limit),
    ).fetchall()
    return [_job(r) for r in rows]


def queue_bom_jobs(conn: Connection) -> int:
    cur = conn.execute("UPDATE sl_bom_jobs SET status = 'QUEUED' WHERE status = 'NEW'")
    return int(cur.rowcount)


def bom_job_instances(conn: Connection) -> list[str]:
    rows = conn.execute(
        f"SELECT DISTINCT instance_id FROM sl_bom_jobs WHERE {_OPEN} ORDER BY instance_id"
    ).fetchall()
    return [r[0] for r in rows]


def next_bom_job(conn: Connection, instance_id: str) -> BomJob | None:
    row = conn.execute(
        f"SELECT {_COLS} FROM sl_bom_jobs WHERE instance_id = ? AND {_OPEN} ORDER BY seq LIMIT 1",
        (instance_id,),
    ).fetchone()
    return _job(row) if row else None


def start_bom_job(conn: Connection, job_id: str, now: datetime) -> None:
    conn.execute(
        "UPDATE sl_bom_jobs SET status = 'IN_PROGRESS',"
        " started_at = CASE WHEN started_at IS NULL THEN ? ELSE started_at END"
        f" WHERE job_id = ? AND {_OPEN}",
        (ts(now), job_id),
    )


def finish_bom_job(
    conn: Connection, job_id: str, status: BomJobStatus, message: str, now: datetime
) -> None:
    conn.execute(
        f"UPDATE sl_bom_jobs SET status = ?, message = ?, finished_at = ? WHERE job_id = ? AND {_OPEN}",
        (status.value, message, ts(now), job_id),
    )


def count_bom_jobs(conn: Connection) -> dict[BomJobStatus, int]:
    rows = conn.execute("SELECT status, count(*) FROM sl_bom_jobs GROUP BY status").fetchall()
    return {BomJobStatus(r[0]): int(r[1]) for r in rows}


def expire_bom_jobs(conn: Connection, before: datetime) -> int:
    cur = conn.execute(
        "DELETE FROM sl_bom_jobs WHERE finished_at IS NOT NULL AND finished_at < ?", (ts(before),)
    )
    return int(cur.rowcount)
