"""The loaders of ``serve`` run in child processes: restarted when they die, gone with serve."""

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


def _all_loaders(server: ServerHandle) -> Any:
    """A check: the loader processes of ``server`` once all of them run, else nothing."""
    assert server.process is not None
    serve_pid = server.process.pid

    def check() -> list[int]:
        pids = _loader_pids(serve_pid)
        return pids if len(pids) == PROCESSES else []

    return check


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


#: Loader processes of the server under test: more than one, as on a machine of several cores.
PROCESSES = 2


@pytest.fixture
def server() -> Iterator[ServerHandle]:
    with running_server(loader_processes=PROCESSES) as handle:
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
    first = _wait_for(_all_loaders(server), 30, "the loader processes")
    _send_and_wait(server, iid, arn, "a")

    os.kill(first[0], signal.SIGKILL)
    second = _wait_for(
        lambda: [p for p in _all_loaders(server)() if p not in first],
        30,
        "a new loader process",
    )
    assert len(second) == 1
    assert sorted([first[1], second[0]]) == sorted(_loader_pids(server.process.pid))
    _send_and_wait(server, iid, arn, "b")
    assert "restarting" in server.log_tail(200)


def test_the_loader_stops_with_serve_even_when_serve_is_killed(server: ServerHandle) -> None:
    assert server.process is not None
    pids = _wait_for(_all_loaders(server), 30, "the loader processes")
    server.kill()
    _wait_for(lambda: not any(_alive(p) for p in pids), 30, "the loader to exit")


def test_metrics_show_the_figures_of_every_loader_process_summed(server: ServerHandle) -> None:
    c = server.client()
    iid = active_instance(c, "loader-metrics")
    commits = 0
    for name in ("rows", "more", "others"):
        arn = c.create_data_lake_dataset(
            instanceId=iid, namespace="default", name=name, schema=ROWS
        )["dataset"]["arn"]
        for key in "abc":
            _send_and_wait(server, iid, arn, key)
            commits += 1

    def commits_shown() -> bool:
        with urllib.request.urlopen(server.endpoint + "/metrics", timeout=5) as r:
            text = r.read().decode()
        shown = [
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("supplylake_lake_commits_total{")
        ]
        return sum(shown) == commits

    # Each loader writes its figures every second, to a file of its own.
    _wait_for(commits_shown, 10, "every loader's commits on /metrics")
    assert len(list((server.data_dir / "run").glob("loader-*.prom"))) == PROCESSES


def test_a_loader_stops_on_sigterm_however_many_arrive(server: ServerHandle) -> None:
    assert server.process is not None
    pid = _wait_for(_all_loaders(server), 30, "the loader processes")[0]
    # Their first metrics are written once their loop runs (and their signal handlers are set).
    files = server.data_dir / "run"
    _wait_for(lambda: len(list(files.glob("loader-*.prom"))) == PROCESSES, 30, "the loops")
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
