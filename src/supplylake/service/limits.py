"""Per-instance rate limits (token buckets): in memory, or shared by every API process.

When several API processes serve one instance (``serve --workers``, or several servers on
PostgreSQL), its bucket lives in the store (:class:`SharedRateLimiter`). Asking the store for
every request would put a write transaction on the hot path; instead each process takes a slice
of tokens at a time (about 0.1 s of the rate) and spends it locally. The approximation, per instance:

- never more admitted than the shared bucket gives out, in total;
- a process can hold at most one slice taken but unspent. Unspent tokens are dropped after
  ``slice_seconds * 10``, so in any window the admitted count can exceed the exact bucket by at
  most one slice per process (tokens taken just before the window), and a process that stops
  receiving requests can strand one slice (under-admission elsewhere for a moment);
- once the shared bucket is empty, each process asks again at most every ``slice_seconds / 10``,
  so throttled requests do not each cost a store write.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from supplylake.store.base import Store


class RateLimiter:
    """A token bucket per key: ``rate`` tokens a second, holding at most ``burst``."""

    def __init__(self, rate: float, burst: int, clock: object = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def try_acquire(self, key: str, tokens: float = 1.0) -> bool:
        now: float = self._clock()  # type: ignore[operator]
        with self._lock:
            level, last = self._buckets.get(key, (self.burst, now))
            level = min(self.burst, level + (now - last) * self.rate)
            if level < tokens:
                self._buckets[key] = (level, now)
                return False
            self._buckets[key] = (level - tokens, now)
            return True

    async def acquire(self, key: str) -> bool:
        """Take one token for ``key``; False means throttle."""
        return self.try_acquire(key)

    def forget(self, key: str) -> None:
        with self._lock:
            self._buckets.pop(key, None)


@dataclass
class _Slice:
    tokens: int = 0
    expires: float = 0.0  # monotonic
    not_before: float = 0.0  # monotonic: no new take until then (the shared bucket was empty)
    taking: asyncio.Future[None] | None = field(default=None)
    waiting: int = 0


class SharedRateLimiter(RateLimiter):
    """The bucket of each key in the store, spent locally one slice at a time (see the module)."""

    def __init__(
        self,
        store: Store,
        rate: float,
        burst: int,
        slice_seconds: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(rate, burst, clock)
        self.store = store
        self.slice = max(1, min(int(burst), math.ceil(rate * slice_seconds)))
        self._slice_seconds = slice_seconds
        self._mono = clock
        self._wall = wall
        self._slices: dict[str, _Slice] = {}

    def try_acquire(self, key: str, tokens: float = 1.0) -> bool:
        """Spend from the local slice only (never waits for the store)."""
        state = self._slices.get(key)
        if state is None or state.tokens < tokens or self._mono() >= state.expires:
            return False
        state.tokens -= int(tokens)
        return True

    async def acquire(self, key: str) -> bool:
        # Runs on the event loop only: the local state needs no lock.
        state = self._slices.setdefault(key, _Slice())
        while True:
            now = self._mono()
            if now >= state.expires:
                state.tokens = 0
            if state.tokens > 0:
                state.tokens -= 1
                return True
            if state.taking is not None:
                # Another request is taking a slice already: wait for it, then look again.
                state.waiting += 1
                try:
                    await asyncio.shield(state.taking)
                finally:
                    state.waiting -= 1
                continue
            if now < state.not_before:
                return False
            taking = state.taking = asyncio.get_running_loop().create_future()
            try:
                # Enough for the requests already waiting too, so a burst takes few slices.
                await self._take(
                    key, state, min(int(self.burst), max(self.slice, state.waiting + 1))
                )
            finally:
                state.taking = None
                taking.set_result(None)

    async def _take(self, key: str, state: _Slice, wanted: int) -> None:
        future: Future[int] = self.store.take_tokens(
            f"events:{key}", wanted, self.rate, self.burst, self._wall()
        )
        granted = await asyncio.wrap_future(future)
        now = self._mono()
        state.tokens += granted
        state.expires = now + 10 * self._slice_seconds
        if granted < wanted:
            # The shared bucket ran dry: let it refill before asking again.
            state.not_before = now + self._slice_seconds / 10

    def forget(self, key: str) -> None:
        self._slices.pop(key, None)


def limiter_for(store: Store, rate: float, burst: int, shared: bool) -> RateLimiter:
    """The event rate limiter: shared through the store when several processes serve."""
    if shared:
        return SharedRateLimiter(store, rate, burst)
    return RateLimiter(rate, burst)
