"""The server's ASGI app: the API and /health skip Starlette's routing, never its middleware."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from supplylake.config import Settings
from supplylake.server import assemble


def _call(app: ASGIApp, method: str, path: str) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8642),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_added_middleware_wraps_the_api_health_and_pages(tmp_path: Path) -> None:
    assembled = assemble(Settings(data_dir=tmp_path, loader=False))
    seen: list[str] = []

    class Recorder:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            seen.append(scope["path"])
            await self.app(scope, receive, send)

    assembled.app.add_middleware(Recorder)
    try:
        api = _call(assembled.app, "GET", "/api/instance")
        health = _call(assembled.app, "GET", "/health")  # the lifespan has not started
        wrong_method = _call(assembled.app, "POST", "/health")
        metrics = _call(assembled.app, "GET", "/metrics")
    finally:
        assembled.services.store.close()
    assert seen == ["/api/instance", "/health", "/health", "/metrics"]
    assert api[0] == 403 and b"Missing Authentication Token" in api[1]
    assert health == (503, b'{"status":"starting"}')
    assert wrong_method[0] == 405
    assert metrics[0] == 200
