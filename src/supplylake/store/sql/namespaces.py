"""SQL of namespaces. Placeholders are ``?``; see :mod:`.dialect`."""

from __future__ import annotations

from datetime import datetime

from supplylake.store.base import AlreadyExists, Namespace, NotFound
from supplylake.store.codec import dt_req, ts
from supplylake.store.sql.connection import Connection, Row
from supplylake.store.sql.tags import drop_tags_under, tag


def _namespace(row: Row) -> Namespace:
    return Namespace(
        instance_id=row[0],
        name=row[1],
        description=row[2],
        created_at=dt_req(row[3]),
        updated_at=dt_req(row[4]),
    )


_NS_COLS = "instance_id, name, description, created_at, updated_at"


def create_namespace(conn: Connection, ns: Namespace, tags: dict[str, str], arn: str) -> Namespace:
    if get_namespace(conn, ns.instance_id, ns.name) is not None:
        raise AlreadyExists(ns.name)
    conn.execute(
        f"INSERT INTO sl_namespaces ({_NS_COLS}) VALUES (?, ?, ?, ?, ?)",
        (ns.instance_id, ns.name, ns.description, ts(ns.created_at), ts(ns.updated_at)),
    )
    tag(conn, arn, tags, max_tags=200)
    return ns


def get_namespace(conn: Connection, instance_id: str, name: str) -> Namespace | None:
    row = conn.execute(
        f"SELECT {_NS_COLS} FROM sl_namespaces WHERE instance_id = ? AND name = ?",
        (instance_id, name),
    ).fetchone()
    return _namespace(row) if row else None


def list_namespaces(
    conn: Connection, instance_id: str, after: str | None, limit: int
) -> list[Namespace]:
    rows = conn.execute(
        f"SELECT {_NS_COLS} FROM sl_namespaces WHERE instance_id = ? AND name > ?"
        " ORDER BY name LIMIT ?",
        (instance_id, after or "", limit),
    )
    return [_namespace(r) for r in rows.fetchall()]


def update_namespace(
    conn: Connection, instance_id: str, name: str, description: str | None, at: datetime
) -> Namespace:
    cur = conn.execute(
        "UPDATE sl_namespaces SET description = coalesce(?, description), updated_at = ?"
        " WHERE instance_id = ? AND name = ?",
        (description, ts(at), instance_id, name),
    )
    if not cur.rowcount:
        raise NotFound(name)
    found = get_namespace(conn, instance_id, name)
    assert found is not None
    return found


def delete_namespace(conn: Connection, instance_id: str, name: str, arn_prefix: str) -> None:
    conn.execute(
        "DELETE FROM sl_datasets WHERE instance_id = ? AND namespace = ?", (instance_id, name)
    )
    cur = conn.execute(
        "DELETE FROM sl_namespaces WHERE instance_id = ? AND name = ?", (instance_id, name)
    )
    if not cur.rowcount:
        raise NotFound(name)
    drop_tags_under(conn, arn_prefix)
