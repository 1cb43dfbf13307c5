"""The kinds of work a loader process does, and the threads that run them.

Every kind of work is a :class:`JobKind`: how to make a :class:`Job` (one per thread), how many
threads run it side by side, and when it looks for work: woken when any process commits to the
store (new events), or on a timer. A job's ``run_once`` does what is due now and says how much
it did; its thread calls it again at once while it finds work, and otherwise waits to be woken.
Jobs of one kind share the work among themselves, and with the jobs of other loader processes,
through the store's leases, so any number of threads and processes may run each kind.

The kinds a loader process runs are listed in :data:`supplylake.loader.main.KINDS`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from supplylake.config import Settings
from supplylake.loader.loop import Turns
from supplylake.loader.maintenance import DueTables
from supplylake.store.base import EventWaiter, Store

if TYPE_CHECKING:
    from supplylake.lake import Lake

log = logging.getLogger(__name__)

#: How often the listening thread checks that the process is stopping.
_LISTEN_SECONDS = 1.0
#: Pause after a pass that failed, before trying again.
_RETRY_SECONDS = 1.0


class Job(Protocol):
    """One thread's share of a kind of work."""

    def run_once(self) -> int:
        """Do what is due now; how much was done (0: nothing was due)."""

    def close(self) -> None:
        """Let go of what the job holds (its leases); called on its thread as it stops."""


@dataclass(frozen=True)
class Context:
    """What the jobs of one loader process share."""

    settings: Settings
    store: Store
    lake: Lake
    #: Tables committed to since their last maintenance.
    due: DueTables
    #: The order in which the dataset loads take pending datasets.
    turns: Turns


@dataclass(frozen=True)
class JobKind:
    """A kind of work: how to make its jobs and when they run."""

    name: str
    make: Callable[[Context], Job]
    #: Jobs run side by side, one thread each.
    threads: int = 1
    #: Woken when any process commits to the store; otherwise only every ``poll_seconds``.
    woken: bool = True
    #: Without a wake-up, look for work this often (work a dead process left, a lost wake-up).
    poll_seconds: float = 2.0
    #: Once woken, wait this long so that more work gathers into one pass.
    gather_seconds: float = 0.0
    #: How long a stopping process waits for a pass in flight; None: until it ends.
    stop_seconds: float | None = None


class _Thread:
    """One job on a thread of its own."""

    def __init__(self, kind: JobKind, ctx: Context, n: int, stop: threading.Event) -> None:
        self.kind = kind
        self.job = kind.make(ctx)
        self.wake = threading.Event()
        self.stop = stop
        self.thread = threading.Thread(
            target=self._loop, name=f"supplylake-{kind.name}-{n}", daemon=True
        )

    def _loop(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    while not self.stop.is_set() and self.job.run_once() > 0:
                        pass
                except Exception:
                    log.exception("%s pass failed; retrying", self.kind.name)
                    self.stop.wait(_RETRY_SECONDS)
                if self.stop.is_set():
                    break
                woken = self.wake.wait(self.kind.poll_seconds)
                if woken and self.kind.gather_seconds > 0:
                    self.stop.wait(self.kind.gather_seconds)
                self.wake.clear()
        finally:
            self.job.close()


def run_jobs(kinds: Sequence[JobKind], ctx: Context, stop: threading.Event) -> None:
    """Run every kind's jobs until ``stop``; then wait for the passes in flight to end."""
    threads = [_Thread(kind, ctx, n, stop) for kind in kinds for n in range(max(kind.threads, 1))]
    woken = [t.wake for t in threads if t.kind.woken]
    # One listener wakes every job of this process that waits for commits.
    waiter = ctx.store.open_event_waiter() if woken else None
    listener = threading.Thread(
        target=_listen, args=(waiter, woken, stop), name="supplylake-listen", daemon=True
    )
    if waiter is not None:
        listener.start()
    for t in threads:
        t.thread.start()
    try:
        stop.wait()
    finally:
        stop.set()
        for t in threads:
            t.wake.set()  # a job waiting for work sees the stop now
        for t in threads:
            t.thread.join(t.kind.stop_seconds)
        if waiter is not None:
            listener.join(2 * _LISTEN_SECONDS)
            waiter.close()


def _listen(waiter: EventWaiter, wakes: list[threading.Event], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            if waiter.wait(_LISTEN_SECONDS):
                for wake in wakes:
                    wake.set()
        except Exception:
            log.exception("waiting for new events failed; polling meanwhile")
            stop.wait(_LISTEN_SECONDS)
