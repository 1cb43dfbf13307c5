"""Signing out of the console holds in every API process of ``serve --workers`` and after a
restart: the store keeps it, not the process that answered the sign-out."""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from supplylake.testing import ServerHandle, running_server

COOKIE = "supplylake_console"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _open(url: str, cookies: dict[str, str], form: dict[str, str] | None = None) -> tuple[int, str]:
    """One request on a connection of its own (so the kernel may pick any API process); the
    cookies it sets are kept in ``cookies``."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data)
    if cookies:
        request.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()))
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            status, headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:  # 3xx without following, 4xx
        status, headers, body = err.code, err.headers, err.read()
    for header in headers.get_all("set-cookie") or []:
        name, _, rest = header.partition("=")
        cookies[name] = rest.split(";", 1)[0]
    return status, body.decode()


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def _sign_in(server: ServerHandle) -> dict[str, str]:
    console = f"{server.endpoint}/console"
    cookies: dict[str, str] = {}
    status, page = _open(f"{console}/sign-in", cookies)
    assert status == 200
    status, _ = _open(
        f"{console}/sign-in",
        cookies,
        {
            "csrf": _csrf(page),
            "next": "/console/",
            "access_key_id": server.access_key_id,
            "secret_access_key": server.secret_access_key,
        },
    )
    assert status == 303 and COOKIE in cookies
    return cookies


def _signed_in(server: ServerHandle, cookie: str) -> bool:
    status, _ = _open(f"{server.endpoint}/console/", {COOKIE: cookie})
    assert status in (200, 303)
    return status == 200


def _sign_out(server: ServerHandle, cookies: dict[str, str]) -> None:
    status, page = _open(f"{server.endpoint}/console/", cookies)
    assert status == 200
    status, _ = _open(f"{server.endpoint}/console/sign-out", cookies, {"csrf": _csrf(page)})
    assert status == 303


def test_a_signed_out_cookie_is_refused_by_every_worker_and_after_a_restart(
    tmp_path: Path,
) -> None:
    with running_server(data_dir=tmp_path, workers=2, loader="false") as server:
        ending, staying = _sign_in(server), _sign_in(server)
        cookie = ending[COOKIE]
        assert all(_signed_in(server, cookie) for _ in range(10))
        _sign_out(server, ending)
        # Each request on a new connection: with two processes, one process's memory would let
        # about half of these in.
        assert not any(_signed_in(server, cookie) for _ in range(20))
        assert all(_signed_in(server, staying[COOKIE]) for _ in range(10))
    with running_server(data_dir=tmp_path, loader="false") as again:
        assert _signed_in(again, staying[COOKIE])  # the key and the other session still hold
        assert not _signed_in(again, cookie)
