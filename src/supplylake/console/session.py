"""Console sessions: a signed cookie that names an access key, with its expiry and CSRF token.

The cookie holds no secret: only the key id, a fingerprint of the key's secret, a random session
id and the expiry, signed (HMAC-SHA256) with the server secret ``console-session``. The key is
read from the store on every request, so revoking it ends its sessions at once, and replacing its
secret does too (the fingerprint no longer matches). Signing out is kept by the store
(`Store.end_session`) until the session would have expired anyway, so it holds in every API
process of `serve --workers` and across restarts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass

import orjson
from starlette.requests import HTTPConnection

from supplylake.store.base import AccessKey

COOKIE = "supplylake_console"
#: Double-submit token of the sign-in form, which has no session yet to tie a token to.
SIGN_IN_COOKIE = "supplylake_console_sign_in"
LIFETIME_SECONDS = 8 * 3600
_MAC_BYTES = 32
_DUMMY_SECRET = secrets.token_bytes(40)


@dataclass(frozen=True)
class Session:
    session_id: str
    access_key_id: str
    fingerprint: str
    expires_at: int


class Sessions:
    """Issues and checks session cookies signed with ``secret``."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def fingerprint(self, key: AccessKey) -> str:
        message = f"{key.access_key_id}\n{key.secret_access_key}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def issue(self, key: AccessKey, now: float | None = None) -> tuple[Session, str]:
        """A new session for ``key`` and its cookie value."""
        issued = int(time.time() if now is None else now)
        session = Session(
            session_id=secrets.token_urlsafe(18),
            access_key_id=key.access_key_id,
            fingerprint=self.fingerprint(key),
            expires_at=issued + LIFETIME_SECONDS,
        )
        payload = orjson.dumps(
            [session.session_id, session.access_key_id, session.fingerprint, session.expires_at]
        )
        return session, _b64(payload) + "." + _b64(self._mac(b"session\n" + payload))

    def read(self, value: str | None, now: float | None = None) -> Session | None:
        """The session in a cookie value, or None if it is forged or expired. Whether it was
        signed out is the store's to say (`Store.session_ended`): sign-outs hold in every
        process and across restarts."""
        if not value or value.count(".") != 1:
            return None
        encoded, mac = value.split(".")
        try:
            payload, given = _unb64(encoded), _unb64(mac)
        except ValueError:
            return None
        if not hmac.compare_digest(given, self._mac(b"session\n" + payload)):
            return None
        try:
            session_id, key_id, fingerprint, expires_at = orjson.loads(payload)
            session = Session(str(session_id), str(key_id), str(fingerprint), int(expires_at))
        except (orjson.JSONDecodeError, TypeError, ValueError):
            return None
        if session.expires_at <= (time.time() if now is None else now):
            return None
        return session

    def valid_for(self, session: Session, key: AccessKey | None) -> bool:
        """Whether the session's key still exists, is not revoked and has the same secret."""
        return (
            key is not None
            and key.revoked_at is None
            and hmac.compare_digest(session.fingerprint, self.fingerprint(key))
        )

    def csrf_token(self, session: Session) -> str:
        """The token that POST forms of this session must carry."""
        return _b64(self._mac(b"csrf\n" + session.session_id.encode())[:24])

    def check_csrf(self, session: Session, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(
            token.encode(), self.csrf_token(session).encode()
        )

    def _mac(self, message: bytes) -> bytes:
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_MAC_BYTES]


def secret_matches(key: AccessKey | None, secret: str) -> bool:
    """Whether ``secret`` is the key's secret, in constant time; unknown or revoked keys never match."""
    expected = _DUMMY_SECRET if key is None else key.secret_access_key.encode()
    same = hmac.compare_digest(secret.encode(), expected)
    return same and key is not None and key.revoked_at is None


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cookie_secure(conn: HTTPConnection) -> bool:
    """Secure cookies over https, and everywhere but loopback (where http is the local default)."""
    return conn.url.scheme == "https" or not is_loopback(conn.url.hostname)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("not base64") from exc
