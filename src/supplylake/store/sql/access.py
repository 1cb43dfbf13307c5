"""SQL of server secrets and access keys. Placeholders are ``?``; see :mod:`.dialect`."""

from __future__ import annotations

import secrets as _secrets
from datetime import datetime

from supplylake.store.base import AccessKey
from supplylake.store.codec import dt, dt_req, ts, tuple_from_json, tuple_to_json
from supplylake.store.sql.connection import Connection, Row


def get_secret(conn: Connection, name: str) -> bytes | None:
    row = conn.execute("SELECT value FROM sl_meta WHERE name = ?", (name,)).fetchone()
    return bytes(row[0]) if row else None


def ensure_secret(conn: Connection, name: str) -> bytes:
    conn.execute(
        "INSERT INTO sl_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        (name, _secrets.token_bytes(32)),
    )
    found = get_secret(conn, name)
    assert found is not None
    return found


#: Signed-out console sessions are kept as tokens of this scope until the session would have
#: expired; the purge of expired tokens then drops them.
_SIGNED_OUT = "console:signed-out"


def end_session(conn: Connection, session_id: str, until: float) -> None:
    conn.execute(
        "INSERT INTO sl_tokens (scope, token, request_hash, result, expires_at)"
        " VALUES (?, ?, '', '', ?) ON CONFLICT (scope, token) DO UPDATE SET"
        " expires_at = excluded.expires_at",
        (_SIGNED_OUT, session_id, until),
    )


def session_ended(conn: Connection, session_id: str, now: float) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sl_tokens WHERE scope = ? AND token = ? AND expires_at > ?",
        (_SIGNED_OUT, session_id, now),
    ).fetchone()
    return row is not None


_KEY_COLS = (
    "access_key_id, secret_access_key, account_id, is_root, actions, instances, description,"
    " created_at, revoked_at"
)


def _key(row: Row) -> AccessKey:
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


def put_key(conn: Connection, key: AccessKey) -> None:
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


def get_key(conn: Connection, access_key_id: str) -> AccessKey | None:
    row = conn.execute(
        f"SELECT {_KEY_COLS} FROM sl_keys WHERE access_key_id = ?", (access_key_id,)
    ).fetchone()
    return _key(row) if row else None


def list_keys(conn: Connection) -> list[AccessKey]:
    rows = conn.execute(f"SELECT {_KEY_COLS} FROM sl_keys ORDER BY created_at, access_key_id")
    return [_key(r) for r in rows.fetchall()]


def revoke_key(conn: Connection, access_key_id: str, at: datetime) -> bool:
    cur = conn.execute(
        "UPDATE sl_keys SET revoked_at = ? WHERE access_key_id = ? AND revoked_at IS NULL",
        (ts(at), access_key_id),
    )
    return bool(cur.rowcount)
