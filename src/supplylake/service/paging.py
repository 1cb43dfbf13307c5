"""Paging of List requests: how many items a page holds, and opaque, signed page tokens that a
client can pass back but cannot forge or reuse elsewhere."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from supplylake.aws.errors import ValidationException
from supplylake.service.context import Services

_MAC_BYTES = 16
#: AWS answers 10 per page when maxResults is left out (the model's default).
_DEFAULT_PAGE = 10

T = TypeVar("T")


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


@dataclass(frozen=True)
class PageRequest:
    """What a List request asks for: how many items, and where its nextToken resumes."""

    limit: int
    #: What the previous page's last item gave as its cursor; None on the first page.
    cursor: object
    scope: str
    secret: bytes

    @property
    def after_name(self) -> str | None:
        """For a listing in name order: the last name of the previous page, if any."""
        return None if self.cursor is None else str(self.cursor)

    def answer(
        self,
        member: str,
        items: Sequence[T],
        to_api: Callable[[T], Any],
        cursor_of: Callable[[T], object],
        shown: Callable[[T], bool] | None = None,
    ) -> dict[str, Any]:
        """The page of ``items`` (fetched one past ``limit``, to know whether more follow):
        ``member`` holds those of the first ``limit`` that are ``shown``, and ``next_token``
        resumes after the last of them when more follow."""
        first = items[: self.limit]
        out: dict[str, Any] = {member: [to_api(i) for i in first if shown is None or shown(i)]}
        if len(items) > self.limit:
            out["next_token"] = encode_token(self.secret, self.scope, cursor_of(first[-1]))
        return out


async def page_request(svc: Services, params: dict[str, Any], scope: str) -> PageRequest:
    """The page a List request asks for; ``scope`` names the listing with its filters, so a
    token of another listing is refused."""
    secret = await svc.secret("page-token")
    token = params.get("next_token")
    cursor = decode_token(secret, scope, token) if token else None
    return PageRequest(params.get("max_results") or _DEFAULT_PAGE, cursor, scope, secret)
