"""Prometheus metrics: what operators watch. Labels never carry secrets or record data.

The API's metrics and the loader's live in two registries: the loader of ``serve`` runs in a
process of its own and writes its registry to a file (:func:`write_loader_file`), which
``/metrics`` then shows after the API's own (:func:`read_loader_file`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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


_loader_file: Path | None = None


def read_loader_file(path: Path | None) -> None:
    """Show the loader's metrics from ``path`` (written by another process) in `exposition`."""
    global _loader_file
    _loader_file = path


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
    if _loader_file is None:
        return api + bytes(generate_latest(LOADER_REGISTRY))
    try:
        return api + _loader_file.read_bytes()
    except FileNotFoundError:
        return api  # the loader has not written its first figures yet
