"""Per-instance rate limits (token buckets)."""

from __future__ import annotations

import threading
import time


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

    def forget(self, key: str) -> None:
        with self._lock:
            self._buckets.pop(key, None)
