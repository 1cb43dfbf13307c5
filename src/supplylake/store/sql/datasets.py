"""SQL of datasets. Placeholders are ``?``; see :mod:`.dialect`."""

from __future__ import annotations

from datetime import datetime

from supplylake.store.base import AlreadyExists, Dataset, NotFound
from supplylake.store.codec import dt_req, schema_from_json, schema_to_json, ts
from supplylake.store.sql.connection import Connection, Row
from supplylake.store.sql.namespaces import get_namespace
from supplylake.store.sql.tags import drop_tags_under, tag

_DS_COLS = "instance_id, namespace, name, description, schema, created_at, updated_at"


def _dataset(row: Row) -> Dataset:
    return Dataset(
        instance_id=row[0],
        namespace=row[1],
        name=row[2],
        description=row[3],
        schema=schema_from_json(row[4]),
        created_at=dt_req(row[5]),
        updated_at=dt_req(row[6]),
    )


def create_dataset(conn: Connection, ds: Dataset, tags: dict[str, str], arn: str) -> Dataset:
    if get_dataset(conn, ds.instance_id, ds.namespace, ds.name) is not None:
        raise AlreadyExists(ds.name)
    if get_namespace(conn, ds.instance_id, ds.namespace) is None:
        raise NotFound(ds.namespace)
    conn.execute(
        f"INSERT INTO sl_datasets ({_DS_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            ds.instance_id,
            ds.namespace,
            ds.name,
            ds.description,
            schema_to_json(ds.schema),
            ts(ds.created_at),
            ts(ds.updated_at),
        ),
    )
    tag(conn, arn, tags, max_tags=200)
    return ds


def get_dataset(conn: Connection, instance_id: str, namespace: str, name: str) -> Dataset | None:
    row = conn.execute(
        f"SELECT {_DS_COLS} FROM sl_datasets WHERE instance_id = ? AND namespace = ? AND name = ?",
        (instance_id, namespace, name),
    ).fetchone()
    return _dataset(row) if row else None


def list_datasets(
    conn: Connection, instance_id: str, namespace: str, after: str | None, limit: int
) -> list[Dataset]:
    rows = conn.execute(
        f"SELECT {_DS_COLS} FROM sl_datasets WHERE instance_id = ? AND namespace = ? AND name > ?"
        " ORDER BY name LIMIT ?",
        (instance_id, namespace, after or "", limit),
    )
    return [_dataset(r) for r in rows.fetchall()]


def update_dataset(
    conn: Connection,
    instance_id: str,
    namespace: str,
    name: str,
    description: str | None,
    at: datetime,
) -> Dataset:
    cur = conn.execute(
        "UPDATE sl_datasets SET description = coalesce(?, description), updated_at = ?"
        " WHERE instance_id = ? AND namespace = ? AND name = ?",
        (description, ts(at), instance_id, namespace, name),
    )
    if not cur.rowcount:
        raise NotFound(name)
    found = get_dataset(conn, instance_id, namespace, name)
    assert found is not None
    return found


def delete_dataset(conn: Connection, instance_id: str, namespace: str, name: str, arn: str) -> None:
    cur = conn.execute(
        "DELETE FROM sl_datasets WHERE instance_id = ? AND namespace = ? AND name = ?",
        (instance_id, namespace, name),
    )
    if not cur.rowcount:
        raise NotFound(name)
    drop_tags_under(conn, arn)
