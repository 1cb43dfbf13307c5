"""The loader of ``serve`` runs in a child process: restarted when it dies, gone with serve."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supplylake.testing import ServerHandle, child_pids, running_server
from tests.integration.helpers import active_instance

ROWS = {
    "name": "Rows",
    "fields": [{"name": "id", "type": "STRING", "isRequired": True}],
    "primaryKeys": [{"name": "id"}],
}


def _loader_pids(serve_pid: int) -> list[int]:
    """The ``supplylake loader`` children of a serve process."""
    found = []
    for pid in child_pids(serve_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"loader" in cmdline:
            found.append(pid)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def server() -> Iterator[ServerHandle]:
    with running_server() as handle:
        yield handle


def _send_and_wait(server: ServerHandle, iid: str, arn: str, key: str) -> None:
    c = server.client()
    event_id = c.send_data_integration_event(
        instanceId=iid,
        eventType="scn.data.dataset",
        eventGroupId="g",
        data=json.dumps({"id": key}),
        datasetTarget={"datasetIdentifier": arn, "operationType": "UPSERT"},
    )["eventId"]

    def done() -> bool:
        event = c.get_data_integration_event(instanceId=iid, eventId=event_id)["event"]
        status = event["datasetTargetDetails"]["datasetLoadExecution"]["status"]
        assert status != "FAILED", event
        return bool(status == "SUCCEEDED")

    _wait_for(done, 60, f"event {event_id} to succeed")


def test_serve_restarts_a_dead_loader_and_its_events_still_load(server: ServerHandle) -> None:
    assert server.process is not None
    c = server.client()
    iid = active_instance(c, "loader-process")
    arn = c.create_data_lake_dataset(instanceId=iid, namespace="default", name="rows", schema=ROWS)[
        "dataset"
    ]["arn"]
    first = _wait_for(lambda: _loader_pids(server.process.pid), 30, "the loader process")
    assert len(first) == 1
    _send_and_wait(server, iid, arn, "a")

    os.kill(first[0], signal.SIGKILL)
    second = _wait_for(
        lambda: [p for p in _loader_pids(server.process.pid) if p != first[0]],
        30,
        "a new loader process",
    )
    assert len(second) == 1
    _send_and_wait(server, iid, arn, "b")
    assert "restarting" in server.log_tail(200)


def test_the_loader_stops_with_serve_even_when_serve_is_killed(server: ServerHandle) -> None:
    assert server.process is not None
    pids = _wait_for(lambda: _loader_pids(server.process.pid), 30, "the loader process")
    server.kill()
    _wait_for(lambda: not any(_alive(p) for p in pids), 30, "the loader to exit")


def test_metrics_show_the_loader_process_figures(server: ServerHandle) -> None:
    c = server.client()
    iid = active_instance(c, "loader-metrics")
    arn = c.create_data_lake_dataset(instanceId=iid, namespace="default", name="rows", schema=ROWS)[
        "dataset"
    ]["arn"]
    _send_and_wait(server, iid, arn, "a")

    def commits_shown() -> bool:
        with urllib.request.urlopen(server.endpoint + "/metrics", timeout=5) as r:
            text = r.read().decode()
        return 'supplylake_lake_commits_total{dataset="rows",namespace="default"}' in text

    # The loader writes its figures every second.
    _wait_for(commits_shown, 10, "the loader's commit counter on /metrics")


def test_a_loader_stops_on_sigterm_however_many_arrive(server: ServerHandle) -> None:
    assert server.process is not None
    pid = _wait_for(lambda: _loader_pids(server.process.pid), 30, "the loader process")[0]
    # Its first metrics are written once its loop runs (and its signal handlers are set).
    _wait_for((server.data_dir / "run" / "loader.prom").exists, 30, "the loader's loop")
    time.sleep(0.5)
    # A burst: some arrive while the handler of another runs.
    for _ in range(500):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            break
    # serve reaps it; a loader whose signal handler deadlocked would stay alive.
    _wait_for(lambda: not _alive(pid), 20, "the loader to stop")
    server.stop()
    assert server.process.returncode is not None
    assert not any(_alive(p) for p in _loader_pids(server.process.pid))
