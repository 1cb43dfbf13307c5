"""Idempotency tokens: a request's token is claimed in the same transaction as its effect.

The claim is one ``INSERT ... ON CONFLICT`` that takes the token when it is new or expired and
otherwise leaves the live row alone. On PostgreSQL a racing claim of the same token by another
process waits for the first transaction and then sees its row, so two processes never both take
a token; if the caller's job fails, its savepoint rolls the claim back with everything else.
"""

from __future__ import annotations

import time

from supplylake.store.base import IdempotencyKey, StoreError, TokenConflict
from supplylake.store.codec import ts
from supplylake.store.sql.connection import Connection


def claim_token(conn: Connection, idem: IdempotencyKey, result: str) -> str | None:
    """Take the token for ``result``; if it is live already, the result it was first used for.

    Raises TokenConflict if the live token was used for a different request.
    """
    for _ in range(3):
        taken = conn.execute(
            "INSERT INTO sl_tokens (scope, token, request_hash, result, expires_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, token) DO UPDATE SET"
            " request_hash = excluded.request_hash, result = excluded.result,"
            " expires_at = excluded.expires_at WHERE sl_tokens.expires_at <= ? RETURNING result",
            (idem.scope, idem.token, idem.request_hash, result, ts(idem.expires_at), time.time()),
        ).fetchone()
        if taken is not None:
            return None
        row = conn.execute(
            "SELECT request_hash, result FROM sl_tokens WHERE scope = ? AND token = ?",
            (idem.scope, idem.token),
        ).fetchone()
        if row is None:
            continue  # purged between the two statements: claim it again
        if row[0] != idem.request_hash:
            raise TokenConflict(idem.token)
        return str(row[1])
    raise StoreError(f"could not claim the token {idem.token!r}")


def retarget_token(conn: Connection, idem: IdempotencyKey, result: str) -> None:
    """Point a live token at a new result (its first result is gone)."""
    conn.execute(
        "UPDATE sl_tokens SET result = ? WHERE scope = ? AND token = ?",
        (result, idem.scope, idem.token),
    )
