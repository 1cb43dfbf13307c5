"""The ASGI application: health, then SigV4, routing, parsing, access, the handler, the answer.

The AWS API and ``/health`` are served by plain ASGI callables, without Starlette's request,
response and routing objects: on a 1 KB event these cost more than the API's own work. Starlette
serves what is left (``/openapi.json``, ``/metrics``, the console) and runs the lifespan.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from supplylake import metrics
from supplylake.auth.access import Grant, check_access
from supplylake.auth.sigv4 import SignedRequest, parse_authorization, verify
from supplylake.aws import parser, serializer, validation
from supplylake.aws.errors import (
    InternalServerException,
    NotImplementedException,
    RequestEntityTooLargeException,
    RequestTimeoutException,
    ServiceError,
    UnrecognizedClientException,
)
from supplylake.aws.openapi import openapi_document
from supplylake.aws.parser import parse_request
from supplylake.aws.router import Router
from supplylake.aws.serializer import Headers, serialize_error, serialize_response
from supplylake.aws.validation import validate
from supplylake.body import BodyDeadlines, BodyTooLarge, read_body
from supplylake.console import console_routes
from supplylake.service.arns import instance_arn, parse_arn
from supplylake.service.blocking import blocking
from supplylake.service.clock import now
from supplylake.service.context import RequestContext, Services
from supplylake.service.ids import random_uuid
from supplylake.service.registry import HANDLERS
from supplylake.store.base import StoreUnavailable

log = logging.getLogger("supplylake.api")

#: Paths Starlette serves (with any method: a wrong one gets its 405); all others are the API's.
_SITE_PATHS = frozenset(
    {"/openapi.json", "/openapi.json/", "/metrics", "/metrics/", "/console", "/health/"}
)
_CONSOLE = "/console/"


async def _respond(send: Send, status: int, headers: Headers, payload: bytes) -> None:
    raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    if status >= 200 and status not in (204, 304):
        raw.append((b"content-length", str(len(payload)).encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


def _resource(ctx: RequestContext, op_name: str, params: dict[str, Any]) -> tuple[str | None, str]:
    """The instance a request acts on and the ARN named in access decisions."""
    if "resource_arn" in params:
        arn = str(params["resource_arn"])
        try:
            return parse_arn(arn).instance_id, arn
        except ServiceError:
            return None, arn
    instance_id = params.get("instance_id")
    if instance_id is None:
        return None, f"arn:aws:scn:{ctx.region}:{ctx.account_id}:instance/*"
    return instance_id, instance_arn(ctx.region, ctx.account_id, instance_id)


class Api:
    """The AWS Supply Chain API endpoint (every path except the service's own), as ASGI."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.router = Router()
        # Everything compiled from the model is built now, so no request pays for it.
        for operation in self.router.operations:
            parser.prepare(operation)
            validation.prepare(operation.input_shape)
            serializer.prepare(operation)
        # The metric children of each label set, looked up once (labels() is not free).
        self._counted: dict[tuple[str, int, str], Any] = {}
        self._timed: dict[str, Any] = {}
        self._deadlines = BodyDeadlines(services.settings.body_timeout_seconds)

    async def authenticate(self, signed: SignedRequest, request_id: str) -> RequestContext:
        auth = parse_authorization(signed)
        cache = self.services.cache
        # A key read within ``cache_seconds`` is used as is; only a miss waits for the store.
        key = cache.fresh_key(auth.access_key_id)
        if key is None:
            key = await blocking(cache.key, auth.access_key_id)
        if key is None or key.revoked_at is not None:
            raise UnrecognizedClientException(
                "The security token included in the request is invalid."
            )
        verify(signed, auth, key.secret_access_key, now())
        grant = Grant(actions=key.actions, instances=key.instances)
        return RequestContext(key.account_id, key.access_key_id, auth.region, request_id, grant)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = random_uuid()
        started = time.perf_counter()
        op_name = "-"
        key_id = "-"
        code = ""
        settings = self.services.settings
        try:
            # HTTP header bytes are latin-1 by definition; the first of repeated headers counts.
            header_list = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
            headers = {name.lower(): value for name, value in reversed(header_list)}
            deadlines = self._deadlines
            if deadlines.timeout != settings.body_timeout_seconds:
                deadlines = self._deadlines = BodyDeadlines(settings.body_timeout_seconds)
            try:
                body = await read_body(
                    receive, headers.get("content-length"), settings.max_body_bytes, deadlines
                )
            except BodyTooLarge:
                raise RequestEntityTooLargeException(
                    f"The request body is larger than {settings.max_body_bytes} bytes."
                ) from None
            except TimeoutError:
                raise RequestTimeoutException(
                    "The request body did not arrive within "
                    f"{settings.body_timeout_seconds:g} seconds."
                ) from None
            except ClientDisconnect:
                # Nobody is left to answer (uvicorn may have answered a broken body already):
                # not a fault of the service, so neither a 500 in the metrics nor a traceback.
                log.info("request %s: the client left before its body arrived", request_id)
                return
            signed = SignedRequest.from_scope(scope, body, header_list)
            ctx = await self.authenticate(signed, request_id)
            key_id = ctx.access_key_id
            operation, uri_params = self.router.match(signed.method, signed.raw_path)
            op_name = operation.name
            query_string: bytes = scope.get("query_string", b"")
            query = (
                parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
                if query_string
                else []
            )
            params = parse_request(operation, uri_params, query, headers, body)
            validate(operation.input_shape, params)
            instance_id, arn = _resource(ctx, op_name, params)
            check_access(ctx.grant, f"scn:{op_name}", instance_id, arn, principal=ctx.access_key_id)
            handler = HANDLERS.get(op_name)
            if handler is None:
                raise NotImplementedException(f"{op_name} is not implemented by supplylake yet.")
            output = await handler(self.services, ctx, params)
            status, out_headers, payload = serialize_response(operation, output, request_id)
        except ServiceError as err:
            code = err.code
            status, out_headers, payload = serialize_error(err, request_id)
        except StoreUnavailable as exc:
            # A fault of the store, not of the request: say so, so that the caller retries.
            log.warning("request %s (%s) not stored: %s", request_id, op_name, exc)
            internal = InternalServerException(
                "The service cannot store requests right now and did not acknowledge this one; "
                "retry with backoff (with the same clientToken if it has one). "
                f"Request id {request_id}."
            )
            code = internal.code
            status, out_headers, payload = serialize_error(internal, request_id)
        except Exception:
            log.exception("request %s (%s) failed", request_id, op_name)
            internal = InternalServerException(
                f"An internal error occurred; request id {request_id}."
            )
            code = internal.code
            status, out_headers, payload = serialize_error(internal, request_id)
        elapsed = time.perf_counter() - started
        self._observe(op_name, status, code, elapsed)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "request_id=%s operation=%s key=%s status=%d ms=%.1f",
                request_id,
                op_name,
                key_id,
                status,
                elapsed * 1000,
            )
        await _respond(send, status, out_headers, payload)

    def _observe(self, op_name: str, status: int, code: str, elapsed: float) -> None:
        counter = self._counted.get((op_name, status, code))
        if counter is None:
            counter = self._counted[(op_name, status, code)] = metrics.REQUESTS.labels(
                op_name, str(status), code
            )
        counter.inc()
        timer = self._timed.get(op_name)
        if timer is None:
            timer = self._timed[op_name] = metrics.REQUEST_SECONDS.labels(op_name)
        timer.observe(elapsed)


