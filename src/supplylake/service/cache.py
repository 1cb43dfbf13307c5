"""Short-lived copies of access keys, instances and datasets for the request path.

Every API request needs its access key and most need their instance; reading them from the store
each time was a fifth of a small request's cost. An entry is used for at most ``ttl`` seconds
(``cache_seconds``, 1 s by default), then read again. So a change made by another process (``keys
revoke`` from the CLI, another API process of ``serve --workers``) takes effect within ``ttl``
seconds, like IAM's eventual consistency. A change made through this process's own store takes effect at once:
every write through it bumps ``Store.changes``, and an entry read before the bump is not used.

Misses are not kept: an unknown key or instance is asked for again every time, so a key created
a moment ago works at once and a flood of made-up key ids cannot fill the cache.

A read that may reach the store blocks; on the event loop, ask for a fresh entry first (``fresh``
never touches the store) and read through `blocking` only when there is none.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

from supplylake.store.base import AccessKey, Dataset, Instance, Store

K = TypeVar("K")
V = TypeVar("V")

#: Entries kept per kind; the whole kind is dropped when full (cheap, and rare in practice).
_MAX_ENTRIES = 10_000


class _Entries(Generic[K, V]):
    __slots__ = ("_clock", "_entries", "_read", "_store", "_ttl")

    def __init__(
        self, store: Store, read: Callable[[K], V | None], ttl: float, clock: Callable[[], float]
    ) -> None:
        self._store = store
        self._read = read
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[K, tuple[V, float, int]] = {}

    def fresh(self, key: K) -> V | None:
        """The entry for ``key`` if it may still be used, without asking the store."""
        found = self._entries.get(key)
        if found is not None and found[1] > self._clock() and found[2] == self._store.changes:
            return found[0]
        return None

    def get(self, key: K) -> V | None:
        now = self._clock()
        found = self._entries.get(key)
        changes = self._store.changes
        if found is not None and found[1] > now and found[2] == changes:
            return found[0]
        # Read the counter before the store: a write that lands during the read bumps it after.
        value = self._read(key)
        if value is None:
            self._entries.pop(key, None)
        elif self._ttl > 0:
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (value, now + self._ttl, changes)
        return value


class ReadCache:
    """Keys, instances and stored datasets, each used for at most ``ttl`` seconds."""

    def __init__(self, store: Store, ttl: float, clock: Callable[[], float] = time.monotonic):
        self._keys: _Entries[str, AccessKey] = _Entries(store, store.get_key, ttl, clock)
        self._instances: _Entries[str, Instance] = _Entries(store, store.get_instance, ttl, clock)
        self._datasets: _Entries[tuple[str, str, str], Dataset] = _Entries(
            store, lambda k: store.get_dataset(*k), ttl, clock
        )

    def key(self, access_key_id: str) -> AccessKey | None:
        return self._keys.get(access_key_id)

    def instance(self, instance_id: str) -> Instance | None:
        return self._instances.get(instance_id)

    def dataset(self, instance_id: str, namespace: str, name: str) -> Dataset | None:
        return self._datasets.get((instance_id, namespace, name))

    def fresh_key(self, access_key_id: str) -> AccessKey | None:
        """The key if a usable copy is kept (never reads the store: safe on the event loop)."""
        return self._keys.fresh(access_key_id)

    def fresh_instance(self, instance_id: str) -> Instance | None:
        """The instance if a usable copy is kept (never reads the store)."""
        return self._instances.fresh(instance_id)

    def fresh_dataset(self, instance_id: str, namespace: str, name: str) -> Dataset | None:
        """The dataset if a usable copy is kept (never reads the store)."""
        return self._datasets.fresh((instance_id, namespace, name))
