"""A supervisor: starts child processes, restarts those that die, stops them all at the end.

``serve`` supervises its loader processes, and with ``--workers`` its API processes too. A child
that keeps dying is started again ever more slowly; one that ran steadily before it died is
started again at once. Stopping sends SIGTERM (children finish what they are doing), and kills
what has not stopped in time.

The thread that starts the children must live as long as they do: Linux's parent-death signal
follows the thread that forked the child, not its process. So :meth:`Supervisor.run` keeps the
children from start to stop on one thread, the main thread or one of its own
(:meth:`Supervisor.start`).
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Protocol

log = logging.getLogger("supplylake")

#: How often the supervisor looks at its children.
_CHECK_SECONDS = 0.25


class Running(Protocol):
    """A started child, whichever way it was started."""

    @property
    def pid(self) -> int | None: ...

    def exitcode(self) -> int | None:
        """None while it runs."""

    def terminate(self) -> None: ...

    def kill(self) -> None: ...

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for it to end; whether it has."""


@dataclass(frozen=True)
class Restarts:
    """How a child that dies is started again."""

    #: Delay before restarting a child that ran steadily.
    first: float
    #: Longest delay, for a child that keeps dying.
    longest: float
    #: A child that ran this long before it died ran steadily.
    steady: float


@dataclass(frozen=True)
class Child:
    """One child process to keep running."""

    #: How it shows up in the log ("loader", "API process").
    name: str
    start: Callable[[], Running]
    restarts: Restarts
    #: How long it may take to stop after SIGTERM before it is killed.
    stop_seconds: float


class Supervisor:
    """Keeps ``children`` running until asked to stop."""

    def __init__(self, children: Sequence[Child]) -> None:
        self.children = list(children)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._running: list[Running | None] = [None] * len(self.children)

    @property
    def pids(self) -> list[int]:
        return [r.pid for r in self._running if r is not None and r.pid is not None]

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Start the children and keep them running until ``should_stop()`` or :meth:`stop`."""
        started = [0.0] * len(self.children)
        delay = [c.restarts.first for c in self.children]
        due: list[float | None] = [None] * len(self.children)
        try:
            for i, child in enumerate(self.children):
                self._running[i] = child.start()
                started[i] = time.monotonic()
            while not self._stop.wait(_CHECK_SECONDS) and not should_stop():
                now = time.monotonic()
                for i, child in enumerate(self.children):
                    running = self._running[i]
                    if running is None or (due[i] is None and running.exitcode() is None):
                        continue
                    if due[i] is None:
                        lived = now - started[i]
                        steady = lived >= child.restarts.steady
                        delay[i] = (
                            child.restarts.first
                            if steady
                            else min(delay[i] * 2, child.restarts.longest)
                        )
                        due[i] = now + delay[i]
                        log.error(
                            "the %s (pid %s) exited with code %s; restarting it in %.1f s",
                            child.name,
                            running.pid,
                            running.exitcode(),
                            delay[i],
                        )
                    if now >= (due[i] or 0.0):
                        due[i] = None
                        started[i] = now
                        self._running[i] = child.start()
        except OSError as exc:
            log.error("cannot start a child process: %s", exc)
        finally:
            self._stop_all()

    def start(self) -> None:
        """:meth:`run` on a thread of its own, until :meth:`stop`."""
        self._thread = threading.Thread(target=self.run, name="supplylake-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop every child (and the thread of :meth:`start`), killing those that linger."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(max((c.stop_seconds for c in self.children), default=0) + 5)

    def _stop_all(self) -> None:
        for running in self._running:
            if running is not None and running.exitcode() is None:
                with contextlib.suppress(OSError):
                    running.terminate()
        for child, running in zip(self.children, self._running, strict=True):
            if running is None or running.wait(child.stop_seconds):
                continue
            log.warning(
                "the %s (pid %s) did not stop in %.0f s; killing it",
                child.name,
                running.pid,
                child.stop_seconds,
            )
            running.kill()
            running.wait(child.stop_seconds)


class Command:
    """A child that runs a command (``python -m supplylake loader``)."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen

    @property
    def pid(self) -> int | None:
        return self._popen.pid

    def exitcode(self) -> int | None:
        return self._popen.poll()

    def terminate(self) -> None:
        self._popen.terminate()

    def kill(self) -> None:
        self._popen.kill()

    def wait(self, timeout: float) -> bool:
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True


class Spawned:
    """A child that runs a Python function in a spawned interpreter (an API process)."""

    def __init__(self, process: BaseProcess) -> None:
        self._process = process

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def exitcode(self) -> int | None:
        return self._process.exitcode

    def terminate(self) -> None:
        self._process.terminate()

    def kill(self) -> None:
        self._process.kill()

    def wait(self, timeout: float) -> bool:
        self._process.join(timeout)
        return self._process.exitcode is not None
