"""SQL shared by the store backends: schema migrations and one function per store operation.

Functions take a DB-API connection inside the caller's transaction. Placeholders are ``?``
(SQLite); other backends translate them.
"""

from __future__ import annotations

import secrets as _secrets
import time
from datetime import UTC, datetime
from typing import Any

from supplylake.schema.types import Operation
from supplylake.store._codec import (
    dt,
    dt_req,
    schema_from_json,
    schema_to_json,
    ts,
    tuple_from_json,
    tuple_to_json,
)
from supplylake.store.base import (
    AccessKey,
    AlreadyExists,
    AppendResult,
    Dataset,
    DatasetRef,
    Event,
    IdempotencyKey,
    Instance,
    Namespace,
    NewEvent,
    NotFound,
    Outcome,
    PendingQuotaExceeded,
    StoreError,
    TokenConflict,
)

SQLITE = "sqlite"

_MIGRATIONS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS sl_meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS sl_keys (
        access_key_id TEXT PRIMARY KEY, secret_access_key TEXT NOT NULL, account_id TEXT NOT NULL,
        is_root INTEGER NOT NULL, actions TEXT NOT NULL, instances TEXT NOT NULL,
        description TEXT NOT NULL, created_at REAL NOT NULL, revoked_at REAL);
    CREATE TABLE IF NOT EXISTS sl_instances (
        instance_id TEXT PRIMARY KEY, account_id TEXT NOT NULL, region TEXT NOT NULL,
        state TEXT NOT NULL, name TEXT, description TEXT, kms_key_arn TEXT,
        web_app_dns_domain TEXT, error_message TEXT, version REAL NOT NULL,
        created_at REAL NOT NULL, updated_at REAL NOT NULL, pending INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX IF NOT EXISTS sl_instances_account ON sl_instances (account_id, instance_id);
    CREATE TABLE IF NOT EXISTS sl_namespaces (
        instance_id TEXT NOT NULL REFERENCES sl_instances (instance_id), name TEXT NOT NULL,
        description TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL,
        PRIMARY KEY (instance_id, name));
    CREATE TABLE IF NOT EXISTS sl_datasets (
        instance_id TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
        description TEXT, schema TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
        PRIMARY KEY (instance_id, namespace, name),
        FOREIGN KEY (instance_id, namespace) REFERENCES sl_namespaces (instance_id, name));
    CREATE TABLE IF NOT EXISTS sl_tags (
        arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (arn, key));
    CREATE TABLE IF NOT EXISTS sl_events (
        position INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
        instance_id TEXT NOT NULL, event_type TEXT NOT NULL, event_group_id TEXT NOT NULL,
        event_timestamp REAL NOT NULL, namespace TEXT NOT NULL, dataset TEXT NOT NULL,
        operation TEXT NOT NULL, data TEXT NOT NULL, status TEXT NOT NULL, message TEXT,
        received_at REAL NOT NULL, applied_at REAL);
    CREATE INDEX IF NOT EXISTS sl_events_instance ON sl_events (instance_id, position);
    CREATE INDEX IF NOT EXISTS sl_events_type ON sl_events (instance_id, event_type, position);
    CREATE INDEX IF NOT EXISTS sl_events_pending ON sl_events (instance_id, namespace, dataset, position)
        WHERE status = 'IN_PROGRESS';
    CREATE INDEX IF NOT EXISTS sl_events_received ON sl_events (received_at);
    CREATE TABLE IF NOT EXISTS sl_tokens (
        scope TEXT NOT NULL, token TEXT NOT NULL, request_hash TEXT NOT NULL,
        result TEXT NOT NULL, expires_at REAL NOT NULL, PRIMARY KEY (scope, token));
    CREATE INDEX IF NOT EXISTS sl_tokens_expiry ON sl_tokens (expires_at);
    """,
]


def migrate(conn: Any, dialect: str) -> None:
    """Bring the schema to the newest version; each step runs once, in order."""
    conn.execute("CREATE TABLE IF NOT EXISTS sl_schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT max(version) FROM sl_schema_version").fetchone()
    current = row[0] or 0
    for version, script in enumerate(_MIGRATIONS, start=1):
        if version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("INSERT INTO sl_schema_version (version) VALUES (?)", (version,))
        conn.execute("COMMIT")


# -- meta ---------------------------------------------------------------------------------
def get_secret(conn: Any, name: str) -> bytes | None:
    row = conn.execute("SELECT value FROM sl_meta WHERE name = ?", (name,)).fetchone()
    return bytes(row[0]) if row else None


def ensure_secret(conn: Any, name: str) -> bytes:
    conn.execute(
        "INSERT INTO sl_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        (name, _secrets.token_bytes(32)),
    )
    found = get_secret(conn, name)
    assert found is not None
    return found


# -- keys ---------------------------------------------------------------------------------
_KEY_COLS = (
    "access_key_id, secret_access_key, account_id, is_root, actions, instances, description,"
    " created_at, revoked_at"
)


def _key(row: Any) -> AccessKey:
    return AccessKey(
        access_key_id=row[0],
        secret_access_key=row[1],
        account_id=row[2],
        is_root=bool(row[3]),
        actions=tuple_from_json(row[4]),
        instances=tuple_from_json(row[5]),
        description=row[6],
        created_at=dt_req(row[7]),
        revoked_at=dt(row[8]),
    )


def put_key(conn: Any, key: AccessKey) -> None:
    conn.execute(
        f"INSERT INTO sl_keys ({_KEY_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (access_key_id) DO UPDATE SET secret_access_key = excluded.secret_access_key,"
        " account_id = excluded.account_id, is_root = excluded.is_root, actions = excluded.actions,"
        " instances = excluded.instances, description = excluded.description,"
        " revoked_at = excluded.revoked_at",
        (
            key.access_key_id,
            key.secret_access_key,
            key.account_id,
            int(key.is_root),
            tuple_to_json(key.actions),
            tuple_to_json(key.instances),
            key.description,
            ts(key.created_at),
            ts(key.revoked_at),
        ),
    )


def get_key(conn: Any, access_key_id: str) -> AccessKey | None:
    row = conn.execute(
        f"SELECT {_KEY_COLS} FROM sl_keys WHERE access_key_id = ?", (access_key_id,)
    ).fetchone()
    return _key(row) if row else None


def list_keys(conn: Any) -> list[AccessKey]:
    rows = conn.execute(f"SELECT {_KEY_COLS} FROM sl_keys ORDER BY created_at, access_key_id")
    return [_key(r) for r in rows.fetchall()]


def revoke_key(conn: Any, access_key_id: str, at: datetime) -> bool:
    cur = conn.execute(
        "UPDATE sl_keys SET revoked_at = ? WHERE access_key_id = ? AND revoked_at IS NULL",
        (ts(at), access_key_id),
    )
    return bool(cur.rowcount)


# -- idempotency --------------------------------------------------------------------------
def _claim_token(conn: Any, idem: IdempotencyKey) -> str | None:
    """The result of an earlier request with this token, or None if the token is fresh."""
    row = conn.execute(
        "SELECT request_hash, result FROM sl_tokens WHERE scope = ? AND token = ? AND expires_at > ?",
        (idem.scope, idem.token, time.time()),
    ).fetchone()
    if row is None:
        return None
    if row[0] != idem.request_hash:
        raise TokenConflict(idem.token)
    return str(row[1])


def _record_token(conn: Any, idem: IdempotencyKey, result: str) -> None:
    conn.execute(
        "INSERT INTO sl_tokens (scope, token, request_hash, result, expires_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (scope, token) DO UPDATE SET request_hash = excluded.request_hash,"
        " result = excluded.result, expires_at = excluded.expires_at",
        (idem.scope, idem.token, idem.request_hash, result, ts(idem.expires_at)),
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
        earlier = _claim_token(conn, idem)
        if earlier is not None:
            found = get_instance(conn, earlier)
            if found is not None:
                return found
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
    if idem is not None:
        _record_token(conn, idem, inst.instance_id)
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


# -- events -------------------------------------------------------------------------------
_EV_COLS = (
    "position, event_id, instance_id, event_type, event_group_id, event_timestamp, namespace,"
    " dataset, operation, status, received_at, message, applied_at"
)


def _event(row: Any, data: str | None = None) -> Event:
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
        status=row[9],
        received_at=dt_req(row[10]),
        message=row[11],
        applied_at=dt(row[12]),
        data=data,
    )


def append_event(
    conn: Any, ev: NewEvent, idem: IdempotencyKey | None, max_pending: int
) -> AppendResult:
    if idem is not None:
        earlier = _claim_token(conn, idem)
        if earlier is not None:
            pos = conn.execute(
                "SELECT position FROM sl_events WHERE event_id = ?", (earlier,)
            ).fetchone()
            return AppendResult(event_id=earlier, position=pos[0] if pos else 0, replayed=True)
    row = conn.execute(
        "SELECT pending FROM sl_instances WHERE instance_id = ?", (ev.instance_id,)
    ).fetchone()
    if row is None:
        raise NotFound(ev.instance_id)
    if row[0] >= max_pending:
        raise PendingQuotaExceeded(ev.instance_id)
    cur = conn.execute(
        "INSERT INTO sl_events (event_id, instance_id, event_type, event_group_id,"
        " event_timestamp, namespace, dataset, operation, data, status, received_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'IN_PROGRESS', ?)",
        (
            ev.event_id,
            ev.instance_id,
            ev.event_type,
            ev.event_group_id,
            ts(ev.event_timestamp),
            ev.namespace,
            ev.dataset,
            ev.operation.value,
            ev.data,
            ts(ev.received_at),
        ),
    )
    conn.execute(
        "UPDATE sl_instances SET pending = pending + 1 WHERE instance_id = ?", (ev.instance_id,)
    )
    if idem is not None:
        _record_token(conn, idem, ev.event_id)
    return AppendResult(event_id=ev.event_id, position=int(cur.lastrowid))


def get_event(conn: Any, instance_id: str, event_id: str, with_data: bool) -> Event | None:
    row = conn.execute(
        f"SELECT {_EV_COLS}, {'data' if with_data else 'NULL'} FROM sl_events"
        " WHERE event_id = ? AND instance_id = ?",
        (event_id, instance_id),
    ).fetchone()
    return _event(row, row[13]) if row else None


def list_events(
    conn: Any, instance_id: str, event_type: str | None, before: int | None, limit: int
) -> list[Event]:
    sql = f"SELECT {_EV_COLS} FROM sl_events WHERE instance_id = ? AND position < ?"
    args: list[Any] = [instance_id, before if before is not None else 2**62]
    if event_type is not None:
        sql += " AND event_type = ?"
        args.append(event_type)
    sql += " ORDER BY position DESC LIMIT ?"
    args.append(limit)
    return [_event(r) for r in conn.execute(sql, args).fetchall()]


def pending_datasets(conn: Any) -> list[DatasetRef]:
    rows = conn.execute(
        "SELECT DISTINCT instance_id, namespace, dataset FROM sl_events"
        " WHERE status = 'IN_PROGRESS'"
    )
    return [DatasetRef(r[0], r[1], r[2]) for r in rows.fetchall()]


def pending_events(conn: Any, ref: DatasetRef, limit: int) -> list[Event]:
    rows = conn.execute(
        f"SELECT {_EV_COLS}, data FROM sl_events WHERE instance_id = ? AND namespace = ?"
        " AND dataset = ? AND status = 'IN_PROGRESS' ORDER BY position LIMIT ?",
        (ref.instance_id, ref.namespace, ref.name, limit),
    )
    return [_event(r, r[13]) for r in rows.fetchall()]


def complete_events(conn: Any, outcomes: list[Outcome], at: datetime) -> None:
    for o in outcomes:
        row = conn.execute(
            "UPDATE sl_events SET status = ?, message = ?, applied_at = ?"
            " WHERE position = ? AND status = 'IN_PROGRESS' RETURNING instance_id",
            (o.status, o.message, ts(at), o.position),
        ).fetchone()
        if row is not None:
            conn.execute(
                "UPDATE sl_instances SET pending = max(pending - 1, 0) WHERE instance_id = ?",
                (row[0],),
            )


def purge_events(conn: Any, received_before: datetime, tokens_expired_before: datetime) -> int:
    cur = conn.execute(
        "DELETE FROM sl_events WHERE received_at < ? AND status != 'IN_PROGRESS'",
        (ts(received_before),),
    )
    conn.execute("DELETE FROM sl_tokens WHERE expires_at < ?", (ts(tokens_expired_before),))
    return int(cur.rowcount)


def now() -> datetime:
    return datetime.now(UTC)
