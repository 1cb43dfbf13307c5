"""Prometheus metrics: what operators watch. Labels never carry secrets or record data."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

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
EVENTS_FINISHED = Counter(
    "supplylake_events_finished",
    "Events the loader finished, by dataset and status (SUCCEEDED or FAILED).",
    ["namespace", "dataset", "status"],
    registry=REGISTRY,
)
EVENTS_PENDING = Gauge(
    "supplylake_events_pending",
    "Events seen waiting for the loader at its last pass (up to one batch per dataset).",
    ["namespace", "dataset"],
    registry=REGISTRY,
)
LOADER_LAG = Gauge(
    "supplylake_loader_lag_seconds",
    "Age of the oldest event waiting for the loader at its last pass (0 when idle).",
    registry=REGISTRY,
)
LAKE_COMMITS = Counter(
    "supplylake_lake_commits",
    "Iceberg commits made by the loader, by dataset.",
    ["namespace", "dataset"],
    registry=REGISTRY,
)
LAKE_COMMIT_SECONDS = Histogram(
    "supplylake_lake_commit_seconds",
    "Time to fold and commit one batch to Iceberg.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
LAKE_COMPACTIONS = Counter(
    "supplylake_lake_compactions",
    "Compactions of small or deleted-from files, by dataset.",
    ["namespace", "dataset"],
    registry=REGISTRY,
)
LAKE_SNAPSHOTS_EXPIRED = Counter(
    "supplylake_lake_snapshots_expired",
    "Iceberg snapshots expired by maintenance.",
    registry=REGISTRY,
)


def exposition() -> bytes:
    """The current metrics in Prometheus' text format."""
    return bytes(generate_latest(REGISTRY))
