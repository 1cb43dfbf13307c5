"""Sign-in with an access key id and secret, and sign-out."""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from supplylake.console.session import (
    COOKIE,
    LIFETIME_SECONDS,
    SIGN_IN_COOKIE,
    cookie_secure,
    is_loopback,
    secret_matches,
)
from supplylake.console.web import (
    Console,
    FormTooLarge,
    Viewer,
    base_path,
    form_data,
    same_origin,
)
from supplylake.service.blocking import blocking

_MAX_FIELD = 256


def _next(request: Request, raw: object) -> str:
    """Where to go after signing in: a console path, never another site."""
    base = base_path(request)
    if isinstance(raw, str) and raw.startswith(base + "/") and "//" not in raw and "\\" not in raw:
        return raw
    return base + "/"


def _set_cookie(request: Request, response: Response, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        path=base_path(request) or "/",
        secure=cookie_secure(request),
        httponly=True,
        samesite="strict",
    )


def routes(console: Console) -> dict[str, Any]:
    store = console.services.store

    def form(request: Request, next_path: str, status: int = 200, **extra: Any) -> Response:
        token = secrets.token_urlsafe(24)
        response = console.render(
            request,
            "sign_in.html",
            {
                "csrf": token,
                "next": next_path,
                "insecure": cookie_secure(request) and request.url.scheme != "https",
                "loopback": is_loopback(request.url.hostname),
                **extra,
            },
            status=status,
        )
        _set_cookie(request, response, SIGN_IN_COOKIE, token, 3600)
        return response

    async def sign_in(request: Request) -> Response:
        if request.method == "GET":
            if await console.viewer(request) is not None:
                return RedirectResponse(_next(request, request.query_params.get("next")), 303)
            notice = {"out": "You are signed out.", "expired": "Sign in again."}.get(
                request.query_params.get("m", "")
            )
            return form(request, _next(request, request.query_params.get("next")), notice=notice)
        try:
            data = await form_data(request)
        except FormTooLarge:
            return form(request, base_path(request) + "/", 413, error="The form is too large.")
        next_path = _next(request, data.get("next"))
        token, cookie = data.get("csrf"), request.cookies.get(SIGN_IN_COOKIE)
        if not (
            same_origin(request)
            and isinstance(token, str)
            and cookie
            and hmac.compare_digest(token.encode(), cookie.encode())
        ):
            return form(request, next_path, 403, error="The form expired. Please sign in again.")
        key_id = str(data.get("access_key_id") or "").strip()[:_MAX_FIELD]
        secret = str(data.get("secret_access_key") or "")[:_MAX_FIELD]
        key = await blocking(store.get_key, key_id) if key_id else None
        if not secret_matches(key, secret) or key is None:
            return form(
                request,
                next_path,
                401,
                error="Wrong access key id or secret, or the key was revoked.",
                key_id=key_id,
            )
        _, value = (await console.sessions()).issue(key)
        response = RedirectResponse(next_path, 303)
        _set_cookie(request, response, COOKIE, value, LIFETIME_SECONDS)
        response.delete_cookie(SIGN_IN_COOKIE, path=base_path(request) or "/")
        return response

    async def sign_out(request: Request, viewer: Viewer) -> Response:
        until = datetime.fromtimestamp(viewer.session.expires_at, UTC)
        await blocking(store.end_session, viewer.session.session_id, until)
        response = RedirectResponse(f"{base_path(request)}/sign-in?m=out", 303)
        response.delete_cookie(
            COOKIE,
            path=base_path(request) or "/",
            secure=cookie_secure(request),
            httponly=True,
            samesite="strict",
        )
        return response

    return {"sign_in": sign_in, "sign_out": console.page(sign_out)}
