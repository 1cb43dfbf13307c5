"""SQL of tags, instances, namespaces and datasets. Placeholders are ``?``; see :mod:`._dialect`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from supplylake.store._codec import dt_req, schema_from_json, schema_to_json, ts
from supplylake.store._sql_tokens import claim_token, retarget_token
from supplylake.store.base import (
    AlreadyExists,
    Dataset,
    IdempotencyKey,
    Instance,
    Namespace,
    NotFound,
    StoreError,
)


# -- tags ---------------------------------------------------------------------------------
def get_tags(conn: Any, arn: str) -> dict[str, str]:
    rows = conn.execute("SELECT key, value FROM sl_tags WHERE arn = ? ORDER BY key", (arn,))
    return {k: v for k, v in rows.fetchall()}


def tag(conn: Any, arn: str, tags: dict[str, str], max_tags: int) -> None:
    existing = get_tags(conn, arn)
    if len(set(existing) | set(tags)) > max_tags:
        raise StoreError(f"a resource can have at most {max_tags} tags")
    conn.executemany(
        "INSERT INTO sl_tags (arn, key, value) VALUES (?, ?, ?)"
        " ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value",
        [(arn, k, v) for k, v in tags.items()],
    )


def untag(conn: Any, arn: str, keys: list[str]) -> None:
    conn.executemany("DELETE FROM sl_tags WHERE arn = ? AND key = ?", [(arn, k) for k in keys])


def _drop_tags_under(conn: Any, arn_prefix: str) -> None:
    # ARNs below a resource share its ARN followed by '/'.
    conn.execute(
        "DELETE FROM sl_tags WHERE arn = ? OR substr(arn, 1, ?) = ?",
        (arn_prefix, len(arn_prefix) + 1, arn_prefix + "/"),
    )


# -- instances ----------------------------------------------------------------------------
_INST_COLS = (
    "instance_id, account_id, region, state, name, description, kms_key_arn, web_app_dns_domain,"
    " error_message, version, created_at, updated_at"
)


def _instance(row: Any) -> Instance:
    return Instance(
        instance_id=row[0],
        account_id=row[1],
        region=row[2],
        state=row[3],
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
    conn: Any, inst: Instance, tags: dict[str, str], arn: str, idem: IdempotencyKey | None
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


def get_instance(conn: Any, instance_id: str) -> Instance | None:
    row = conn.execute(
        f"SELECT {_INST_COLS} FROM sl_instances WHERE instance_id = ?", (instance_id,)
    ).fetchone()
    return _instance(row) if row else None


def list_instances(
    conn: Any, account_id: str, after: str | None, limit: int, names: list[str], states: list[str]
) -> list[Instance]:
    sql = f"SELECT {_INST_COLS} FROM sl_instances WHERE account_id = ? AND instance_id > ?"
    args: list[Any] = [account_id, after or ""]
    if names:
        sql += f" AND name IN ({', '.join('?' * len(names))})"
        args += names
    if states:
        sql += f" AND state IN ({', '.join('?' * len(states))})"
        args += states
    sql += " ORDER BY instance_id LIMIT ?"
    args.append(limit)
    return [_instance(r) for r in conn.execute(sql, args).fetchall()]


def list_instances_in_state(conn: Any, states: list[str]) -> list[Instance]:
    sql = f"SELECT {_INST_COLS} FROM sl_instances WHERE state IN ({', '.join('?' * len(states))})"
    return [_instance(r) for r in conn.execute(sql, states).fetchall()]


_INSTANCE_CHANGES = {"state", "name", "description", "error_message"}


def update_instance(
    conn: Any, instance_id: str, at: datetime, changes: dict[str, object]
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


def purge_instance(conn: Any, instance_id: str, arn_prefix: str) -> None:
    conn.execute(
        "DELETE FROM sl_event_data WHERE position IN"
        " (SELECT position FROM sl_events WHERE instance_id = ?)",
        (instance_id,),
    )
    conn.execute("DELETE FROM sl_events WHERE instance_id = ?", (instance_id,))
    conn.execute("DELETE FROM sl_datasets WHERE instance_id = ?", (instance_id,))
    conn.execute("DELETE FROM sl_namespaces WHERE instance_id = ?", (instance_id,))
    conn.execute("UPDATE sl_instances SET pending = 0 WHERE instance_id = ?", (instance_id,))
    # The instance's own tags go too: a deleted instance keeps only its record.
    _drop_tags_under(conn, arn_prefix)


# -- namespaces ---------------------------------------------------------------------------
def _namespace(row: Any) -> Namespace:
    return Namespace(
        instance_id=row[0],
        name=row[1],
        description=row[2],
        created_at=dt_req(row[3]),
        updated_at=dt_req(row[4]),
    )


_NS_COLS = "instance_id, name, description, created_at, updated_at"


def create_namespace(conn: Any, ns: Namespace, tags: dict[str, str], arn: str) -> Namespace:
    if get_namespace(conn, ns.instance_id, ns.name) is not None:
        raise AlreadyExists(ns.name)
    conn.execute(
        f"INSERT INTO sl_namespaces ({_NS_COLS}) VALUES (?, ?, ?, ?, ?)",
        (ns.instance_id, ns.name, ns.description, ts(ns.created_at), ts(ns.updated_at)),
    )
    tag(conn, arn, tags, max_tags=200)
    return ns


def get_namespace(conn: Any, instance_id: str, name: str) -> Namespace | None:
    row = conn.execute(
        f"SELECT {_NS_COLS} FROM sl_namespaces WHERE instance_id = ? AND name = ?",
        (instance_id, name),
    ).fetchone()
    return _namespace(row) if row else None


def list_namespaces(conn: Any, instance_id: str, after: str | None, limit: int) -> list[Namespace]:
    rows = conn.execute(
        f"SELECT {_NS_COLS} FROM sl_namespaces WHERE instance_id = ? AND name > ?"
        " ORDER BY name LIMIT ?",
        (instance_id, after or "", limit),
    )
    return [_namespace(r) for r in rows.fetchall()]


def update_namespace(
    conn: Any, instance_id: str, name: str, description: str | None, at: datetime
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


def delete_namespace(conn: Any, instance_id: str, name: str, arn_prefix: str) -> None:
    conn.execute(
        "DELETE FROM sl_datasets WHERE instance_id = ? AND namespace = ?", (instance_id, name)
    )
    cur = conn.execute(
        "DELETE FROM sl_namespaces WHERE instance_id = ? AND name = ?", (instance_id, name)
    )
    if not cur.rowcount:
        raise NotFound(name)
    _drop_tags_under(conn, arn_prefix)


# -- datasets -----------------------------------------------------------------------------
_DS_COLS = "instance_id, namespace, name, description, schema, created_at, updated_at"


def _dataset(row: Any) -> Dataset:
    return Dataset(
        instance_id=row[0],
        namespace=row[1],
        name=row[2],
        description=row[3],
        schema=schema_from_json(row[4]),
        created_at=dt_req(row[5]),
        updated_at=dt_req(row[6]),
    )


def create_dataset(conn: Any, ds: Dataset, tags: dict[str, str], arn: str) -> Dataset:
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


def get_dataset(conn: Any, instance_id: str, namespace: str, name: str) -> Dataset | None:
    row = conn.execute(
        f"SELECT {_DS_COLS} FROM sl_datasets WHERE instance_id = ? AND namespace = ? AND name = ?",
        (instance_id, namespace, name),
    ).fetchone()
    return _dataset(row) if row else None


def list_datasets(
    conn: Any, instance_id: str, namespace: str, after: str | None, limit: int
) -> list[Dataset]:
    rows = conn.execute(
        f"SELECT {_DS_COLS} FROM sl_datasets WHERE instance_id = ? AND namespace = ? AND name > ?"
        " ORDER BY name LIMIT ?",
        (instance_id, namespace, after or "", limit),
    )
    return [_dataset(r) for r in rows.fetchall()]


def update_dataset(
    conn: Any, instance_id: str, namespace: str, name: str, description: str | None, at: datetime
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


def delete_dataset(conn: Any, instance_id: str, namespace: str, name: str, arn: str) -> None:
    cur = conn.execute(
        "DELETE FROM sl_datasets WHERE instance_id = ? AND namespace = ? AND name = ?",
        (instance_id, namespace, name),
    )
    if not cur.rowcount:
        raise NotFound(name)
    _drop_tags_under(conn, arn)
