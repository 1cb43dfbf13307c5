"""``/metrics`` shows the loader processes' files as one set of figures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from supplylake import metrics


def _loader_file(path: Path, commits: int, lag: float, seconds: list[float]) -> None:
    """What one loader process writes: the loader metrics' shapes, its own figures."""
    registry = CollectorRegistry()
    Counter("supplylake_lake_commits", "c", ["namespace", "dataset"], registry=registry).labels(
        "asc", "shipment"
    ).inc(commits)
    Gauge("supplylake_loader_lag_seconds", "g", registry=registry).set(lag)
    histogram = Histogram("supplylake_lake_commit_seconds", "h", registry=registry)
    for s in seconds:
        histogram.observe(s)
    path.write_bytes(generate_latest(registry))


@pytest.fixture
def shown(tmp_path: Path) -> Iterator[Path]:
    metrics.read_loader_files(lambda: sorted(tmp_path.glob("loader-*.prom")))
    yield tmp_path
    metrics.read_loader_files(None)


def _loader_samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith(("supplylake_lake_commit", "supplylake_loader_lag"))
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_counters_and_histograms_add_up_and_the_lag_is_the_largest(shown: Path) -> None:
    _loader_file(shown / "loader-0.prom", commits=3, lag=0.5, seconds=[0.02, 0.04])
    _loader_file(shown / "loader-1.prom", commits=4, lag=2.0, seconds=[0.03])
    samples = _loader_samples()
    key = (("dataset", "shipment"), ("namespace", "asc"))
    assert samples[("supplylake_lake_commits_total", key)] == 7
    assert samples[("supplylake_loader_lag_seconds", ())] == 2.0
    assert samples[("supplylake_lake_commit_seconds_count", ())] == 3
    assert samples[("supplylake_lake_commit_seconds_sum", ())] == pytest.approx(0.09)
    assert samples[("supplylake_lake_commit_seconds_bucket", (("le", "0.025"),))] == 1


def test_one_file_is_shown_as_written_and_a_missing_one_is_skipped(shown: Path) -> None:
    _loader_file(shown / "loader-0.prom", commits=3, lag=0.5, seconds=[])
    assert _loader_samples()[("supplylake_loader_lag_seconds", ())] == 0.5
    assert (shown / "loader-0.prom").read_bytes() in metrics.exposition()
