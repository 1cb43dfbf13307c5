"""``serve --workers N``: N API processes on one port, each with a listening socket of its own.

uvicorn's own workers share one listening socket, and whichever process wakes first accepts
every connection waiting: keep-alive clients that connect together (a load balancer's pool,
a benchmark) all land on one process while the others idle. Here every API process binds the
port itself with ``SO_REUSEPORT``, and the kernel spreads new connections over the processes'
sockets by a hash of their addresses.

The supervising process binds the port first (without listening, so it receives nothing), so a
port taken by another program fails ``serve`` at once instead of a worker at every restart. It
restarts a worker that dies, and stops them all on SIGTERM or SIGINT. A worker whose supervisor
dies stops too.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import signal
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("supplylake")

_RESTART_MIN_SECONDS = 0.5
_RESTART_MAX_SECONDS = 10.0
#: A worker that ran this long before it died is restarted at once.
_STEADY_SECONDS = 30.0
#: How long stopping workers may take: uvicorn's graceful shutdown (5 s) and the store's close.
_STOP_SECONDS = 12.0


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


def serve_worker(host: str, port: int, options: dict[str, Any]) -> None:
    """One API process (spawned): its own socket on the port, the app from the environment."""
    import uvicorn

    _stop_with_parent()
    sock = reuse_port_socket(host, port)
    config = uvicorn.Config("supplylake.server:create_worker_app", factory=True, **options)
    uvicorn.Server(config).run(sockets=[sock])


def _stop_with_parent() -> None:
    """SIGTERM this process (a graceful stop) when the supervising process goes away."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        signal.raise_signal(signal.SIGTERM)

    threading.Thread(target=watch, name="supplylake-parent-watch", daemon=True).start()


class Workers:
    """Runs ``count`` worker processes of ``target(*args)`` until SIGTERM or SIGINT."""

    def __init__(self, count: int, target: Callable[..., None], args: tuple[Any, ...]) -> None:
        self.count = count
        self.target = target
        self.args = args
        self._ctx = multiprocessing.get_context("spawn")
        #: Signals received. A handler only appends here: one that set an Event could be
        #: interrupted inside ``Event.set`` by the next signal of a burst and deadlock on its lock.
        self._signalled: list[int] = []

    def _start(self) -> BaseProcess:
        proc = self._ctx.Process(target=self.target, args=self.args, name="supplylake-api")
        proc.start()
        return proc

    def run(self) -> None:
        """Start the workers, keep them running, stop them all on SIGTERM or SIGINT."""
        previous = {
            sig: signal.signal(sig, lambda signum, _frame: self._signalled.append(signum))
            for sig in (signal.SIGTERM, signal.SIGINT)
        }
        procs: list[BaseProcess] = []
        try:
            procs = [self._start() for _ in range(self.count)]
            started = [time.monotonic()] * self.count
            backoff = [_RESTART_MIN_SECONDS] * self.count
            while True:
                time.sleep(0.25)
                if self._signalled:
                    break
                now = time.monotonic()
                for i, proc in enumerate(procs):
                    # One that keeps dying is started again ever more slowly.
                    if proc.is_alive() or now - started[i] < backoff[i]:
                        continue
                    lived = now - started[i]
                    backoff[i] = (
                        _RESTART_MIN_SECONDS
                        if lived > _STEADY_SECONDS
                        else min(backoff[i] * 2, _RESTART_MAX_SECONDS)
                    )
                    log.error(
                        "API process %s exited with code %s; starting another",
                        proc.pid,
                        proc.exitcode,
                    )
                    procs[i] = self._start()
                    started[i] = now
        finally:
            _stop_all(procs)
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _stop_all(procs: list[BaseProcess]) -> None:
    for proc in procs:
        if proc.is_alive():
            with contextlib.suppress(OSError):
                proc.terminate()  # SIGTERM: uvicorn finishes the requests in flight
    for proc in procs:
        proc.join(_STOP_SECONDS)
        if proc.is_alive():
            log.warning(
                "API process %s did not stop in %.0f s; killing it", proc.pid, _STOP_SECONDS
            )
            proc.kill()
            proc.join()
