"""The console's ASGI app, mounted at ``/console`` on the API server's port."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from supplylake.console import bom, charts, datasets, events, flows, signin, sql
from supplylake.console.access import call
from supplylake.console.web import STATIC, Console, SecurityHeaders, Viewer, base_path
from supplylake.service.context import Services

PREFIX = "/console"


def console_app(services: Services) -> Starlette:
    """The console for ``services``: pages, their JSON endpoints and static assets."""
    console = Console(services)
    h: dict[str, Any] = {
        **signin.routes(console),
        **events.routes(console),
        **datasets.routes(console),
        **sql.routes(console),
        **charts.routes(console),
        **bom.routes(console),
        **flows.routes(console),
    }

    async def home(request: Request, viewer: Viewer) -> Response:
        found: list[dict[str, Any]] = []
        token = None
        while True:
            params: dict[str, Any] = {"max_results": 20}
            if token:
                params["next_token"] = token
            out = await call(services, viewer.ctx, "ListInstances", params)
            found += out["instances"]
            token = out.get("next_token")
            if not token:
                break
        # As the API documents: a key limited to instances lists only those.
        visible = [i for i in found if viewer.ctx.grant.allows_instance(i["instance_id"])]
        return console.render(request, "instances.html", {"instances": visible}, viewer)

    async def instance(request: Request) -> Response:
        iid = request.path_params["instance_id"]
        return RedirectResponse(f"{base_path(request)}/instances/{iid}/events", 303)

    async def not_found(request: Request, exc: Exception) -> Response:
        viewer = await console.viewer(request)
        if isinstance(exc, HTTPException) and exc.status_code == 405:
            return console.error(request, viewer, 405, "Not allowed", "Use the console's forms.")
        return console.error(request, viewer, 404, "Not found", "There is no such console page.")

    inst = "/instances/{instance_id}"
    routes = [
        Route("/", console.page(home)),
        Route("/sign-in", h["sign_in"], methods=["GET", "POST"]),
        Route("/sign-out", h["sign_out"], methods=["POST"]),
        Route(inst, instance),
        Route(f"{inst}/events", h["events"]),
        Route(f"{inst}/events.json", h["events_json"]),
        Route(f"{inst}/events/{{event_id}}", h["event"]),
        Route(f"{inst}/datasets", h["datasets"]),
        Route(f"{inst}/datasets/{{namespace}}/{{name}}", h["dataset"]),
        Route(f"{inst}/sql", h["sql"], methods=["GET", "POST"]),
        Route(f"{inst}/sql.csv", h["sql_csv"], methods=["POST"]),
        Route(f"{inst}/charts", h["charts"]),
        Route(f"{inst}/metrics.json", h["metrics_json"]),
        Route(f"{inst}/bom-jobs", h["bom_jobs"]),
        Route(f"{inst}/flows", h["flows"]),
        Route(f"{inst}/flows/{{name}}", h["flow"]),
        Route(f"{inst}/flows/{{name}}/executions.json", h["flow_json"]),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={404: not_found, 405: not_found},
    )


def console_routes(services: Services) -> list[BaseRoute]:
    """Routes to add to the server's app, before its catch-all API route."""

    async def to_console(request: Request) -> Response:
        return RedirectResponse(f"{request.scope.get('root_path', '')}{PREFIX}/", 308)

    return [
        Route(PREFIX, to_console, methods=["GET", "HEAD"]),
        Mount(PREFIX, app=console_app(services)),
    ]
