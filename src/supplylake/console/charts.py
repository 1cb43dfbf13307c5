"""The charts page and the JSON series it draws (refreshed every few seconds)."""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from supplylake.console.access import authorize
from supplylake.console.metrics import DEFAULT_WINDOW, WINDOWS, Series, instance_series
from supplylake.console.web import Console, Viewer
from supplylake.service.blocking import blocking
from supplylake.service.clock import now

#: The charts are built from the event listing, so they need what listing events needs.
ACTION = "ListDataIntegrationEvents"


def _window(request: Request) -> int:
    raw = request.query_params.get("window", "")
    return int(raw) if raw.isdigit() and int(raw) in WINDOWS else DEFAULT_WINDOW


def routes(console: Console) -> dict[str, Any]:
    services = console.services

    async def _series(request: Request, viewer: Viewer) -> tuple[Any, int, Series]:
        inst = await authorize(services, viewer.ctx, ACTION, request.path_params["instance_id"])
        window = _window(request)
        data = await blocking(instance_series, services.store, inst.instance_id, now(), window)
        return inst, window, data

    async def page(request: Request, viewer: Viewer) -> Response:
        inst, window, data = await _series(request, viewer)
        return console.render(
            request,
            "charts.html",
            {"inst": inst, "tab": "charts", "window": window, "windows": WINDOWS, "s": data},
            viewer,
        )

    async def series_json(request: Request, viewer: Viewer) -> Response:
        _, _, data = await _series(request, viewer)
        return JSONResponse(dataclasses.asdict(data))

    return {"charts": console.page(page), "metrics_json": console.json(series_json)}
