"""Crash tests: SIGKILL the server or the loader while clients send; nothing acknowledged is lost,
nothing is stored or applied twice."""

from __future__ import annotations

import json
import multiprocessing as mp
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from supplylake.schema.types import Operation
from supplylake.store.sqlite import SqliteStore
from supplylake.testing import ServerHandle, running_server, supplychain_client
from tests.integration.helpers import active_instance
from tests.schemas import STOCK

pytestmark = pytest.mark.slow


def _client(endpoint: str, key: str, secret: str) -> Any:
    return supplychain_client(endpoint, key, secret, connect_timeout=2, read_timeout=10)


def _sender(
    endpoint: str, key: str, secret: str, iid: str, arn: str, worker: int, until: float, out: Any
) -> None:
    """Send events until ``until``; retry each with the same clientToken until it is answered."""
    rnd = random.Random(worker)
    client = _client(endpoint, key, secret)
    acked: list[dict[str, Any]] = []
    n = 0
    while time.time() < until:
        n += 1
        op = rnd.choice(["UPSERT", "UPSERT", "APPEND", "DELETE"])
        key_id = f"k{rnd.randrange(20)}"
        data = json.dumps(
            {"id": key_id} if op == "DELETE" else {"id": key_id, "qty": rnd.randrange(10**6)}
        )
        token = f"w{worker}-{n}-" + uuid.uuid4().hex
        kw = {
            "instanceId": iid,
            "eventType": "scn.data.dataset",
            "eventGroupId": f"g{worker}",
            "data": data,
            "clientToken": token,
            "datasetTarget": {"datasetIdentifier": arn, "operationType": op},
        }
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                resp = client.send_data_integration_event(**kw)
                if "eventId" not in resp:
                    # The server died between the status line and the body: retry, same token.
                    continue
                eid = resp["eventId"]
                acked.append({"token": token, "event_id": eid, "data": data, "op": op})
                break
            except (ConnectionError, HTTPClientError):
                time.sleep(0.05)  # the server is down: retry the same request
            except ClientError as e:
                if e.response["ResponseMetadata"]["HTTPStatusCode"] >= 500:
                    time.sleep(0.05)
                    continue
                raise
    out.put(acked)


def _run_senders(
    server: ServerHandle, iid: str, arn: str, seconds: float, kill: Any
) -> list[dict[str, Any]]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    until = time.time() + seconds
    procs = [
        ctx.Process(
            target=_sender,
            args=(
                server.endpoint,
                server.access_key_id,
                server.secret_access_key,
                iid,
                arn,
                w,
                until,
                queue,
            ),
        )
        for w in range(3)
    ]
    for p in procs:
        p.start()
    kill(until)
    acked: list[dict[str, Any]] = []
    for _ in procs:
        acked += queue.get(timeout=120)
    for p in procs:
        p.join(30)
    return acked


def _setup(server: ServerHandle) -> tuple[str, str]:
    c = server.client()
    iid = active_instance(c, "crash")
    arn = c.create_data_lake_dataset(
        instanceId=iid, namespace="default", name="stock", schema=STOCK
    )["dataset"]["arn"]
    return iid, arn


def test_server_killed_mid_send_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    with running_server(tmp_path, loader="false") as server:
        iid, arn = _setup(server)

        def kill(until: float) -> None:
            rnd = random.Random(7)
            for _ in range(3):
                time.sleep(rnd.uniform(1.5, 3.0))
                server.kill()
                server.start()

        acked = _run_senders(server, iid, arn, 16, kill)
    assert len(acked) > 50, "too few events got through to prove anything"
    store = SqliteStore(tmp_path / "supplylake.db")
    try:
        for a in acked:
            ev = store.get_event(iid, a["event_id"], with_data=True)
            assert ev is not None, f"acknowledged event {a['event_id']} was lost"
            assert ev.data == a["data"] and ev.operation == Operation(a["op"])
        tokens = [
            r[0]
            for r in store._reader()
            .execute("SELECT token FROM sl_tokens WHERE scope LIKE '%:SendDataIntegrationEvent'")
            .fetchall()
        ]
        events = store._reader().execute("SELECT count(*) FROM sl_events").fetchone()[0]
        assert events == len(tokens), "a clientToken produced more than one event"
        assert len({a["event_id"] for a in acked}) == len(acked)
    finally:
        store.close()


def _expected(events: list[tuple[str, str]]) -> Counter[tuple[str, int]]:
    """Apply (operation, data) events in order to a multiset of rows."""
    rows: list[dict[str, Any]] = []
    for op, data in events:
        records = json.loads(data)
        records = records if isinstance(records, list) else [records]
        for rec in records:
            if op in ("UPSERT", "DELETE"):
                rows = [r for r in rows if r["id"] != rec["id"]]
            if op in ("UPSERT", "APPEND"):
                rows.append(rec)
    return Counter((r["id"], r["qty"]) for r in rows)


def test_loader_killed_at_random_points_applies_every_event_once(tmp_path: Path) -> None:
    with running_server(tmp_path, loader="false", loader_batch_events=50) as server:
        iid, arn = _setup(server)
        log = open(tmp_path / "loader.log", "ab")  # noqa: SIM115
        cmd = [
            sys.executable,
            "-m",
            "supplylake",
            "loader",
            "--data-dir",
            str(tmp_path),
            "--max-wait",
            "0.05",
        ]
        holder: dict[str, subprocess.Popen[bytes]] = {}

        def start() -> None:
            holder["p"] = subprocess.Popen(cmd, env=server.cli_env(), stdout=log, stderr=log)

        def kill(until: float) -> None:
            rnd = random.Random(11)
            start()
            while time.time() < until:
                time.sleep(rnd.uniform(1.0, 2.5))
                holder["p"].kill()
                holder["p"].wait()
                start()

        try:
            acked = _run_senders(server, iid, arn, 14, kill)
            client = server.client()
            deadline = time.time() + 90
            while time.time() < deadline:
                page = client.list_data_integration_events(instanceId=iid, maxResults=20)["events"]
                if all(
                    e["datasetTargetDetails"]["datasetLoadExecution"]["status"] != "IN_PROGRESS"
                    for e in page
                ):
                    store = SqliteStore(tmp_path / "supplylake.db")
                    pending = store.pending_datasets()
                    store.close()
                    if not pending:
                        break
                time.sleep(0.2)
            else:
                raise AssertionError("the loader did not catch up")
        finally:
            holder["p"].terminate()
            holder["p"].wait()
            log.close()
    store = SqliteStore(tmp_path / "supplylake.db")
    try:
        rows = (
            store._reader()
            .execute(
                "SELECT e.operation, d.data, e.status, e.event_id FROM sl_events AS e"
                " JOIN sl_event_data AS d ON d.position = e.position ORDER BY e.position"
            )
            .fetchall()
        )
    finally:
        store.close()
    assert {a["event_id"] for a in acked} <= {r[3] for r in rows}
    assert all(r[2] == "SUCCEEDED" for r in rows)
    from supplylake.lake import Lake

    lake = Lake(f"sqlite:///{tmp_path}/supplylake.db", str(tmp_path / "warehouse"))
    table = lake.scan(iid, "default", "stock")
    lake.close()
    got = Counter(zip(table.column("id").to_pylist(), table.column("qty").to_pylist(), strict=True))
    assert got == _expected([(r[0], r[1]) for r in rows])
