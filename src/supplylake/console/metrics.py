"""Chart series from the store's events: accepted and applied per second, and loader lag.

They are computed from each event's ``received_at`` and ``applied_at``, read newest first with
``Store.list_events``; events stay in the store for days, so the last hour is always there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from supplylake.states import LoadStatus
from supplylake.store.base import Event, Store

WINDOWS = {300: "5 minutes", 900: "15 minutes", 3600: "1 hour"}
DEFAULT_WINDOW = 3600
#: About this many points per series, whatever the window.
_POINTS = 240
#: Events received this long before the window may still have been applied inside it.
_LOOKBACK = timedelta(minutes=10)
#: Reading stops after this many events (the newest), so a busy instance stays quick to chart.
SCAN_LIMIT = 200_000
_READ_BATCH = 2000


@dataclass
class Series:
    """Per-bucket values, bucket start times in epoch seconds."""

    bucket_seconds: int
    times: list[int]
    accepted_per_s: list[float]
    applied_per_s: list[float]
    lag_mean_s: list[float | None]
    lag_max_s: list[float | None]
    accepted: int
    applied: int
    failed: int
    pending: int
    oldest_pending_s: float | None
    lag_p50_s: float | None
    lag_p95_s: float | None
    truncated: bool


def bucket_seconds(window: int) -> int:
    return max(1, window // _POINTS)


def series(events: Iterable[Event], now: datetime, window: int, truncated: bool = False) -> Series:
    """Bucket ``events`` over the ``window`` seconds before ``now``."""
    step = bucket_seconds(window)
    end = math.floor(now.timestamp() / step) * step
    start = end - (window // step - 1) * step
    n = (end - start) // step + 1
    accepted = [0] * n
    applied = [0] * n
    lag_sum = [0.0] * n
    lag_max: list[float | None] = [None] * n
    lags: list[float] = []
    failed = pending = 0
    oldest_pending: datetime | None = None

    def index(at: datetime) -> int | None:
        i = (math.floor(at.timestamp()) - start) // step
        return i if 0 <= i < n else None

    for ev in events:
        if ev.status == LoadStatus.IN_PROGRESS:
            pending += 1
            if oldest_pending is None or ev.received_at < oldest_pending:
                oldest_pending = ev.received_at
        i = index(ev.received_at)
        if i is not None:
            accepted[i] += 1
        if ev.applied_at is None:
            continue
        j = index(ev.applied_at)
        if j is None:
            continue
        applied[j] += 1
        failed += ev.status == LoadStatus.FAILED
        lag = max(0.0, (ev.applied_at - ev.received_at).total_seconds())
        lags.append(lag)
        lag_sum[j] += lag
        current = lag_max[j]
        lag_max[j] = lag if current is None else max(current, lag)
    lags.sort()
    return Series(
        bucket_seconds=step,
        times=[start + k * step for k in range(n)],
        accepted_per_s=[c / step for c in accepted],
        applied_per_s=[c / step for c in applied],
        lag_mean_s=[lag_sum[k] / applied[k] if applied[k] else None for k in range(n)],
        lag_max_s=lag_max,
        accepted=sum(accepted),
        applied=sum(applied),
        failed=failed,
        pending=pending,
        oldest_pending_s=(now - oldest_pending).total_seconds() if oldest_pending else None,
        lag_p50_s=_quantile(lags, 0.5),
        lag_p95_s=_quantile(lags, 0.95),
        truncated=truncated,
    )


def recent_events(store: Store, instance_id: str, since: datetime) -> tuple[list[Event], bool]:
    """Events received after ``since - lookback``, newest first, and whether reading stopped early."""
    cutoff = since - _LOOKBACK
    found: list[Event] = []
    before = None
    while len(found) < SCAN_LIMIT:
        batch = store.list_events(instance_id, None, before, _READ_BATCH)
        for ev in batch:
            if ev.received_at < cutoff:
                return found, False
            found.append(ev)
        if len(batch) < _READ_BATCH:
            return found, False
        before = batch[-1].position
    return found, True


def instance_series(store: Store, instance_id: str, now: datetime, window: int) -> Series:
    events, truncated = recent_events(store, instance_id, now - timedelta(seconds=window))
    return series(events, now, window, truncated)


def _quantile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]
