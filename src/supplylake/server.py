"""Assemble and run the service: store, lake, background work, the ASGI app under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette

from supplylake.app import create_app
from supplylake.config import Settings
from supplylake.service import events, instances
from supplylake.service.core import Services
from supplylake.service.keys import Bootstrap, ensure_root_key
from supplylake.service.limits import RateLimiter
from supplylake.store import open_store

if TYPE_CHECKING:
    from supplylake.lake.catalog import Lake

log = logging.getLogger("supplylake")

_PURGE_EVERY_SECONDS = 300.0


@dataclass
class Assembled:
    services: Services
    bootstrap: Bootstrap
    app: Starlette


def open_lake(settings: Settings) -> Lake:
    """The lake that ``serve``, ``loader`` and ``query`` share for these settings."""
    from supplylake.lake.api import lake_for

    return lake_for(settings)


def assemble(settings: Settings) -> Assembled:
    """Open everything ``serve`` needs; nothing runs until the app's lifespan starts."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.resolved_database_url)
    bootstrap = ensure_root_key(store, settings)
    services = Services(
        settings=settings,
        store=store,
        lake_factory=lambda: open_lake(settings),
        limiter=RateLimiter(settings.event_rate, settings.event_burst),
    )
    loops: list[asyncio.Task[Any]] = []

    async def startup() -> None:
        instances.resume_transitions(services)
        loops.append(asyncio.get_running_loop().create_task(_purge_loop(services)))
        if settings.loader:
            from supplylake.loader.runner import start_loader

            loops.append(await start_loader(services))

    async def shutdown() -> None:
        for task in loops:
            task.cancel()
        for task in loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for task in list(services.background):
            task.cancel()
        store.close()

    return Assembled(services, bootstrap, create_app(services, startup, shutdown))


async def _purge_loop(services: Services) -> None:
    while True:
        try:
            purged = await events.purge_expired(services)
            if purged:
                log.info("purged %d events past their retention", purged)
        except Exception:
            log.exception("purging expired events failed; will retry")
        await asyncio.sleep(_PURGE_EVERY_SECONDS)


def run(settings: Settings, app: Starlette) -> None:
    """Serve ``app`` with uvicorn (uvloop, httptools) until interrupted."""
    import uvicorn

    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        # Our own request log carries request ids and never query strings (presigned signatures).
        access_log=False,
        log_level=settings.log_level,
        timeout_graceful_shutdown=5,
    )
