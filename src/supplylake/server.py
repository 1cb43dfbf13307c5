"""Assemble and run the service: store, lake, background work, the ASGI app under uvicorn.

``serve --workers N`` runs N API processes, each with its own socket on the port
(:mod:`supplylake.process.asgi`), each built by :func:`create_worker_app` from the ``SUPPLYLAKE_*``
variables that the supervisor process sets from its command line. They share the store, on
PostgreSQL as on SQLite: each process group-commits its own writes, and every write transaction
is serialized with those of the other processes (on SQLite the write gate, then the write lock
taken by ``BEGIN IMMEDIATE``; an advisory lock on PostgreSQL), so tokens, quotas, positions and
the rate limits' buckets hold across processes.

The loader runs in processes of its own that ``serve`` supervises
(:mod:`supplylake.process.supervisor`): started with it, restarted should one die, stopped on
the way out; one per core by default, whatever the number of workers, woken by the store's
commits (:mod:`supplylake.loader.main`). Their metrics reach every API process's ``/metrics``
through files in ``<data dir>/run/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette

from supplylake.app import create_app
from supplylake.config import Settings
from supplylake.inflight import BodyBudget
from supplylake.process.asgi import api_process, reuse_port_socket, serve
from supplylake.process.metrics_file import show_loader_metrics
from supplylake.process.signals import noted
from supplylake.process.supervisor import Child, Supervisor
from supplylake.service import events, instances
from supplylake.service.context import Services
from supplylake.service.keys import Bootstrap, ensure_root_key
from supplylake.service.limits import limiter_for
from supplylake.store import open_store
from supplylake.store.urls import is_postgres

if TYPE_CHECKING:
    from supplylake.lake import Lake

log = logging.getLogger("supplylake")

_PURGE_EVERY_SECONDS = 300.0
#: How long a thread of an API process of ``serve --workers`` may keep the GIL when another wants
#: it (Python's default: 5 ms). The store's writer waits for the GIL between the statements of a
#: transaction while it holds the database's write gate; beside threads validating large events
#: those waits stretched every commit, and every other process waited for them. Measured in turns
#: with 2 workers and 1 MiB events, the shorter interval gave more records/s; one process (no
#: other process waits for its commits) did better with the default.
_WORKER_SWITCH_INTERVAL_SECONDS = 0.001


@dataclass
class Assembled:
    services: Services
    bootstrap: Bootstrap
    app: Starlette


class PortUnavailable(RuntimeError):
    """``serve --workers`` cannot bind its port (another program holds it, say)."""


def _open_lake(settings: Settings) -> Lake:
    # Imported here: an API process opens the lake only when a request needs it, and pyiceberg
    # with its dependencies would double every API process's start-up.
    from supplylake.lake import open_lake

    return open_lake(settings)


def check_workers(settings: Settings) -> None:
    """Refuse a number of API processes below one (ValueError)."""
    if settings.workers < 1:
        raise ValueError(f"--workers must be at least 1, not {settings.workers}")


def shares_buckets(settings: Settings) -> bool:
    """Whether other API processes may serve the same instances, so rate limits live in the store.

    On PostgreSQL other ``serve`` processes may share the database; on SQLite only this
    ``serve``'s own workers do, and one process keeps the exact in-memory bucket.
    """
    return settings.workers > 1 or is_postgres(settings.resolved_database_url)


def bootstrap(settings: Settings) -> Bootstrap:
    """Migrate the store and make sure the root key exists, as ``serve`` does first."""
    check_workers(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.resolved_database_url)
    try:
        return ensure_root_key(store, settings)
    finally:
        store.close()


def assemble(settings: Settings) -> Assembled:
    """Open everything ``serve`` needs; nothing runs until the app's lifespan starts."""
    check_workers(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.resolved_database_url)
    bootstrap = ensure_root_key(store, settings)
    services = Services(
        settings=settings,
        store=store,
        lake_factory=lambda: _open_lake(settings),
        # Other processes may serve the same instances: then they share the buckets.
        limiter=limiter_for(
            store, settings.event_rate, settings.event_burst, shared=shares_buckets(settings)
        ),
    )
    loops: list[asyncio.Task[Any]] = []
    children: list[Supervisor] = []

    async def startup() -> None:
        instances.resume_transitions(services)
        loops.append(asyncio.get_running_loop().create_task(_purge_loop(services)))
        if settings.loader:
            loaders = Supervisor(_loader_children(settings))
            loaders.start()
            children.append(loaders)

    async def shutdown() -> None:
        for task in loops:
            task.cancel()
        for task in loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for child in children:
            await asyncio.to_thread(child.stop)
        for task in list(services.background):
            task.cancel()
        store.close()

    app = create_app(services, startup, shutdown)
    app.add_middleware(
        BodyBudget, budget=settings.max_body_bytes_in_flight, largest=settings.max_body_bytes
    )
    return Assembled(services, bootstrap, app)


async def _purge_loop(services: Services) -> None:
    while True:
        try:
            purged = await events.purge_expired(services)
            if purged:
                log.info("purged %d events past their retention", purged)
        except Exception:
            log.exception("purging expired events failed; will retry")
        await asyncio.sleep(_PURGE_EVERY_SECONDS)


def create_worker_app() -> Starlette:
    """The app of one ``serve --workers`` process, from the ``SUPPLYLAKE_*`` environment."""
    sys.setswitchinterval(_WORKER_SWITCH_INTERVAL_SECONDS)
    # The supervisor runs the loader; the workers only serve, and show its metrics.
    settings = Settings.from_env(loader=False)
    if Settings.from_env().loader:
        show_loader_metrics(settings)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    return assemble(settings).app


def run(settings: Settings, app: Starlette) -> None:
    """Serve ``app`` with uvicorn (uvloop, httptools) until interrupted."""
    serve(app, settings)


def run_workers(settings: Settings) -> None:
    """``serve --workers N``: N API processes, and the loader processes, under one supervisor."""
    import os

    check_workers(settings)
    # The workers are spawned: they read the settings of this command line from the environment.
    os.environ.update(settings.environment())
    # Bound, not listening: a port another program holds fails here, once.
    try:
        held = reuse_port_socket(settings.host, settings.port)
    except OSError as exc:
        raise PortUnavailable(f"cannot listen on {settings.host}:{settings.port}: {exc}") from None
    children = [api_process(settings) for _ in range(settings.workers)]
    if settings.loader:
        children += _loader_children(settings)
    try:
        with noted() as received:
            Supervisor(children).run(lambda: bool(received))
    finally:
        held.close()


def _loader_children(settings: Settings) -> list[Child]:
    # Imported here: the loader's jobs pull in pyiceberg, which an API process should not load.
    from supplylake.loader.main import loader_children

    return loader_children(settings)
