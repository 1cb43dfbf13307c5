"""Chart series: events accepted and applied per second, and the loader's lag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from supplylake.console.metrics import bucket_seconds, series
from supplylake.schema.types import Operation
from supplylake.store.base import Event

NOW = datetime(2025, 5, 1, 12, 0, 0, tzinfo=UTC)


def _event(position: int, received: datetime, applied: datetime | None, status: str) -> Event:
    return Event(
        position=position,
        event_id=f"e{position}",
        instance_id="i",
        event_type="scn.data.forecast",
        event_group_id="g",
        event_timestamp=received,
        namespace="asc",
        dataset="forecast",
        operation=Operation.UPSERT,
        status=status,
        received_at=received,
        applied_at=applied,
    )


def test_buckets_cover_the_window() -> None:
    s = series([], NOW, 300)
    assert s.bucket_seconds == bucket_seconds(300) == 1
    assert len(s.times) == 300 and s.times[-1] == int(NOW.timestamp())
    assert bucket_seconds(3600) == 15


def test_rates_lag_and_backlog() -> None:
    t = NOW - timedelta(seconds=30)
    events = [
        _event(1, t, t + timedelta(seconds=0.5), "SUCCEEDED"),
        _event(2, t, t + timedelta(seconds=1.5), "FAILED"),
        _event(3, t + timedelta(seconds=1), None, "IN_PROGRESS"),
        _event(4, NOW - timedelta(hours=2), NOW - timedelta(hours=2), "SUCCEEDED"),
    ]
    s = series(events, NOW, 300)
    assert (s.accepted, s.applied, s.failed, s.pending) == (3, 2, 1, 1)
    i = s.times.index(int(t.timestamp()))
    assert s.accepted_per_s[i] == 2 and s.accepted_per_s[i + 1] == 1
    assert s.applied_per_s[i] == 1 and s.applied_per_s[i + 1] == 1
    assert s.lag_max_s[i + 1] == 1.5 and s.lag_mean_s[i] == 0.5
    assert s.oldest_pending_s == 29
    assert s.lag_p50_s == 1.5 and s.lag_p95_s == 1.5


def test_rates_are_per_second_in_wide_buckets() -> None:
    t = NOW - timedelta(minutes=10)
    events = [_event(n, t, t, "SUCCEEDED") for n in range(30)]
    s = series(events, NOW, 3600)
    assert max(s.accepted_per_s) == 30 / 15