class _Server(Starlette):
    """Starlette for the service's own pages, with the API and ``/health`` served beside it.

    Those two skip Starlette's routing, request and response objects, but not the middleware
    added with ``add_middleware``: it wraps them too.
    """

    def __init__(self, api: Api, ready: asyncio.Event, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._api = api
        self._ready = ready
        self._lean_stack: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            health = path == "/health"
            if (health and scope["method"] in ("GET", "HEAD")) or (
                not health and path not in _SITE_PATHS and not path.startswith(_CONSOLE)
            ):
                if self._lean_stack is None:
                    stack: ASGIApp = self._lean
                    for cls, args, kwargs in reversed(self.user_middleware):
                        stack = cls(stack, *args, **kwargs)
                    self._lean_stack = stack
                await self._lean_stack(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _lean(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] != "/health":
            await self._api(scope, receive, send)
        elif self._ready.is_set():
            await _respond(send, 200, _HEALTH_HEADERS, b'{"status":"ok"}')
        else:
            await _respond(send, 503, _HEALTH_HEADERS, b'{"status":"starting"}')


_HEALTH_HEADERS: Headers = [("content-type", "application/json")]


def create_app(services: Services, on_startup: Any = None, on_shutdown: Any = None) -> Starlette:
    """The ASGI app for ``services``; the hooks run in its lifespan."""
    ready = asyncio.Event()
    api = Api(services)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if on_startup is not None:
            await on_startup()
        ready.set()
        try:
            yield
        finally:
            ready.clear()
            if on_shutdown is not None:
                await on_shutdown()

    async def openapi(_: Request) -> Response:
        return JSONResponse(openapi_document())

    async def metrics_endpoint(_: Request) -> Response:
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4")

    async def health(_: Request) -> Response:
        if not ready.is_set():
            return JSONResponse({"status": "starting"}, status_code=503)
        return JSONResponse({"status": "ok"})

    routes = [
        # GET and HEAD are answered before Starlette sees them (see _Server); listed here so
        # that other methods get Starlette's 405, as on its other pages.
        Route("/health", health, methods=["GET", "HEAD"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        *console_routes(services),
    ]
    app = _Server(api, ready, routes=routes, lifespan=lifespan)

    # Whatever reaches Starlette and matches none of its routes is for the AWS API too, and gets
    # an AWS-shaped answer, whatever its method and path.
    async def not_routed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await api(scope, receive, send)
        else:
            await app.router.not_found(scope, receive, send)

    app.router.default = not_routed
    return app
