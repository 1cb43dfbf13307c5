"""The flows job: watch each flow's sources, queue executions, and run them in order.

Each pass visits every flow of every instance under the flow's lease (``flow:<instance>/<name>``),
so the flows spread over the loader processes and a flow is handled by one loader at a time:

- its S3 sources' prefixes are scanned (``flows.watch.PrefixWatcher``, seeded with the objects
  the store says were queued already): a new or rewritten object queues an execution, and so
  does a removed one for an INCREMENTAL flow. The store records the object in the same
  transaction as the execution, so a crash between the two cannot lose or repeat a file.
- its dataset sources' tables are compared with the snapshots its last dataset execution read:
  a commit queues an execution once the tables have been quiet for ``DEBOUNCE_SECONDS`` (a
  burst of commits makes one execution), unless one is queued already.
- its queued executions are run one at a time, oldest first. An execution is marked started
  before it runs; one started by a loader that died is run again, and the lake's record of the
  execution in its commit (``lake.flows_write``) keeps it from being applied twice.

A lease is kept while its flow has work (a file settling, executions queued) and released
when the flow is idle, so another loader can take the flow at its next pass.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from supplylake import metrics
from supplylake.flows.buckets import Buckets, buckets_for
from supplylake.flows.definition import (
    DatasetRef,
    FlowDefinition,
    LoadType,
    Source,
    build_flow,
)
from supplylake.flows.execute import Execution, Executor, Outcome
from supplylake.flows.watch import PrefixWatcher
from supplylake.loader.jobs import Context
from supplylake.loader.leases import holding, lease_name, owner_name
from supplylake.schema.asc import ASC_NAMESPACE, asc_datasets
from supplylake.schema.types import DatasetSchema
from supplylake.states import GONE, FlowExecutionStatus
from supplylake.store.base import DatasetRef as StoreDatasetRef
from supplylake.store.base import FlowExecution, Leases, StoredFlow

log = logging.getLogger(__name__)

#: How often the job looks at the flows (a folder's files also need two looks to settle).
POLL_SECONDS = 0.25
#: S3 listings cost requests: each flow's prefix is listed at most this often there.
S3_POLL_SECONDS = 2.0
#: A dataset source must be quiet this long after a commit before its flows run.
DEBOUNCE_SECONDS = 1.0
#: ... but a source committed to without a pause still runs its flows this often.
DEBOUNCE_MOST_SECONDS = 10.0
#: An execution that keeps failing on faults that are not its own is failed after this many tries.
ATTEMPTS = 5
_EXPIRE_EVERY_SECONDS = 3600.0


def flow_lease(instance_id: str, name: str) -> str:
    return f"flow:{instance_id}/{name}"


@dataclass
class _Watched:
    """What the job remembers of a flow between passes."""

    updated_at: datetime
    definition: FlowDefinition
    watchers: dict[str, PrefixWatcher] = field(default_factory=dict)
    listed_at: float = 0.0
    #: Snapshot ids of the dataset sources as last read (or queued for).
    snapshots: dict[str, int | None] | None = None
    #: Snapshot ids seen changed and not run yet, since when, and since when unchanged.
    pending: dict[str, int | None] | None = None
    changed_at: float | None = None
    first_change_at: float | None = None


class FlowRunner:
    """The flows job of one loader thread."""

    def __init__(self, ctx: Context, buckets: Buckets | None = None) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.buckets = buckets or buckets_for(ctx.settings)
        self.executor = Executor(
            ctx.lake,
            self.buckets,
            self._schema,
            spool_dir=ctx.settings.data_dir.resolve(),
            exclusive=self._exclusive,
        )
        self.leases: Leases = ctx.store.open_leases(owner_name() + ":flows")
        self._held: set[str] = set()
        self._flows: dict[tuple[str, str], _Watched] = {}
        #: Executions a fault kept from ending: tries so far, and when to try again.
        self._attempts: dict[str, tuple[int, float]] = {}
        self._expired_at = 0.0

    def close(self) -> None:
        self.leases.close()

    def run_once(self) -> int:
        """One look at every flow; the executions run."""
        self._expire()
        done = 0
        seen: set[tuple[str, str]] = set()
        instances: dict[str, bool] = {}
        for stored in self.store.all_flows():
            key = (stored.instance_id, stored.name)
            seen.add(key)
            if stored.instance_id not in instances:
                instance = self.store.get_instance(stored.instance_id)
                instances[stored.instance_id] = instance is not None and instance.state not in GONE
            if not instances[stored.instance_id]:
                continue
            lease = flow_lease(*key)
            if lease not in self._held:
                if not self.leases.try_acquire(lease):
                    continue
                self._held.add(lease)
            busy = False
            try:
                busy, ran = self._visit(stored)
                done += ran
            except Exception:
                log.exception(
                    "flow %s of instance %s: pass failed", stored.name, stored.instance_id
                )
                busy = True
            finally:
                if not busy:
                    self.leases.release(lease)
                    self._held.discard(lease)
        for key in [k for k in self._flows if k not in seen]:
            del self._flows[key]
            self.leases.release(flow_lease(*key))
            self._held.discard(flow_lease(*key))
        return done

    # -- one flow ------------------------------------------------------------------------------
    def _visit(self, stored: StoredFlow) -> tuple[bool, int]:
        """Queue what changed and run what is queued; (still busy, executions run)."""
        watched = self._watched(stored)
        flow = watched.definition
        settling = self._watch_objects(stored, watched)
        self._watch_datasets(stored, watched)
        ran = 0
        while True:
            execution = self.store.next_flow_execution(stored.instance_id, stored.name)
            if execution is None:
                break
            if not self.leases.holds(flow_lease(stored.instance_id, stored.name)):
                return False, ran
            # The flow as it is now: an update takes effect at the next execution.
            current = self.store.get_flow(stored.instance_id, stored.name)
            if current is None:
                break
            if current.updated_at != watched.updated_at:
                watched = self._watched(current)
                flow = watched.definition
            if not self._run(flow, execution):
                return True, ran  # a fault that is not the execution's: try again later
            ran += 1
        pending_datasets = watched.changed_at is not None
        return settling or pending_datasets, ran

    def _watched(self, stored: StoredFlow) -> _Watched:
        key = (stored.instance_id, stored.name)
        watched = self._flows.get(key)
        if watched is None or watched.updated_at != stored.updated_at:
            definition = build_flow(stored.definition)
            old = watched
            watched = _Watched(stored.updated_at, definition)
            if old is not None:
                watched.snapshots = old.snapshots
            self._flows[key] = watched
        return watched

    def _watch_objects(self, stored: StoredFlow, watched: _Watched) -> bool:
        """Queue an execution per new, rewritten or removed object; whether a file is settling."""
        flow = watched.definition
        sources = [s for s in flow.sources if s.s3 is not None]
        if not sources:
            return False
        every = POLL_SECONDS if self.buckets.needs_settling else S3_POLL_SECONDS
        at = time.monotonic()
        if at - watched.listed_at < every * 0.9:
            return any(w.waiting for w in watched.watchers.values())
        watched.listed_at = at
        known = self.store.flow_objects(stored.instance_id, stored.name)
        incremental = _load_type(flow) is LoadType.INCREMENTAL
        settling = False
        for source in sources:
            assert source.s3 is not None
            watcher = watched.watchers.get(source.source_name)
            mine = {k: v for k, v in known.items() if k.startswith(source.s3.key_prefix)}
            if watcher is None:
                watcher = PrefixWatcher(
                    self.buckets, source.s3.bucket_name, source.s3.key_prefix, mine
                )
                watched.watchers[source.source_name] = watcher
            else:
                watcher.known = dict(mine)  # another loader may have queued meanwhile
            changes = watcher.poll()
            for obj in changes.put:
                trigger: dict[str, Any] = {"kind": "object", "key": obj.key, "version": obj.version}
                if obj.key in mine:
                    trigger["rewritten"] = True
                self._queue(stored, _s3_info(source, obj.key), trigger)
            for key in changes.removed:
                if incremental:
                    self._queue(stored, _s3_info(source, key), {"kind": "removed", "key": key})
                else:
                    self.store.set_flow_object(stored.instance_id, stored.name, key, None)
            settling = settling or watcher.waiting
        return settling

    def _watch_datasets(self, stored: StoredFlow, watched: _Watched) -> None:
        """Queue one execution after a burst of commits to the flow's source datasets."""
        flow = watched.definition
        refs = {s.source_name: s.dataset.ref for s in flow.sources if s.dataset is not None}
        if not refs:
            return
        current = {name: self._snapshot(ref) for name, ref in refs.items()}
        if watched.snapshots is None:
            watched.snapshots = self._last_read(stored)
            if watched.snapshots is None:
                # Never run: the first look runs the flow once over what the sources hold.
                watched.snapshots = {}
        at = time.monotonic()
        if current == watched.snapshots:
            watched.changed_at = watched.first_change_at = None
            return
        if watched.changed_at is None or current != watched.pending:
            watched.changed_at = at
            watched.first_change_at = watched.first_change_at or at
            watched.pending = current
        quiet = at - watched.changed_at >= DEBOUNCE_SECONDS
        overdue = at - (watched.first_change_at or at) >= DEBOUNCE_MOST_SECONDS
        if not (quiet or overdue):
            return
        watched.snapshots = current
        watched.pending = watched.changed_at = watched.first_change_at = None
        first = next(iter(flow.sources))
        identifier = first.dataset.identifier if first.dataset is not None else ""
        info = {"source_type": "DATASET", "dataset_source": {"dataset_identifier": identifier}}
        trigger = {"kind": "datasets", "snapshots": {k: v for k, v in current.items()}}
        self._queue(stored, info, trigger)

    def _snapshot(self, ref: DatasetRef) -> int | None:
        try:
            table = self.ctx.lake.table(ref.instance_id, ref.namespace, ref.name)
        except Exception:  # no table yet (an asc dataset nothing has written to)
            return None
        snapshot = table.current_snapshot()
        return snapshot.snapshot_id if snapshot is not None else None

    def _last_read(self, stored: StoredFlow) -> dict[str, int | None] | None:
        """The source snapshots the flow's latest dataset execution was queued for."""
        for execution in self.store.list_flow_executions(stored.instance_id, stored.name, None, 50):
            if execution.trigger.get("kind") == "datasets":
                snapshots: dict[str, int | None] = dict(execution.trigger.get("snapshots") or {})
                return snapshots
        return None

    def _queue(self, stored: StoredFlow, info: dict[str, Any], trigger: dict[str, Any]) -> None:
        self.store.queue_flow_execution(
            stored.instance_id, stored.name, str(uuid.uuid4()), info, trigger, datetime.now(UTC)
        )

    # -- one execution -------------------------------------------------------------------------
    def _run(self, flow: FlowDefinition, execution: FlowExecution) -> bool:
        """Run an execution and record its outcome; False if a fault kept it from ending."""
        tries, retry_at = self._attempts.get(execution.execution_id, (0, 0.0))
        if time.monotonic() < retry_at:
            return False
        self.store.start_flow_execution(execution.execution_id, datetime.now(UTC))
        started = time.monotonic()
        request = Execution(flow, execution.execution_id, execution.seq, execution.trigger)
        try:
            outcome = self.executor.run(request)
        except Exception as exc:
            tries += 1
            backoff = min(2.0**tries, 60.0)
            self._attempts[execution.execution_id] = (tries, time.monotonic() + backoff)
            if tries < ATTEMPTS:
                log.warning(
                    "flow %s execution %s: %s (try %d of %d)",
                    flow.name,
                    execution.execution_id,
                    exc,
                    tries,
                    ATTEMPTS,
                )
                return False
            log.exception("flow %s execution %s failed", flow.name, execution.execution_id)
            outcome = Outcome(
                False, f"The execution could not be completed: {type(exc).__name__}: {exc}"
            )
        self._attempts.pop(execution.execution_id, None)
        status = FlowExecutionStatus.SUCCEEDED if outcome.succeeded else FlowExecutionStatus.FAILED
        self.store.finish_flow_execution(
            execution.execution_id,
            status,
            outcome.message,
            datetime.now(UTC),
            rows_read=outcome.rows_read,
            rows_written=outcome.rows_written,
            rows_rejected=outcome.rows_rejected,
            diagnostics_uri=outcome.diagnostics_uri,
        )
        metrics.FLOW_EXECUTIONS.labels(status.value).inc()
        metrics.FLOW_EXECUTION_SECONDS.observe(time.monotonic() - started)
        if outcome.committed is not None and not outcome.already:
            namespace, name = outcome.committed
            self.ctx.due.committed(StoreDatasetRef(flow.instance_id, namespace, name))
            metrics.LAKE_COMMITS.labels(namespace, name).inc()
            metrics.FLOW_ROWS_WRITTEN.inc(outcome.rows_written)
        return True

    @contextmanager
    def _exclusive(self, instance_id: str, namespace: str, name: str) -> Iterator[None]:
        """Hold the target dataset's apply lease for an execution's commit.

        The event loads and compaction's commit take it too: a commit that waits for them
        lands at once instead of racing them and planning again.
        """
        ref = StoreDatasetRef(instance_id, namespace, name)
        with holding(self.leases, lease_name(ref), timeout=300.0):
            yield

    def _schema(self, ref: DatasetRef) -> DatasetSchema | None:
        if ref.namespace == ASC_NAMESPACE:
            return asc_datasets().get(ref.name)
        dataset = self.store.get_dataset(ref.instance_id, ref.namespace, ref.name)
        return dataset.schema if dataset is not None else None

    def _expire(self) -> None:
        if time.monotonic() - self._expired_at < _EXPIRE_EVERY_SECONDS:
            return
        self._expired_at = time.monotonic()
        days = self.ctx.settings.flow_execution_retention_days
        gone = self.store.expire_flow_executions(datetime.now(UTC) - timedelta(days=days))
        if gone:
            log.info("forgot %d flow executions past their retention", gone)


def _load_type(flow: FlowDefinition) -> LoadType:
    target = flow.target.dataset
    if target is None or target.options is None:
        return LoadType.INCREMENTAL
    return target.options.effective_load_type


def _s3_info(source: Source, key: str) -> dict[str, Any]:
    assert source.s3 is not None
    return {"source_type": "S3", "s3_source": {"bucket_name": source.s3.bucket_name, "key": key}}
