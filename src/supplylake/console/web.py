"""The console's request plumbing: who is signed in, CSRF checks, rendering and errors."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supplylake.aws.errors import ServiceError
from supplylake.console.access import context_for
from supplylake.console.session import COOKIE, Session, Sessions
from supplylake.service.blocking import blocking
from supplylake.service.context import RequestContext, Services
from supplylake.store.base import AccessKey

log = logging.getLogger("supplylake.console")

#: Largest form body read (the SQL box is the largest field).
MAX_FORM_BYTES = 1024 * 1024

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

#: Everything the console loads comes from itself: no CDN, no inline script.
_SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


@dataclass(frozen=True)
class Viewer:
    """The signed-in key of a request and what it acts as."""

    session: Session
    key: AccessKey
    ctx: RequestContext
    csrf: str


Page = Callable[[Request, Viewer], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


class Console:
    """Shared state of the console app: the services, sessions and templates."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.templates = Jinja2Templates(directory=TEMPLATES)
        self.templates.env.filters["when"] = format_time
        self.templates.env.filters["ago"] = format_age
        self._sessions: Sessions | None = None

    async def sessions(self) -> Sessions:
        if self._sessions is None:
            secret = await blocking(self.services.store.secret, "console-session")
            self._sessions = Sessions(secret)
        return self._sessions

    async def viewer(self, request: Request) -> Viewer | None:
        sessions = await self.sessions()
        session = sessions.read(request.cookies.get(COOKIE))
        if session is None:
            return None
        key = await blocking(self._key_of, session)
        if key is None or not sessions.valid_for(session, key):
            return None
        ctx = context_for(key, self.services.settings.region)
        return Viewer(session, key, ctx, sessions.csrf_token(session))

    def _key_of(self, session: Session) -> AccessKey | None:
        """The session's access key; None if the session was signed out (in any process)."""
        store = self.services.store
        if store.session_ended(session.session_id):
            return None
        return store.get_key(session.access_key_id)

    def render(
        self,
        request: Request,
        template: str,
        context: dict[str, Any],
        viewer: Viewer | None = None,
        status: int = 200,
    ) -> Response:
        values = {"base": base_path(request), "viewer": viewer, **context}
        response = self.templates.TemplateResponse(request, template, values, status_code=status)
        response.headers["cache-control"] = "no-store"
        return response

    def error(
        self, request: Request, viewer: Viewer | None, status: int, title: str, message: str
    ) -> Response:
        return self.render(
            request, "error.html", {"title": title, "message": message}, viewer, status
        )

    def page(self, fn: Page) -> Endpoint:
        """An HTML page for signed-in viewers; POSTs must carry the session's CSRF token."""

        async def endpoint(request: Request) -> Response:
            viewer = await self.viewer(request)
            if viewer is None:
                target = request.url.path
                if request.method == "GET" and request.url.query:
                    target += "?" + request.url.query
                # A cookie that no longer works: it expired, was signed out or its key revoked.
                note = "&m=expired" if COOKIE in request.cookies else ""
                return RedirectResponse(
                    f"{base_path(request)}/sign-in?next={quote(target)}{note}", status_code=303
                )
            if request.method == "POST":
                try:
                    form = await form_data(request)
                except FormTooLarge:
                    return self.error(request, viewer, 413, "Too large", "The form is too large.")
                sessions = await self.sessions()
                if not same_origin(request) or not sessions.check_csrf(
                    viewer.session, form.get("csrf")
                ):
                    return self.error(
                        request,
                        viewer,
                        403,
                        "Form refused",
                        "The form expired or came from another site. Reload the page and try again.",
                    )
            try:
                return await fn(request, viewer)
            except ServiceError as err:
                return self.error(request, viewer, err.status, err.code, err.message)
            except Exception:
                request_id = str(uuid.uuid4())
                log.exception("console request %s (%s) failed", request_id, request.url.path)
                return self.error(
                    request,
                    viewer,
                    500,
                    "Something went wrong",
                    f"An internal error occurred; request id {request_id}.",
                )

        return endpoint

    def json(self, fn: Page) -> Endpoint:
        """A JSON endpoint for the pages' scripts; 401 when the session is gone."""

        async def endpoint(request: Request) -> Response:
            viewer = await self.viewer(request)
            if viewer is None:
                return JSONResponse(
                    {"code": "SignedOut", "message": "Your session ended; sign in again."}, 401
                )
            try:
                response = await fn(request, viewer)
            except ServiceError as err:
                response = JSONResponse({"code": err.code, "message": err.message}, err.status)
            response.headers["cache-control"] = "no-store"
            return response

        return endpoint


class FormTooLarge(Exception):
    pass


async def form_data(request: Request) -> dict[str, str]:
    """The fields of a url-encoded form (the console posts no files); read once per request."""
    cached: dict[str, str] | None = getattr(request.state, "form", None)
    if cached is not None:
        return cached
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLarge
    fields: dict[str, str] = {}
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            fields.setdefault(name, value)
    request.state.form = fields
    return fields


def base_path(request: Request) -> str:
    """Where the console is mounted (``/console``), for links that survive a proxy prefix."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        # Browsers send Origin with every POST; SameSite=Strict and the CSRF token still apply.
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


def format_time(value: datetime | None) -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_age(value: datetime | None, now: datetime | None = None) -> str:
    """``12 s ago``, ``3 min ago``, ``2 h ago`` or ``4 days ago``."""
    if value is None:
        return "never"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = max(0, int(((now or datetime.now(UTC)) - value).total_seconds()))
    if seconds < 90:
        return f"{seconds} s ago"
    if seconds < 90 * 60:
        return f"{seconds // 60} min ago"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


class SecurityHeaders:
    """ASGI middleware adding the console's security headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
