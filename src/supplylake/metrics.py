"""Prometheus metrics: what operators watch. Labels never carry secrets or record data.

The API's metrics and the loader's live in two registries: the loaders of ``serve`` run in
processes of their own and each writes its registry to a file (:func:`write_loader_file`), which
``/metrics`` then shows after the API's own, summed over the processes (:func:`read_loader_files`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

REGISTRY = CollectorRegistry(auto_describe=True)
LOADER_REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "supplylake_requests",
    "API requests by operation and outcome (the HTTP status, and the AWS error code if any).",
    ["operation", "status", "code"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "supplylake_request_seconds",
    "Time to answer an API request.",
    ["operation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
EVENTS_ACCEPTED = Counter(
    "supplylake_events_accepted",
    "Events committed to the store, by dataset.",
    ["namespace", "dataset"],
    registry=REGISTRY,
)
STORE_COMMIT_JOBS = Histogram(
    "supplylake_store_commit_jobs",
    "Writes (appends of events, other changes) committed together in one store transaction:"
    " how much group commit shares each fsync.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000),
    registry=REGISTRY,
)
STORE_COMMIT_SECONDS = Histogram(
    "supplylake_store_commit_seconds",
    "Time of one store transaction, from waiting for the write lock to the end of its commit.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)


def observe_store_commit(jobs: int, seconds: float) -> None:
    STORE_COMMIT_JOBS.observe(jobs)
    STORE_COMMIT_SECONDS.observe(seconds)


EVENTS_FINISHED = Counter(
    "supplylake_events_finished",
    "Events the loader finished, by dataset and status (SUCCEEDED or FAILED).",
    ["namespace", "dataset", "status"],
    registry=LOADER_REGISTRY,
)
EVENTS_PENDING = Gauge(
    "supplylake_events_pending",
    "Events seen waiting for the loader at its last pass (up to one batch per dataset).",
    ["namespace", "dataset"],
    registry=LOADER_REGISTRY,
)
LOADER_LAG = Gauge(
    "supplylake_loader_lag_seconds",
    "Age of the oldest event waiting for the loader at its last pass (0 when idle).",
    registry=LOADER_REGISTRY,
)
LAKE_COMMITS = Counter(
    "supplylake_lake_commits",
    "Iceberg commits made by the loader, by dataset.",
    ["namespace", "dataset"],
    registry=LOADER_REGISTRY,
)
LAKE_COMMIT_SECONDS = Histogram(
    "supplylake_lake_commit_seconds",
    "Time to fold and commit one batch to Iceberg.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=LOADER_REGISTRY,
)
LAKE_COMPACTIONS = Counter(
    "supplylake_lake_compactions",
    "Compactions of small or deleted-from files, by dataset.",
    ["namespace", "dataset"],
    registry=LOADER_REGISTRY,
)
LAKE_SNAPSHOTS_EXPIRED = Counter(
    "supplylake_lake_snapshots_expired",
    "Iceberg snapshots expired by maintenance.",
    registry=LOADER_REGISTRY,
)
FLOW_EXECUTIONS = Counter(
    "supplylake_flow_executions",
    "Data integration flow executions the loader finished, by status (SUCCEEDED or FAILED).",
    ["status"],
    registry=LOADER_REGISTRY,
)
FLOW_ROWS_WRITTEN = Counter(
    "supplylake_flow_rows_written",
    "Rows data integration flow executions wrote to their targets.",
    registry=LOADER_REGISTRY,
)
FLOW_EXECUTION_SECONDS = Histogram(
    "supplylake_flow_execution_seconds",
    "Time of one flow execution, from its start in the loader to its outcome.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
    registry=LOADER_REGISTRY,
)
BOM_JOBS_CREATED = Counter(
    "supplylake_bom_jobs_created",
    "Bill-of-materials import jobs created (status NEW; replays of a clientToken not counted).",
    registry=REGISTRY,
)
BOM_JOBS_FINISHED = Counter(
    "supplylake_bom_jobs_finished",
    "Bill-of-materials import jobs the loader finished, by status (SUCCESS or FAILED).",
    ["status"],
    registry=LOADER_REGISTRY,
)
BOM_JOBS_STARTED = Counter(
    "supplylake_bom_jobs_started",
    "Bill-of-materials import jobs the loader started (a job rerun after a crash counts again).",
    registry=LOADER_REGISTRY,
)
BOM_ROWS_IMPORTED = Counter(
    "supplylake_bom_rows_imported",
    "Rows of bill-of-materials files written to product_bom.",
    registry=LOADER_REGISTRY,
)


_loader_files: Callable[[], list[Path]] | None = None


def read_loader_files(files: Callable[[], list[Path]] | None) -> None:
    """Show the loader metrics of the files ``files()`` names (written by other processes)."""
    global _loader_files
    _loader_files = files


def write_loader_file(path: Path) -> None:
    """Write this process's loader metrics to ``path``, atomically (readers never see half)."""
    data = generate_latest(LOADER_REGISTRY)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".loader-", suffix=".prom")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def exposition() -> bytes:
    """The current metrics in Prometheus' text format: the API's, then the loader's."""
    api = bytes(generate_latest(REGISTRY))
    if _loader_files is None:
        return api + bytes(generate_latest(LOADER_REGISTRY))
    texts = []
    for path in _loader_files():
        try:
            texts.append(path.read_text())
        except FileNotFoundError:
            continue  # a loader that has not written its first figures yet, or just restarted
    if len(texts) <= 1:
        return api + "".join(texts).encode()
    return api + bytes(generate_latest(_Merged(texts)))


class _Merged:
    """The loader metrics of several processes as one: counters and histograms summed, gauges
    at their largest (the lag of the slowest loader), creation times at their earliest."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def collect(self) -> list[Metric]:
        families: dict[str, Metric] = {}
        values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        for text in self.texts:
            for family in text_string_to_metric_families(text):
                if family.name not in families:
                    families[family.name] = Metric(family.name, family.documentation, family.type)
                    values[family.name] = {}
                merged = values[family.name]
                for sample in family.samples:
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    seen = merged.get(key)
                    if seen is None:
                        merged[key] = sample.value
                    elif sample.name.endswith("_created"):
                        merged[key] = min(seen, sample.value)
                    elif family.type == "gauge":
                        merged[key] = max(seen, sample.value)
                    else:
                        merged[key] = seen + sample.value
        for name, family in families.items():
            for (sample_name, labels), value in values[name].items():
                family.add_sample(sample_name, dict(labels), value)
        return list(families.values())
