"""The loader loop: wake on new events (or a slow timer), apply the pending datasets, repeat.

Any number of loaders may run against one store: the threads of the ``supplylake loader``
process that ``serve`` starts, of other ``supplylake loader`` processes, on one machine or several. Each dataset is applied by one loader at a time, under
the dataset's lease (:meth:`Store.open_leases`): a loader takes it for one batch (read the
pending events, apply them, record the outcomes) and lets it go, so datasets spread over the
loaders pass by pass. Leases end with their holder's session, never on a timer, so a slow
loader keeps its dataset and a dead one frees it at once; the others take it over at their next
pass, at the latest after the fallback poll. What the dead loader had committed is known from
the table's recorded position: those events are only marked SUCCEEDED, never applied again.

Loaders wake when any process commits events (:meth:`Store.open_event_waiter`: LISTEN on
PostgreSQL, ``PRAGMA data_version`` on SQLite); one listener wakes every loader of a process.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from supplylake import metrics
from supplylake.config import Settings
from supplylake.service.core import now
from supplylake.store.base import DatasetRef, Event, EventWaiter, LeaseLost, Leases, Store

if TYPE_CHECKING:
    from supplylake.lake.catalog import Lake

log = logging.getLogger(__name__)

#: Without a wake-up, look for work this often: datasets a dead loader left, or a lost wake-up.
_POLL_SECONDS = 2.0
#: How often the listening thread checks that the loader is stopping.
_LISTEN_SECONDS = 1.0
#: How long a stopping loader waits for a maintenance pass to end.
_MAINTAIN_JOIN_SECONDS = 10.0


def lease_name(ref: DatasetRef) -> str:
    """The name of a dataset's lease."""
    return f"dataset:{ref.instance_id}/{ref.namespace}/{ref.name}"


def owner_name() -> str:
    """How this process shows up as a lease holder (host and process id)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@contextlib.contextmanager
def _holding(leases: Leases, name: str, timeout: float = 60.0) -> Iterator[None]:
    """Hold the lease ``name``, waiting while a loader applies a batch under it."""
    deadline = time.monotonic() + timeout
    while not leases.try_acquire(name):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the lease {name} stayed taken for {timeout:.0f} s")
        time.sleep(0.01)
    try:
        yield
    finally:
        leases.release(name)


class Maintainer:
    """Keeps the tables a loader commits to healthy, on its own thread, off the apply path.

    Compaction and snapshot expiry (:meth:`Lake.maybe_maintain`) run at most once per
    ``every`` seconds per dataset that saw commits, under a lease of their own, so several
    loaders never maintain one table at once. Compaction rewrites its files while commits go
    on, then takes the dataset's apply lease for its rebase and commit (and expiry for all of
    its short run): beside a loader committing back to back, a rebase alone never caught up.
    """

    def __init__(self, store: Store, lake: Lake, every: float) -> None:
        self.store = store
        self.lake = lake
        self.every = every
        self._lock = threading.Lock()
        self._due: set[DatasetRef] = set()
        self._last: dict[DatasetRef, float] = {}

    def committed(self, ref: DatasetRef) -> None:
        """A batch was committed to ``ref``'s table: it is due for a look."""
        with self._lock:
            self._due.add(ref)

    def ready(self) -> list[DatasetRef]:
        """The due datasets whose last maintenance is at least ``every`` seconds old."""
        at = time.monotonic()
        with self._lock:
            refs = [r for r in self._due if at - self._last.get(r, -self.every) >= self.every]
            self._due.difference_update(refs)
        return refs

    def run_once(self, leases: Leases) -> int:
        """Maintain every ready dataset no other loader is maintaining; how many were."""
        # Imported here: it pulls in pyiceberg.
        from supplylake.loader.apply import maintain

        done = 0
        for ref in self.ready():
            name = "maintain:" + lease_name(ref)
            if not leases.try_acquire(name):
                self.committed(ref)  # another loader is at it; look again later
                continue
            try:
                if not maintain(
                    self.lake, ref, functools.partial(_holding, leases, lease_name(ref))
                ):
                    self.committed(ref)  # try again after the interval
            finally:
                leases.release(name)
                self._last[ref] = time.monotonic()
            done += 1
        return done

    def loop_forever(self, stop: threading.Event) -> None:
        leases = self.store.open_leases(owner_name() + ":maintainer")
        try:
            while not stop.wait(min(1.0, self.every)):
                try:
                    self.run_once(leases)
                except Exception:
                    log.exception("maintenance pass failed; retrying")
        finally:
            leases.close()


_lags: dict[int, float] = {}
_lags_lock = threading.Lock()


def _show_lag(loader: object, lag: float) -> None:
    """The lag gauge shows the largest lag among the loaders of this process."""
    with _lags_lock:
        _lags[id(loader)] = lag
        metrics.LOADER_LAG.set(max(_lags.values()))


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
        maintain_every: float = 5.0,
        maintainer: Maintainer | None = None,
        batch_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.store = store
        self.lake = lake
        self.batch_events = batch_events
        self.batch_bytes = batch_bytes
        self._limits: dict[DatasetRef, int] = {}
        #: Loaders of this process that this one wakes when events are committed.
        self.followers: list[Loader] = []
        self.max_wait = max_wait
        self._wake = wake or threading.Event()
        self.leases = leases if leases is not None else store.open_leases(owner_name())
        self.applied_events = 0
        self.maintainer = maintainer or Maintainer(store, lake, maintain_every)

    def wake(self) -> None:
        self._wake.set()

    def _limit(self, ref: DatasetRef) -> int:
        """Events to read for ``ref``'s next batch: fewer when its events are large."""
        return self._limits.get(ref, self.batch_events)

    def _within_bytes(self, ref: DatasetRef, events: list[Event]) -> list[Event]:
        """The first events of ``events`` within ``batch_bytes`` of data (at least one).

        Also sizes the next read by this batch's bytes per event, so that a dataset of 1 MiB
        events reads a few dozen at a time, not a thousand (a gigabyte of JSON).
        """
        if not events:
            return events
        total = 0
        keep = len(events)
        for n, ev in enumerate(events):
            total += len(ev.data or "")
            if total > self.batch_bytes and n > 0:
                keep = n
                break
        per_event = max(total / (n + 1), 1.0)
        self._limits[ref] = max(1, min(self.batch_events, int(self.batch_bytes / per_event)))
        return events[:keep]

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
        _show_lag(self, lag)
        self.applied_events += finished
        return finished

    def _apply(self, ref: DatasetRef, name: str) -> tuple[int, float]:
        """One batch of a leased dataset: (events finished, age in seconds of the oldest)."""
        # Imported here: it pulls in pyiceberg, which the API process should not wait for.
        from supplylake.loader.apply import apply_with_retry

        # Read under the lease, so the batch starts where the last holder stopped.
        events = self._within_bytes(ref, self.store.pending_events(ref, self._limit(ref)))
        metrics.EVENTS_PENDING.labels(ref.namespace, ref.name).set(len(events))
        if not events:
            return 0, 0.0
        lag = (now() - events[0].received_at).total_seconds()
        _show_lag(self, lag)
        started = time.perf_counter()
        result = apply_with_retry(
            self.store, self.lake, ref, events, held=lambda: self.leases.holds(name)
        )
        self.store.complete_events(result.outcomes, now())
        if result.applied_rows:
            self.maintainer.committed(ref)
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

    def loop_forever(
        self, stop: threading.Event, *, maintain: bool = True, listen: bool = True
    ) -> None:
        """Apply, wait, repeat until ``stop``; then release every lease.

        Maintenance of the tables committed to runs meanwhile on a thread of its own (unless
        ``maintain`` is False: another loader of this process runs the shared maintainer), and
        so does waiting for commits (unless ``listen`` is False: another loader of this process
        listens, and wakes this one among its ``followers``).
        """
        waiter = self.store.open_event_waiter() if listen else None
        listener = threading.Thread(
            target=self._listen, args=(waiter, stop), name="supplylake-loader-listen", daemon=True
        )
        if waiter is not None:
            listener.start()
        maintainer = threading.Thread(
            target=self.maintainer.loop_forever,
            args=(stop,),
            name="supplylake-maintainer",
            daemon=True,
        )
        if maintain:
            maintainer.start()
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
            if waiter is not None:
                listener.join(2 * _LISTEN_SECONDS)
                waiter.close()
            self.leases.close()
            # A compaction in flight is left to finish: its commit is atomic either way.
            if maintain:
                maintainer.join(_MAINTAIN_JOIN_SECONDS)

    def _listen(self, waiter: EventWaiter, stop: threading.Event) -> None:
        loaders = [self, *self.followers]
        while not stop.is_set():
            try:
                if waiter.wait(_LISTEN_SECONDS):
                    for loader in loaders:
                        loader.wake()
            except Exception:
                log.exception("waiting for new events failed; polling meanwhile")
                stop.wait(_LISTEN_SECONDS)
        for loader in loaders:
            loader.wake()  # a loader waiting for work sees the stop now


class LoaderProcess:
    """``supplylake loader`` as a child process of ``serve``: restarted if it dies, stopped with it.

    The loader gets a process (and a GIL) of its own, so pyiceberg's commits never hold up the
    API. It is woken by the store's waiter like any ``supplylake loader``, and its metrics reach
    ``serve``'s ``/metrics`` through ``metrics_file``. Should ``serve`` die, so does the child
    (Linux's parent-death signal), so no loader outlives its server.
    """

    def __init__(self, settings: Settings, metrics_file: Path) -> None:
        self.settings = settings
        self.metrics_file = metrics_file
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(
            target=self._supervise, name="supplylake-loader-supervisor", daemon=True
        )

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        # The supervising thread forks the child: a parent-death signal follows the thread that
        # forked, and this one lives as long as the loader should.
        self._thread.start()

    def _spawn(self) -> None:
        env = {**os.environ, **self.settings.environment(), PARENT_ENV: str(os.getpid())}
        command = [sys.executable, "-m", "supplylake", "loader"]
        command += ["--metrics-file", str(self.metrics_file)]
        self._proc = subprocess.Popen(command, env=env)

    def _supervise(self) -> None:
        try:
            self._spawn()
        except OSError as exc:
            log.error("cannot start the loader process: %s", exc)
            return
        backoff = _RESTART_MIN_SECONDS
        while not self._stop.is_set():
            proc = self._proc
            if proc is None or self._stop.wait(0.5):
                return
            code = proc.poll()
            if code is None:
                backoff = _RESTART_MIN_SECONDS
                continue
            log.error("the loader process exited with code %s; restarting in %.0f s", code, backoff)
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, _RESTART_MAX_SECONDS)
            self._spawn()

    def stop(self) -> None:
        """Ask the loader to stop (it finishes its batch), then make sure it has."""
        self._stop.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                log.warning("the loader did not stop within %.0f s; killing it", _STOP_SECONDS)
                proc.kill()
                proc.wait()
        if self._thread.is_alive():
            self._thread.join(2)


_RESTART_MIN_SECONDS = 1.0
_RESTART_MAX_SECONDS = 30.0
_STOP_SECONDS = 15.0


#: Set by ``serve`` for its loader: the pid the loader must not outlive.
PARENT_ENV = "SUPPLYLAKE_LOADER_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def follow_parent() -> bool:
    """In a loader started by ``serve``: get SIGTERM when serve dies; False if it already has."""
    parent = os.environ.get(PARENT_ENV)
    if not parent:
        return True
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: serve's shutdown still stops the loader
    # serve may have died before the signal was asked for.
    return os.getppid() == int(parent)


def loader_metrics_file(settings: Settings) -> Path:
    """Where the loader of ``serve`` writes its metrics for ``/metrics`` to read."""
    return settings.data_dir.resolve() / "run" / "loader.prom"


def start_process(settings: Settings) -> LoaderProcess:
    """Start the loader of ``serve`` in its own process; ``stop()`` it on shutdown."""
    metrics_file = loader_metrics_file(settings)
    metrics_file.parent.mkdir(parents=True, exist_ok=True)
    metrics_file.unlink(missing_ok=True)  # a dead loader's figures are not this one's
    metrics.read_loader_file(metrics_file)
    loader = LoaderProcess(settings, metrics_file)
    loader.start()
    return loader


def settle_garbage_collector() -> None:
    """In a loader process, once everything is imported and opened: fewer, shorter collections.

    pyiceberg and pyarrow leave a large heap of long-lived objects (modules, schemas, the
    catalog) that every full collection walks again, and a commit allocates tens of thousands of
    short-lived ones, so the default thresholds collected about twice per commit and paused a
    commit for up to 130 ms. Freezing what exists now takes it out of every collection, and a
    higher first threshold collects young objects less often (measured on 150 UPSERT commits:
    0.45 s in 376 collections, longest 133 ms, against 0.04 s in 1 collection, 39 ms).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


_GC_YOUNG_THRESHOLD = 20_000


def standalone(
    store: Store,
    lake: Lake,
    batch_events: int,
    max_wait: float,
    stop: threading.Event,
    *,
    maintain_every: float = 5.0,
    metrics_file: Path | None = None,
    threads: int = 1,
    batch_bytes: int = 64 * 1024 * 1024,
) -> None:
    """``supplylake loader``: the loop in its own process, woken by the store's waiter.

    ``threads`` loaders run side by side and share the datasets through their leases, as
    loader processes do: while one waits on a commit's I/O or the database's write lock,
    another converts and writes its own dataset's batch. With ``metrics_file``, the loader's metrics are written there (Prometheus text format)
    every second and on the way out: what ``serve`` shows, or a node exporter's textfile.
    """
    writer = None
    if metrics_file is not None:
        writer = threading.Thread(
            target=_write_metrics,
            args=(metrics_file, stop),
            name="supplylake-loader-metrics",
            daemon=True,
        )
        writer.start()
    maintainer = Maintainer(store, lake, maintain_every)
    loaders = [
        Loader(store, lake, batch_events, max_wait, maintainer=maintainer, batch_bytes=batch_bytes)
        for _ in range(max(threads, 1))
    ]
    others = [
        threading.Thread(
            target=loader.loop_forever,
            args=(stop,),
            kwargs={"maintain": False, "listen": False},
            name=f"supplylake-loader-{n}",
            daemon=True,
        )
        for n, loader in enumerate(loaders[1:], start=1)
    ]
    loaders[0].followers = loaders[1:]  # one listener wakes them all
    for thread in others:
        thread.start()
    try:
        loaders[0].loop_forever(stop)
    finally:
        stop.set()
        for thread in others:
            thread.join()
        if writer is not None:
            writer.join(2)


def _write_metrics(path: Path, stop: threading.Event) -> None:
    while True:
        try:
            metrics.write_loader_file(path)
        except OSError as exc:
            log.warning("cannot write the loader's metrics to %s: %s", path, exc)
        if stop.wait(_METRICS_EVERY_SECONDS):
            metrics.write_loader_file(path)
            return


_METRICS_EVERY_SECONDS = 1.0
