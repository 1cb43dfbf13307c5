"""The Prometheus endpoint counts requests, events and commits, and never shows secrets or data."""

from __future__ import annotations

import contextlib
import json
import re
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from supplylake.testing import ServerHandle
from tests.integration.helpers import active_instance


def _metrics(server: ServerHandle) -> str:
    with urllib.request.urlopen(server.endpoint + "/metrics") as r:
        assert r.status == 200
        return str(r.read().decode())


def _value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_follow_requests_events_and_commits(supplylake_server: ServerHandle) -> None:
    c = supplylake_server.client()
    iid = active_instance(c, "metrics")
    before = _metrics(supplylake_server)
    secret_record = {"id": "m-secret-value", "tpartner_id": "t"}
    eid = c.send_data_integration_event(
        instanceId=iid,
        eventType="scn.data.inboundorder",
        eventGroupId="m",
        data=json.dumps(secret_record),
    )["eventId"]
    deadline = time.monotonic() + 20
    while (
        c.get_data_integration_event(instanceId=iid, eventId=eid)["event"]["datasetTargetDetails"][
            "datasetLoadExecution"
        ]["status"]
        == "IN_PROGRESS"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    with contextlib.suppress(c.exceptions.ResourceNotFoundException):
        c.get_instance(instanceId="00000000-0000-0000-0000-000000000000")
    # The loader's figures come from its process, written to a file once a second.
    finished = {"namespace": "asc", "dataset": "inbound_order", "status": "SUCCEEDED"}
    after = _metrics(supplylake_server)
    while _value(after, "supplylake_events_finished_total", **finished) < 1:
        assert time.monotonic() < deadline + 10, "the loader's metrics never showed the event"
        time.sleep(0.2)
        after = _metrics(supplylake_server)
    ok = {"operation": "SendDataIntegrationEvent", "status": "200", "code": ""}
    assert (
        _value(after, "supplylake_requests_total", **ok)
        == _value(before, "supplylake_requests_total", **ok) + 1
    )
    assert (
        _value(
            after,
            "supplylake_requests_total",
            operation="GetInstance",
            status="404",
            code="ResourceNotFoundException",
        )
        >= 1
    )
    assert (
        _value(after, "supplylake_events_accepted_total", namespace="asc", dataset="inbound_order")
        >= 1
    )
    assert (
        _value(
            after,
            "supplylake_events_finished_total",
            namespace="asc",
            dataset="inbound_order",
            status="SUCCEEDED",
        )
        >= 1
    )
    assert (
        _value(after, "supplylake_lake_commits_total", namespace="asc", dataset="inbound_order")
        >= 1
    )
    assert (
        _value(after, "supplylake_request_seconds_count", operation="SendDataIntegrationEvent") >= 1
    )
    assert "supplylake_loader_lag_seconds" in after
    assert supplylake_server.secret_access_key not in after
    assert "m-secret-value" not in after
    log = supplylake_server.log_tail(10_000)
    assert supplylake_server.secret_access_key not in log and "m-secret-value" not in log


def test_store_commits_are_measured(supplylake_server: ServerHandle) -> None:
    """Each store transaction is counted with its writes, so group commit can be watched."""
    c = supplylake_server.client()
    iid = active_instance(c, "metrics-store")
    before = _metrics(supplylake_server)

    def send(n: int) -> str:
        return str(
            c.send_data_integration_event(
                instanceId=iid,
                eventType="scn.data.inboundorder",
                eventGroupId=f"s{n}",
                data=json.dumps({"id": f"s{n}", "tpartner_id": "t"}),
            )["eventId"]
        )

    with ThreadPoolExecutor(8) as pool:
        assert len(set(pool.map(send, range(40)))) == 40
    after = _metrics(supplylake_server)

    def delta(name: str) -> float:
        return _value(after, name) - _value(before, name)

    transactions = delta("supplylake_store_commit_jobs_count")
    assert transactions >= 1
    assert delta("supplylake_store_commit_jobs_sum") >= 40  # every event, and other writes
    assert delta("supplylake_store_commit_seconds_count") == transactions
    assert delta("supplylake_store_commit_seconds_sum") > 0
