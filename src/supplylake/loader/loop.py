"""A loader pass: claim a dataset's pending events, fold and apply them, record the outcomes.

Any number of loaders may run against one store: the threads of a ``supplylake loader``
process, of several such processes, on one machine or several. Each dataset is applied by one
loader at a time, under the dataset's lease (:meth:`Store.open_leases`): a loader takes it for
one batch (read the pending events, apply them, record the outcomes) and lets it go, so
datasets spread over the loaders pass by pass. Leases end with their holder's session, never on
a timer, so a slow loader keeps its dataset and a dead one frees it at once; the others take it
over at their next pass. What the dead loader had committed is known from the table's recorded
position: those events are only marked SUCCEEDED, never applied again.

A pass takes the datasets in the store's order, the one whose oldest pending event was accepted
first, first: the same order for every loader of every process, whichever of them applied a
dataset last. With many active tables a pass takes a while and its order grows stale (another
process applies some of its datasets, new events arrive), so a pass ends after
``PASS_SECONDS`` and the next one lists the datasets again.

A process given a :class:`Share` (``serve`` gives one to each of its loader processes) takes
the datasets of its share first, in that order, and the others' only when it has time left in
a pass, or when they have waited ``STEAL_SECONDS`` longer than the oldest of its own (their
process is behind, busy or gone). A table then stays with one process while all keep up, and
so do what that process keeps of it (parsed metadata, manifests, key indexes): applied by
turns in two processes, each of its commits read back what the other had written.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from supplylake import metrics
from supplylake.loader.leases import lease_name, owner_name
from supplylake.loader.maintenance import DueTables
from supplylake.service.clock import now
from supplylake.store.base import DatasetRef, Event, LeaseLost, Leases, Store

if TYPE_CHECKING:
    from supplylake.lake import Lake

log = logging.getLogger(__name__)

_lags: dict[int, float] = {}
_lags_lock = threading.Lock()


def _show_lag(loader: object, lag: float) -> None:
    """The lag gauge shows the largest lag among the loaders of this process."""
    with _lags_lock:
        _lags[id(loader)] = lag
        metrics.LOADER_LAG.set(max(_lags.values()))


#: Seconds after which a pass takes no more datasets, so that the next lists them afresh.
PASS_SECONDS = 1.0
#: How much longer than this process's own oldest a dataset of another share must have waited
#: for this process to take it in turn.
STEAL_SECONDS = 2.0


@dataclass(frozen=True)
class Share:
    """Share ``index`` (from 0) of ``count``: the datasets a loader process takes first."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Share:
        """``K/N`` (K from 1 to N) as a share."""
        k, sep, n = text.partition("/")
        try:
            share = cls(int(k) - 1, int(n)) if sep else None
        except ValueError:
            share = None
        if share is None or not 0 <= share.index < share.count:
            raise ValueError(f"a share is K/N with 1 <= K <= N, such as 1/2; not {text!r}")
        return share

    def holds(self, ref: DatasetRef) -> bool:
        key = f"{ref.instance_id}/{ref.namespace}/{ref.name}".encode()
        return zlib.crc32(key) % self.count == self.index


class Turns:
    """What the loader threads of a process know of each other's passes.

    Each pending dataset is known by when its waiting events arrived, as far as this process has
    seen: when a pass first finds it pending, or, once a batch of it was read, after that batch.
    So a dataset one thread has just applied is not read again by the others in the same pass.
    """

    def __init__(self, share: Share | None = None) -> None:
        self.share = share
        self._lock = threading.Lock()
        self._since: dict[DatasetRef, float] = {}

    def listed(self, pending: Sequence[DatasetRef]) -> None:
        """A pass found ``pending``: datasets not pending any more are forgotten."""
        at = time.time()
        with self._lock:
            self._since = {ref: self._since.get(ref, at) for ref in pending}

    def in_turn(self, pending: Sequence[DatasetRef]) -> list[DatasetRef]:
        """``pending`` (in the store's order) in the order this process takes them: its share's
        and those of other shares overdue, then the rest of the others'."""
        share = self.share
        if share is None or share.count == 1:
            return list(pending)
        ours = [share.holds(ref) for ref in pending]
        with self._lock:
            since = [self._since.get(ref, 0.0) for ref in pending]
        own = [at for at, mine in zip(since, ours, strict=True) if mine]
        due = (min(own) if own else time.time()) - STEAL_SECONDS
        first: list[DatasetRef] = []
        later: list[DatasetRef] = []
        for ref, mine, at in zip(pending, ours, since, strict=True):
            (first if mine or at < due else later).append(ref)
        return first + later

    def waiting_since(self, ref: DatasetRef) -> float:
        with self._lock:
            return self._since.get(ref, 0.0)

    def read(self, ref: DatasetRef, since: float) -> None:
        """A batch of ``ref`` was read: whatever still waits arrived at ``since`` or after."""
        with self._lock:
            if ref in self._since:
                self._since[ref] = since


class Loader:
    """The dataset-loads job: applies a batch of each pending dataset it can lease, per pass."""

    def __init__(
        self,
        store: Store,
        lake: Lake,
        batch_events: int,
        *,
        batch_bytes: int = 64 * 1024 * 1024,
        leases: Leases | None = None,
        due: DueTables | None = None,
        turns: Turns | None = None,
    ) -> None:
        self.store = store
        self.lake = lake
        self.batch_events = batch_events
        self.batch_bytes = batch_bytes
        self._limits: dict[DatasetRef, int] = {}
        self.leases = leases if leases is not None else store.open_leases(owner_name())
        #: Where committed tables are noted for maintenance (none: not maintained).
        self.due = due
        self.turns = turns or Turns()
        self.applied_events = 0

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
        refs = self.store.pending_datasets()  # oldest pending event first
        self.turns.listed(refs)
        listed = time.time()
        refs = self.turns.in_turn(refs)
        for ref in refs:
            if time.time() - listed > PASS_SECONDS:
                break  # the order is stale: list again
            if self.turns.waiting_since(ref) > listed:
                continue  # another loader of this process has read it during this pass
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
        read_at = time.time()
        limit = self._limit(ref)
        read = self.store.pending_events(ref, limit)
        events = self._within_bytes(ref, read)
        metrics.EVENTS_PENDING.labels(ref.namespace, ref.name).set(len(events))
        left_behind = len(read) >= limit or len(events) < len(read)
        # Events a full batch left behind arrived before the read: the dataset keeps its turn.
        self.turns.read(ref, events[-1].received_at.timestamp() if left_behind else read_at)
        if not events:
            return 0, 0.0
        lag = (now() - events[0].received_at).total_seconds()
        _show_lag(self, lag)
        started = time.perf_counter()
        result = apply_with_retry(
            self.store, self.lake, ref, events, held=lambda: self.leases.holds(name)
        )
        self.store.complete_events(result.outcomes, now())
        if result.applied_rows and self.due is not None:
            self.due.committed(ref)
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

    def close(self) -> None:
        self.leases.close()
