"""Session cookies: signed, expiring, ended by revocation or a new secret (sign-out: the store's
contract, and test_signout.py across processes)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from supplylake.console.session import (
    LIFETIME_SECONDS,
    Sessions,
    is_loopback,
    secret_matches,
)
from supplylake.store.base import AccessKey

KEY = AccessKey("SLAKAAAAAAAAAAAAAAAA", "s" * 40, "000000000000", datetime.now(UTC))


def test_a_cookie_reads_back_as_its_session() -> None:
    sessions = Sessions(b"k" * 32)
    session, cookie = sessions.issue(KEY, now=1000)
    assert sessions.read(cookie, now=1001) == session
    assert session.access_key_id == KEY.access_key_id
    assert KEY.secret_access_key not in cookie
    assert sessions.valid_for(session, KEY)


@pytest.mark.parametrize(
    "tamper", [lambda c: "x" + c, lambda c: c[:-2], lambda c: c.replace(".", "A.", 1), str.upper]
)
def test_forged_or_damaged_cookies_are_refused(tamper: object) -> None:
    sessions = Sessions(b"k" * 32)
    _, cookie = sessions.issue(KEY, now=1000)
    assert sessions.read(tamper(cookie), now=1001) is None  # type: ignore[operator]
    assert sessions.read(None) is None and sessions.read("") is None


def test_another_server_secret_refuses_the_cookie() -> None:
    _, cookie = Sessions(b"k" * 32).issue(KEY, now=1000)
    assert Sessions(b"j" * 32).read(cookie, now=1001) is None


def test_sessions_expire() -> None:
    sessions = Sessions(b"k" * 32)
    _, cookie = sessions.issue(KEY, now=1000)
    assert sessions.read(cookie, now=1000 + LIFETIME_SECONDS - 1) is not None
    assert sessions.read(cookie, now=1000 + LIFETIME_SECONDS) is None


def test_revoked_or_changed_keys_end_their_sessions() -> None:
    sessions = Sessions(b"k" * 32)
    session, _ = sessions.issue(KEY)
    assert not sessions.valid_for(session, replace(KEY, revoked_at=datetime.now(UTC)))
    assert not sessions.valid_for(session, replace(KEY, secret_access_key="t" * 40))
    assert not sessions.valid_for(session, None)


def test_csrf_tokens_belong_to_one_session() -> None:
    sessions = Sessions(b"k" * 32)
    one, _ = sessions.issue(KEY)
    two, _ = sessions.issue(KEY)
    assert sessions.check_csrf(one, sessions.csrf_token(one))
    assert not sessions.check_csrf(one, sessions.csrf_token(two))
    assert not sessions.check_csrf(one, None)


def test_secret_matches_only_the_right_unrevoked_key() -> None:
    assert secret_matches(KEY, "s" * 40)
    assert not secret_matches(KEY, "s" * 39)
    assert not secret_matches(None, "s" * 40)
    assert not secret_matches(replace(KEY, revoked_at=datetime.now(UTC)), "s" * 40)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("localhost", True), ("[::1]", True),
     ("::1", True), ("10.0.0.5", False), ("example.com", False), (None, False)],
)  # fmt: skip
def test_loopback_hosts(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback
