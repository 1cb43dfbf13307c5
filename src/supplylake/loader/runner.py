"""The loader loop: wake on new events (or a slow timer), apply the pending datasets, repeat.

Any number of loaders may run against one store: the thread in ``serve``, ``supplylake loader``
processes, on one machine or several. Each dataset is applied by one loader at a time, under
the dataset's lease (:meth:`Store.open_leases`): a loader takes it for one batch (read the
pending events, apply them, record the outcomes) and lets it go, so datasets spread over the
loaders pass by pass. Leases end with their holder's session, never on a timer, so a slow
loader keeps its dataset and a dead one frees it at once; the others take it over at their next
pass, at the latest after the fallback poll. What the dead loader had committed is known from
the table's recorded position: those events are only marked SUCCEEDED, never applied again.

Loaders wake when any process commits events (:meth:`Store.open_event_waiter`: LISTEN on
PostgreSQL), and within ``serve`` also from the API in the same process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from supplylake import metrics
from supplylake.service.core import Services, now
from supplylake.store.base import DatasetRef, EventWaiter, LeaseLost, Leases, Store

if TYPE_CHECKING:
    from supplylake.lake.catalog import Lake

log = logging.getLogger(__name__)

#: Without a wake-up, look for work this often: datasets a dead loader left, or a lost wake-up.
_POLL_SECONDS = 2.0
#: How often the listening thread checks that the loader is stopping.
_LISTEN_SECONDS = 1.0


def lease_name(ref: DatasetRef) -> str:
    """The name of a dataset's lease."""
    return f"dataset:{ref.instance_id}/{ref.namespace}/{ref.name}"


def owner_name() -> str:
    """How this process shows up as a lease holder (host and process id)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Loader:
    """Applies pending events of every dataset it can lease; one pass at a time, on one thread."""

    def __init__(
        self,
        store: Store,
        lake: Lake,
        batch_events: int,
        max_wait: float,
        wake: threading.Event | None = None,
        leases: Leases | None = None,
    ) -> None:
        self.store = store
        self.lake = lake
        self.batch_events = batch_events
        self.max_wait = max_wait
        self._wake = wake or threading.Event()
        self.leases = leases if leases is not None else store.open_leases(owner_name())
        self.applied_events = 0

    def wake(self) -> None:
        self._wake.set()

    def run_once(self) -> int:
        """Apply one batch of each pending dataset no other loader holds; the events finished."""
        finished = 0
        lag = 0.0
        refs = self.store.pending_datasets()
        # Loaders woken together start on different datasets.
        random.shuffle(refs)
        for ref in refs:
            name = lease_name(ref)
            if not self.leases.try_acquire(name):
                continue  # another loader is applying it
            try:
                done, oldest = self._apply(ref, name)
            except LeaseLost as exc:
                log.warning("%s; leaving the batch to the loader that holds it now", exc)
                continue
            finally:
                self.leases.release(name)
            finished += done
            lag = max(lag, oldest)
        metrics.LOADER_LAG.set(lag)
        self.applied_events += finished
        return finished

    def _apply(self, ref: DatasetRef, name: str) -> tuple[int, float]:
        """One batch of a leased dataset: (events finished, age in seconds of the oldest)."""
        # Imported here: it pulls in pyiceberg, which the API process should not wait for.
        from supplylake.loader.apply import apply_with_retry

        # Read under the lease, so the batch starts where the last holder stopped.
        events = self.store.pending_events(ref, self.batch_events)
        metrics.EVENTS_PENDING.labels(ref.namespace, ref.name).set(len(events))
        if not events:
            return 0, 0.0
        lag = (now() - events[0].received_at).total_seconds()
        metrics.LOADER_LAG.set(lag)
        started = time.perf_counter()
        result = apply_with_retry(
            self.store, self.lake, ref, events, held=lambda: self.leases.holds(name)
        )
        self.store.complete_events(result.outcomes, now())
        log.debug(
            "applied %d events of %s.%s in %.3f s, oldest %.3f s old",
            len(events),
            ref.namespace,
            ref.name,
            time.perf_counter() - started,
            lag,
        )
        metrics.EVENTS_PENDING.labels(ref.namespace, ref.name).set(0)
        for outcome in result.outcomes:
            metrics.EVENTS_FINISHED.labels(ref.namespace, ref.name, outcome.status).inc()
        return len(result.outcomes), lag

    def run_until_idle(self) -> None:
        while self.run_once():
            pass

    def wait_for_work(self) -> None:
        """Block until woken or the poll interval passes, then let a batch gather."""
        if self._wake.wait(_POLL_SECONDS) and self.max_wait > 0:
            time.sleep(self.max_wait)
        self._wake.clear()

    def loop_forever(self, stop: threading.Event) -> None:
        """Apply, wait, repeat until ``stop``; then release every lease."""
        waiter = self.store.open_event_waiter()
        listener = threading.Thread(
            target=self._listen, args=(waiter, stop), name="supplylake-loader-listen", daemon=True
        )
        listener.start()
        try:
            while not stop.is_set():
                try:
                    while not stop.is_set() and self.run_once() >= 1:
                        pass
                except Exception:
                    log.exception("loader pass failed; retrying")
                    stop.wait(1.0)
                if not stop.is_set():
                    self.wait_for_work()
        finally:
            listener.join(2 * _LISTEN_SECONDS)
            waiter.close()
            self.leases.close()

    def _listen(self, waiter: EventWaiter, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if waiter.wait(_LISTEN_SECONDS):
                    self._wake.set()
            except Exception:
                log.exception("waiting for new events failed; polling meanwhile")
                stop.wait(_LISTEN_SECONDS)
        self._wake.set()  # a loader waiting for work sees the stop now


async def start_loader(services: Services) -> asyncio.Task[Any]:
    """Run the loader on its own thread for the life of the app; cancel the task to stop it."""
    settings = services.settings
    stop = threading.Event()
    wake = threading.Event()
    services.on_commit.append(wake.set)

    def work() -> None:
        # The lake opens here, off the event loop: the API answers while pyiceberg loads.
        loader = Loader(
            services.store,
            services.lake,
            settings.loader_batch_events,
            settings.loader_max_wait_seconds,
            wake,
        )
        loader.loop_forever(stop)

    async def supervise() -> None:
        thread = threading.Thread(target=work, name="supplylake-loader", daemon=True)
        thread.start()
        try:
            while thread.is_alive():
                await asyncio.sleep(0.5)
        finally:
            stop.set()
            wake.set()
            await asyncio.to_thread(thread.join, 10)

    return asyncio.get_running_loop().create_task(supervise())


def start_thread(
    store: Store, lake_factory: Callable[[], Lake], batch_events: int, max_wait: float
) -> Callable[[], None]:
    """Run the loader on a thread of this process (``serve --workers``); returns its stop."""
    stop = threading.Event()

    def work() -> None:
        try:
            standalone(store, lake_factory(), batch_events, max_wait, stop)
        except Exception:
            log.exception("the loader stopped")

    thread = threading.Thread(target=work, name="supplylake-loader", daemon=True)
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join(10)

    return halt


def standalone(
    store: Store, lake: Lake, batch_events: int, max_wait: float, stop: threading.Event
) -> None:
    """``supplylake loader``: the same loop in its own process, woken by the store's waiter."""
    Loader(store, lake, batch_events, max_wait).loop_forever(stop)
