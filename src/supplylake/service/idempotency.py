"""Client tokens: a retry with the same token and request is answered as the first was.

A token is remembered with a digest of its request (`request_hash`), so a retry can be told
from a different request that reuses the token (answered ``ConflictException``).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import orjson

from supplylake.store.base import IdempotencyKey


def request_hash(params: dict[str, Any], exclude: tuple[str, ...] = ("client_token",)) -> str:
    """A stable digest of a request, to tell a retry from a different request with one token."""
    body = {k: v for k, v in params.items() if k not in exclude}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


def idempotency_key(
    scope: str, params: dict[str, Any], at: datetime, ttl_hours: float
) -> IdempotencyKey | None:
    """The key that remembers this request's ``client_token`` in ``scope``; None without one."""
    token = params.get("client_token")
    if not token:
        return None
    return IdempotencyKey(
        scope=scope,
        token=token,
        request_hash=request_hash(params),
        expires_at=at + timedelta(hours=ttl_hours),
    )
