"""New and rewritten objects under a flow's prefix, each reported once it is complete.

A rewrite is a new object: users re-run a flow by copying a file onto itself, so an object whose
``version`` changed (new ETag or time on S3; new modification time, size or inode in a folder)
is reported again. On S3 a listed object is complete. In a folder a file is complete once its
size and modification time are the same in two scans at least ``settle_seconds`` apart (and its
name is not a partial one, see ``flows.buckets``): a ``cp`` in progress keeps growing, and a
file renamed into place is whole from the start. A writer that stalls longer than that mid-file
should write under a dot-name or ``*.tmp`` and rename when done.

What was already run is the caller's (the store's) knowledge: it seeds ``known`` and the watcher
only says what changed since.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from supplylake.flows.buckets import Buckets, ObjectInfo

#: How long a file in a folder must stay unchanged before it is taken.
SETTLE_SECONDS = 0.5


@dataclass(frozen=True)
class Changes:
    """What a scan found: objects to run, in the order they arrived, and keys now gone."""

    put: list[ObjectInfo] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


class PrefixWatcher:
    """Reports the complete objects under ``bucket/prefix`` that are new or written again."""

    def __init__(
        self,
        buckets: Buckets,
        bucket: str,
        prefix: str,
        known: Mapping[str, str] | None = None,
        *,
        settle_seconds: float = SETTLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.buckets = buckets
        self.bucket = bucket
        self.prefix = prefix
        #: key -> version of the objects already reported (or run before this watcher).
        self.known: dict[str, str] = dict(known or {})
        self.settle_seconds = settle_seconds
        self._clock = clock
        # key -> (version, when first seen with it) of objects waiting to settle.
        self._pending: dict[str, tuple[str, float]] = {}

    def poll(self) -> Changes:
        """Scan once; objects reported are added to ``known``."""
        now = self._clock()
        listed = {o.key: o for o in self.buckets.list_objects(self.bucket, self.prefix)}
        changes = Changes()
        for key, obj in listed.items():
            if self.known.get(key) == obj.version:
                self._pending.pop(key, None)
                continue
            if self.buckets.needs_settling:
                seen = self._pending.get(key)
                if seen is None or seen[0] != obj.version:
                    self._pending[key] = (obj.version, now)
                    continue
                if now - seen[1] < self.settle_seconds:
                    continue
                del self._pending[key]
            changes.put.append(obj)
            self.known[key] = obj.version
        for key in [k for k in self.known if k not in listed]:
            del self.known[key]
            changes.removed.append(key)
        for key in [k for k in self._pending if k not in listed]:
            del self._pending[key]
        changes.put.sort(key=lambda o: (o.mtime_ns, o.key))
        changes.removed.sort()
        return changes

    @property
    def waiting(self) -> bool:
        """Whether some object is still settling (poll again soon rather than at leisure)."""
        return bool(self._pending)
