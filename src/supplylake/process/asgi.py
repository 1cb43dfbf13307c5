"""The API under uvicorn: its options from the settings, one process or several on one port.

``serve --workers N`` runs N API processes, each binding the port itself with ``SO_REUSEPORT``:
uvicorn's own workers share one listening socket, and whichever process wakes first accepts
every connection waiting, so keep-alive clients that connect together (a load balancer's pool,
a benchmark) all land on one process while the others idle. With a socket each, the kernel
spreads new connections over the processes by a hash of their addresses.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
from typing import TYPE_CHECKING, Any

from supplylake.config import Settings
from supplylake.process.parent import follow_parent
from supplylake.process.supervisor import Child, Restarts, Spawned

if TYPE_CHECKING:
    from starlette.applications import Starlette

#: Seconds uvicorn gives the requests in flight once asked to stop.
_GRACEFUL_SECONDS = 5
#: API processes are restarted quickly: they start in a moment and hold no work of their own.
_RESTARTS = Restarts(first=0.5, longest=10.0, steady=30.0)
#: How long an API process may take to stop: uvicorn's graceful shutdown and the store's close.
_STOP_SECONDS = 12.0
#: The app factory every API process of ``serve --workers`` builds its app with.
WORKER_APP = "supplylake.server:create_worker_app"


def uvicorn_options(settings: Settings, *, log_level: str | None = None) -> dict[str, Any]:
    """The options of ``uvicorn.Config`` for ``settings`` (``log_level`` overrides theirs)."""
    return {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": "httptools",
        # Our own request log carries request ids and never query strings (presigned signatures).
        "access_log": False,
        "log_level": log_level or settings.log_level,
        "timeout_graceful_shutdown": _GRACEFUL_SECONDS,
    }


def serve(app: Starlette, settings: Settings) -> None:
    """Serve ``app`` in this process until interrupted (uvicorn handles the signals)."""
    import uvicorn

    uvicorn.run(app, **uvicorn_options(settings))


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT``, not listening yet."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def api_process(settings: Settings) -> Child:
    """One API process of ``serve --workers``, spawned with the app built from the environment."""
    ctx = multiprocessing.get_context("spawn")
    options = uvicorn_options(settings)

    def start() -> Spawned:
        process = ctx.Process(
            target=_serve_worker,
            args=(options, os.getpid()),
            name="supplylake-api",
        )
        process.start()
        return Spawned(process)

    return Child("API process", start, _RESTARTS, _STOP_SECONDS)


def _serve_worker(options: dict[str, Any], parent: int) -> None:
    """In a spawned API process: its own socket on the port, the app from the environment."""
    import uvicorn

    if not follow_parent(parent):
        return
    host, port = options.pop("host"), options.pop("port")
    sock = reuse_port_socket(host, port)
    config = uvicorn.Config(WORKER_APP, factory=True, **options)
    uvicorn.Server(config).run(sockets=[sock])
