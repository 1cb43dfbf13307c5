"""The loader loop: wake on new events (or a timer), apply every pending dataset, repeat."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from supplylake import metrics
from supplylake.service.core import Services, now
from supplylake.store.base import Store

if TYPE_CHECKING:
    from supplylake.lake.catalog import Lake

log = logging.getLogger(__name__)

#: Without a wake-up, look for work this often (events committed by another process).
_POLL_SECONDS = 1.0


class Loader:
    """Applies pending events of every dataset; one pass at a time, on a worker thread."""

    def __init__(
        self,
        store: Store,
        lake: Lake,
        batch_events: int,
        max_wait: float,
        wake: threading.Event | None = None,
    ) -> None:
        self.store = store
        self.lake = lake
        self.batch_events = batch_events
        self.max_wait = max_wait
        self._wake = wake or threading.Event()
        self.applied_events = 0

    def wake(self) -> None:
        self._wake.set()

    def run_once(self) -> int:
        """Apply one batch of each pending dataset; the number of events finished."""
        # Imported here: it pulls in pyiceberg, which the API process should not wait for.
        from supplylake.loader.apply import apply_with_retry

        finished = 0
        lag = 0.0
        for ref in self.store.pending_datasets():
            events = self.store.pending_events(ref, self.batch_events)
            metrics.EVENTS_PENDING.labels(ref.namespace, ref.name).set(len(events))
            if not events:
                continue
            lag = max(lag, (now() - events[0].received_at).total_seconds())
            metrics.LOADER_LAG.set(lag)
            result = apply_with_retry(self.store, self.lake, ref, events)
            self.store.complete_events(result.outcomes, now())
            metrics.EVENTS_PENDING.labels(ref.namespace, ref.name).set(0)
            for outcome in result.outcomes:
                metrics.EVENTS_FINISHED.labels(ref.namespace, ref.name, outcome.status).inc()
            finished += len(result.outcomes)
        metrics.LOADER_LAG.set(lag)
        self.applied_events += finished
        return finished

    def run_until_idle(self) -> None:
        while self.run_once():
            pass

    def wait_for_work(self) -> None:
        """Block until woken or the poll interval passes, then let a batch gather."""
        if self._wake.wait(_POLL_SECONDS) and self.max_wait > 0:
            time.sleep(self.max_wait)
        self._wake.clear()

    def loop_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                while not stop.is_set() and self.run_once() >= 1:
                    pass
            except Exception:
                log.exception("loader pass failed; retrying")
                stop.wait(1.0)
            if not stop.is_set():
                self.wait_for_work()


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


def standalone(
    store: Store, lake: Lake, batch_events: int, max_wait: float, stop: threading.Event
) -> None:
    """``supplylake loader``: the same loop in its own process, woken by polling."""
    Loader(store, lake, batch_events, max_wait).loop_forever(stop)
