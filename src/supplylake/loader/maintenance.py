"""Table maintenance: compaction and snapshot expiry of the tables loaders commit to.

It runs on a thread of its own, off the apply path, at most once per ``every`` seconds per table
that saw commits, under a lease of its own so that several loaders never maintain one table at
once. Compaction rewrites its files while commits go on, then takes the dataset's apply lease for
its rebase and commit (and expiry for all of its short run): beside a loader committing back to
back, a rebase alone never caught up.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from supplylake import metrics
from supplylake.loader.leases import holding, lease_name, owner_name
from supplylake.store.base import DatasetRef, Leases, Store

if TYPE_CHECKING:
    from supplylake.lake import Lake

log = logging.getLogger(__name__)


class DueTables:
    """Tables committed to, and when each was last maintained; shared by a process's jobs.

    A table is due for a look ``every`` seconds after its last one, once it has had
    ``LOOK_AFTER_COMMITS`` commits since, or ``LONGEST_WAIT`` looks' worth of seconds with
    any: one or two small commits rarely tip a table over the thresholds of
    `Lake.maybe_maintain`, and with hundreds of tables committing every few seconds, looking at
    each after every commit took a tenth of the loader's time.
    """

    def __init__(self, every: float) -> None:
        self.every = every
        self._lock = threading.Lock()
        self._commits: dict[DatasetRef, int] = {}
        self._last: dict[DatasetRef, float] = {}

    def committed(self, ref: DatasetRef, commits: int = 1) -> None:
        """Rows were committed to ``ref``'s table: it is due for a look."""
        with self._lock:
            self._commits[ref] = self._commits.get(ref, 0) + commits

    def ready(self) -> list[DatasetRef]:
        """The due tables to look at now (each then counts as looked at, commits forgotten)."""
        at = time.monotonic()
        with self._lock:
            refs = [r for r, n in self._commits.items() if self._due(r, n, at)]
            for r in refs:
                del self._commits[r]
        return refs

    def _due(self, ref: DatasetRef, commits: int, at: float) -> bool:
        since = at - self._last.get(ref, -LONGEST_WAIT * self.every)
        if since < self.every:
            return False
        return commits >= LOOK_AFTER_COMMITS or since >= LONGEST_WAIT * self.every

    def maintained(self, ref: DatasetRef) -> None:
        with self._lock:
            self._last[ref] = time.monotonic()


#: Commits to a table after which it is looked at (``every`` seconds after its last look).
LOOK_AFTER_COMMITS = 4
#: Intervals of ``every`` after which a table with fewer commits is looked at all the same.
LONGEST_WAIT = 6


class Maintainer:
    """The maintenance job: maintains every ready table no other loader is maintaining."""

    def __init__(self, store: Store, lake: Lake, due: DueTables) -> None:
        self.lake = lake
        self.due = due
        self.leases: Leases = store.open_leases(owner_name() + ":maintainer")

    def run_once(self) -> int:
        """Maintain the ready tables; how many were."""
        done = 0
        for ref in self.due.ready():
            name = "maintain:" + lease_name(ref)
            if not self.leases.try_acquire(name):
                self.due.committed(ref, LOOK_AFTER_COMMITS)  # another loader is at it: look again
                continue
            try:
                exclusive = functools.partial(holding, self.leases, lease_name(ref))
                if not maintain(self.lake, ref, exclusive):
                    self.due.committed(ref, LOOK_AFTER_COMMITS)  # again after the interval
            finally:
                self.leases.release(name)
                self.due.maintained(ref)
            done += 1
        return done

    def close(self) -> None:
        self.leases.close()


def maintain(
    lake: Lake,
    ref: DatasetRef,
    exclusive: Callable[[], AbstractContextManager[Any]] | None = None,
) -> bool:
    """Compact small files and expire old snapshots when they pile up (cheap when they do not).

    ``exclusive()`` keeps the loaders of the dataset out while maintenance commits. Returns
    False when maintenance failed (it is logged; the caller tries again later).
    """
    try:
        result = lake.maybe_maintain(ref.instance_id, ref.namespace, ref.name, exclusive=exclusive)
    except Exception as exc:
        log.warning("maintenance of %s.%s failed: %s", ref.namespace, ref.name, exc)
        return False
    if result.compacted is not None and result.compacted.snapshot_id is not None:
        metrics.LAKE_COMPACTIONS.labels(ref.namespace, ref.name).inc()
    metrics.LAKE_SNAPSHOTS_EXPIRED.inc(result.snapshots_expired)
    return True
