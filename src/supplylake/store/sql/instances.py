"""SQL of instances. Placeholders are ``?``; see :mod:`.dialect`.

An instance row also keeps its ``pending`` counter: events accepted and not yet applied, which
the appends count against the instance's quota (see :mod:`.events`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from supplylake.states import InstanceState
from supplylake.store.base import IdempotencyKey, Instance, NotFound
from supplylake.store.codec import dt_req, ts
from supplylake.store.sql.connection import Connection, Row
from supplylake.store.sql.flows import purge_flows
from supplylake.store.sql.tags import drop_tags_under, tag
from supplylake.store.sql.tokens import claim_token, retarget_token

_INST_COLS = (
    "instance_id, account_id, region, state, name, description, kms_key_arn, web_app_dns_domain,"
    " error_message, version, created_at, updated_at"
)


def _instance(row: Row) -> Instance:
    return Instance(
        instance_id=row[0],
        account_id=row[1],
        region=row[2],
        state=InstanceState(row[3]),
        name=row[4],
        description=row[5],
        kms_key_arn=row[6],
        web_app_dns_domain=row[7],
        error_message=row[8],
        version=row[9],
        created_at=dt_req(row[10]),
        updated_at=dt_req(row[11]),
    )


def create_instance(
    conn: Connection, inst: Instance, tags: dict[str, str], arn: str, idem: IdempotencyKey | None
) -> Instance:
    if idem is not None:
        earlier = claim_token(conn, idem, inst.instance_id)
        if earlier is not None:
            found = get_instance(conn, earlier)
            if found is not None:
                return found
            retarget_token(conn, idem, inst.instance_id)
    conn.execute(
        f"INSERT INTO sl_instances ({_INST_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            inst.instance_id,
            inst.account_id,
            inst.region,
            inst.state,
            inst.name,
            inst.description,
            inst.kms_key_arn,
            inst.web_app_dns_domain,
            inst.error_message,
            inst.version,
            ts(inst.created_at),
            ts(inst.updated_at),
        ),
    )
    tag(conn, arn, tags, max_tags=200)
    return inst


def get_instance(conn: Connection, instance_id: str) -> Instance | None:
    row = conn.execute(
        f"SELECT {_INST_COLS} FROM sl_instances WHERE instance_id = ?", (instance_id,)
    ).fetchone()
    return _instance(row) if row else None


def list_instances(
    conn: Connection,
    account_id: str,
    after: tuple[datetime, str] | None,
    limit: int,
    names: list[str],
    states: list[str],
) -> list[Instance]:
    sql = f"SELECT {_INST_COLS} FROM sl_instances WHERE account_id = ?"
    args: list[Any] = [account_id]
    if after is not None:
        created = ts(after[0])
        sql += " AND (created_at > ? OR (created_at = ? AND instance_id > ?))"
        args += [created, created, after[1]]
    if names:
        sql += f" AND name IN ({', '.join('?' * len(names))})"
        args += names
    if states:
        sql += f" AND state IN ({', '.join('?' * len(states))})"
        args += states
    sql += " ORDER BY created_at, instance_id LIMIT ?"
    args.append(limit)
    return [_instance(r) for r in conn.execute(sql, args).fetchall()]


def list_instances_in_state(conn: Connection, states: list[str]) -> list[Instance]:
    sql = f"SELECT {_INST_COLS} FROM sl_instances WHERE state IN ({', '.join('?' * len(states))})"
    return [_instance(r) for r in conn.execute(sql, states).fetchall()]


_INSTANCE_CHANGES = {"state", "name", "description", "error_message"}


def update_instance(
    conn: Connection, instance_id: str, at: datetime, changes: dict[str, object]
) -> Instance:
    unknown = set(changes) - _INSTANCE_CHANGES
    if unknown:
        raise ValueError(f"cannot change {sorted(unknown)}")
    sets = ", ".join(f"{name} = ?" for name in changes)
    cur = conn.execute(
        f"UPDATE sl_instances SET {sets}{', ' if sets else ''}updated_at = ?, version = version + 1"
        " WHERE instance_id = ?",
        (*changes.values(), ts(at), instance_id),
    )
    if not cur.rowcount:
        raise NotFound(instance_id)
    found = get_instance(conn, instance_id)
    assert found is not None
    return found


def purge_instance(conn: Connection, instance_id: str, arn_prefix: str) -> None:
    conn.execute(
        "DELETE FROM sl_event_data WHERE position IN"
        " (SELECT position FROM sl_events WHERE instance_id = ?)",
        (instance_id,),
    )
    conn.execute("DELETE FROM sl_events WHERE instance_id = ?", (instance_id,))
    conn.execute("DELETE FROM sl_datasets WHERE instance_id = ?", (instance_id,))
    purge_flows(conn, instance_id)
    conn.execute("DELETE FROM sl_namespaces WHERE instance_id = ?", (instance_id,))
    conn.execute("UPDATE sl_instances SET pending = 0 WHERE instance_id = ?", (instance_id,))
    # The instance's own tags go too: a deleted instance keeps only its record.
    drop_tags_under(conn, arn_prefix)
