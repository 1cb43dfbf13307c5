"""Opaque, signed page tokens: a client can pass them back but cannot forge or reuse them elsewhere."""

from __future__ import annotations

import base64
import hashlib
import hmac

import orjson

from supplylake.aws.errors import ValidationException

_MAC_BYTES = 16


def encode_token(secret: bytes, scope: str, cursor: object) -> str:
    """A token that resumes a listing of ``scope`` (operation and its filters) after ``cursor``."""
    payload = orjson.dumps([scope, cursor])
    mac = hmac.new(secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(mac + payload).decode().rstrip("=")


def decode_token(secret: bytes, scope: str, token: str) -> object:
    """The cursor inside ``token``; ValidationException if it was not issued for this listing."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        mac, payload = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
        good = hmac.compare_digest(
            mac, hmac.new(secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]
        )
        token_scope, cursor = orjson.loads(payload) if good else (None, None)
    except (ValueError, orjson.JSONDecodeError):
        good, token_scope, cursor = False, None, None
    if not good or token_scope != scope:
        raise ValidationException(
            "The nextToken is invalid: pass the nextToken of the previous page of the same request."
        )
    return cursor
