"""What was read from files that never change, kept by key, least recently used first out.

The lake's caches (manifest lists and entries, delete files' positions, key indexes, parsed table
metadata) hold what an immutable file says, so an entry is never stale, only evicted. Each entry
has a weight (1 unless `weight` says otherwise: manifest entries count their DataFiles); past
`limit` in all, the least recently used go, though the newest entry always stays. Safe across
threads; callers must not change what they get.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Lru(Generic[K, V]):
    """A thread-safe least-recently-used map bounded by the total weight of its values."""

    def __init__(self, limit: int, weight: Callable[[V], int] | None = None) -> None:
        self.limit = limit
        self._weight = weight
        self._lock = threading.Lock()
        self._items: OrderedDict[K, V] = OrderedDict()
        self._held = 0

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._drop(key)
            self._items[key] = value
            self._held += self._weigh(value)
            while self._held > self.limit and len(self._items) > 1:
                _, gone = self._items.popitem(last=False)
                self._held -= self._weigh(gone)

    def pop(self, key: K) -> None:
        """Drop `key`'s entry, if there is one."""
        with self._lock:
            self._drop(key)

    def discard(self, keep: Callable[[K], bool]) -> None:
        """Drop every entry whose key `keep` says no to."""
        with self._lock:
            for key in [k for k in self._items if not keep(k)]:
                self._held -= self._weigh(self._items.pop(key))

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._held = 0

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def _drop(self, key: K) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._held -= self._weigh(old)

    def _weigh(self, value: V) -> int:
        return 1 if self._weight is None else self._weight(value)
