"""The ASGI application: health, then SigV4, routing, parsing, access, the handler, the answer."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from supplylake import metrics
from supplylake.auth.access import Grant, check_access
from supplylake.auth.sigv4 import SignedRequest, parse_authorization, verify
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
from supplylake.aws.serializer import serialize_error, serialize_response
from supplylake.aws.validation import validate
from supplylake.console import console_routes
from supplylake.service.core import RequestContext, Services, instance_arn, now
from supplylake.service.registry import HANDLERS
from supplylake.service.tags import parse_arn

log = logging.getLogger("supplylake.api")

_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]


class _TooLarge(Exception):
    pass


#: A body that takes longer than this to arrive is refused (a slow client holds memory and a slot).
BODY_TIMEOUT_SECONDS = 30.0


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused unread when Content-Length says it is too large (and cut off if it lies)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async with asyncio.timeout(BODY_TIMEOUT_SECONDS):
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _TooLarge
            chunks.append(chunk)
    return b"".join(chunks)


def _resource(ctx: RequestContext, op_name: str, params: dict[str, Any]) -> tuple[str | None, str]:
    """The instance a request acts on and the ARN named in access decisions."""
    if "resource_arn" in params:
        arn = str(params["resource_arn"])
        try:
            return parse_arn(arn)["instance"], arn
        except ServiceError:
            return None, arn
    instance_id = params.get("instance_id")
    if instance_id is None:
        return None, f"arn:aws:scn:{ctx.region}:{ctx.account_id}:instance/*"
    return instance_id, instance_arn(ctx.region, ctx.account_id, instance_id)


class Api:
    """The AWS Supply Chain API endpoint (every path except the service's own)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.router = Router()

    def authenticate(self, signed: SignedRequest, request_id: str) -> RequestContext:
        auth = parse_authorization(signed)
        key = self.services.store.get_key(auth.access_key_id)
        if key is None or key.revoked_at is not None:
            raise UnrecognizedClientException(
                "The security token included in the request is invalid."
            )
        verify(signed, auth, key.secret_access_key, now())
        return RequestContext(
            account_id=key.account_id,
            access_key_id=key.access_key_id,
            region=auth.region,
            request_id=request_id,
            grant=Grant(actions=key.actions, instances=key.instances),
        )

    async def __call__(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        started = time.perf_counter()
        op_name = "-"
        key_id = "-"
        code = ""
        try:
            try:
                body = await _read_body(request, self.services.settings.max_body_bytes)
            except _TooLarge:
                raise RequestEntityTooLargeException(
                    f"The request body is larger than {self.services.settings.max_body_bytes} bytes."
                ) from None
            except TimeoutError:
                raise RequestTimeoutException(
                    f"The request body did not arrive within {BODY_TIMEOUT_SECONDS:g} seconds."
                ) from None
            signed = SignedRequest.from_scope(request.scope, body)
            ctx = self.authenticate(signed, request_id)
            key_id = ctx.access_key_id
            operation, uri_params = self.router.match(signed.method, signed.raw_path)
            op_name = operation.name
            params = parse_request(
                operation, uri_params, request.query_params.multi_items(), request.headers, body
            )
            validate(operation.input_shape, params)
            instance_id, arn = _resource(ctx, op_name, params)
            check_access(ctx.grant, f"scn:{op_name}", instance_id, arn, principal=ctx.access_key_id)
            handler = HANDLERS.get(op_name)
            if handler is None:
                raise NotImplementedException(f"{op_name} is not implemented by supplylake yet.")
            output = await handler(self.services, ctx, params)
            status, headers, payload = serialize_response(operation, output, request_id)
        except ServiceError as err:
            code = err.code
            status, headers, payload = serialize_error(err, request_id)
        except Exception:
            log.exception("request %s (%s) failed", request_id, op_name)
            internal = InternalServerException(
                f"An internal error occurred; request id {request_id}."
            )
            code = internal.code
            status, headers, payload = serialize_error(internal, request_id)
        elapsed = time.perf_counter() - started
        metrics.REQUESTS.labels(op_name, str(status), code).inc()
        metrics.REQUEST_SECONDS.labels(op_name).observe(elapsed)
        log.info(
            "request_id=%s operation=%s key=%s status=%d ms=%.1f",
            request_id,
            op_name,
            key_id,
            status,
            (time.perf_counter() - started) * 1000,
        )
        return Response(payload, status_code=status, headers=dict(headers))


def create_app(services: Services, on_startup: Any = None, on_shutdown: Any = None) -> Starlette:
    """The ASGI app for ``services``; the hooks run in its lifespan."""
    ready = asyncio.Event()
    api = Api(services)

    async def health(_: Request) -> Response:
        if not ready.is_set():
            return JSONResponse({"status": "starting"}, status_code=503)
        return JSONResponse({"status": "ok"})

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

    routes = [
        Route("/health", health, methods=["GET", "HEAD"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        *console_routes(services),
        Route("/{path:path}", api.__call__, methods=_ALL_METHODS),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
