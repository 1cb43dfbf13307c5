"""Two API servers and two loaders on one PostgreSQL and one shared warehouse folder, while client
processes send to both servers; one loader and one server are SIGKILLed mid-run and restarted.

In the end every acknowledged event is applied exactly once (each table equals every committed
event of its dataset applied in position order), each group in its order, every event
SUCCEEDED, and no clientToken produced two events.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import secrets
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from supplylake.testing import ACCOUNT_ID, ServerHandle, child_pids, free_port, supplychain_client
from tests.integration.helpers import active_instance
from tests.schemas import STOCK

pytestmark = pytest.mark.slow

DATASETS = ("stocka", "stockb")
SENDERS = 3
SEND_SECONDS = 12.0


# ---- the client processes ----------------------------------------------------------------------


def _client(endpoint: str, key: str, secret: str) -> Any:
    return supplychain_client(endpoint, key, secret, connect_timeout=2, read_timeout=10)


def _sender(
    endpoints: list[str],
    key: str,
    secret: str,
    iid: str,
    arns: dict[str, str],
    worker: int,
    until: float,
    out: Any,
) -> None:
    """Send until ``until``, one event at a time, to either server; retry each with the same
    clientToken, on the other server, until it is answered."""
    rnd = random.Random(worker)
    clients = [_client(e, key, secret) for e in endpoints]
    acked: list[dict[str, Any]] = []
    n = 0
    while time.time() < until:
        n += 1
        op = rnd.choice(["UPSERT", "UPSERT", "APPEND", "DELETE"])
        dataset = rnd.choice(DATASETS)
        row_id = f"k{rnd.randrange(12)}"
        data = json.dumps(
            {"id": row_id} if op == "DELETE" else {"id": row_id, "qty": rnd.randrange(10**6)}
        )
        token = f"w{worker}-{n}-{uuid.uuid4().hex}"
        group = f"g{worker}-{rnd.randrange(3)}"
        kw = {
            "instanceId": iid,
            "eventType": "scn.data.dataset",
            "eventGroupId": group,
            "data": data,
            "clientToken": token,
            "datasetTarget": {"datasetIdentifier": arns[dataset], "operationType": op},
        }
        server = rnd.randrange(len(clients))
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                resp = clients[server].send_data_integration_event(**kw)
                if "eventId" in resp:
                    acked.append(
                        {
                            "token": token,
                            "event_id": resp["eventId"],
                            "data": data,
                            "op": op,
                            "group": group,
                            "dataset": dataset,
                        }
                    )
                    break
            except (ConnectionError, HTTPClientError):
                pass  # that server is down: the same request to the other one
            except ClientError as e:
                if e.response["ResponseMetadata"]["HTTPStatusCode"] < 500:
                    raise
            server = (server + 1) % len(clients)
            time.sleep(0.05)
        else:
            raise AssertionError(f"no server answered event {token} for 60 s")
    out.put(acked)


# ---- the servers and loaders -------------------------------------------------------------------


class _Loader:
    """A ``supplylake loader`` process that can be killed and started again."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "supplylake",
                    "loader",
                    "--batch-events",
                    "40",
                    "--max-wait",
                    "0.05",
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def cluster(
    postgres_database: str, tmp_path: Path
) -> Iterator[tuple[list[ServerHandle], list[_Loader]]]:
    key_id = "SLAKTEST" + secrets.token_hex(6).upper()
    secret = secrets.token_urlsafe(30)[:40]
    shared = {
        "SUPPLYLAKE_DATABASE_URL": postgres_database,
        "SUPPLYLAKE_WAREHOUSE": str(tmp_path / "warehouse"),
        "SUPPLYLAKE_ACCESS_KEY_ID": key_id,
        "SUPPLYLAKE_SECRET_ACCESS_KEY": secret,
        "SUPPLYLAKE_ACCOUNT_ID": ACCOUNT_ID,
        "SUPPLYLAKE_LOG_LEVEL": "warning",
    }
    servers = []
    for i in range(2):
        port = free_port()
        data_dir = tmp_path / f"api{i}"
        data_dir.mkdir()
        servers.append(
            ServerHandle(
                endpoint=f"http://127.0.0.1:{port}",
                access_key_id=key_id,
                secret_access_key=secret,
                data_dir=data_dir,
                port=port,
                env={**shared, "SUPPLYLAKE_LOADER": "false"},
            )
        )
    loaders = []
    for i in range(2):
        data_dir = tmp_path / f"loader{i}"
        data_dir.mkdir()
        env = {
            **os.environ,
            **shared,
            "SUPPLYLAKE_DATA_DIR": str(data_dir),
            "SUPPLYLAKE_LOG_LEVEL": "info",
        }
        loaders.append(_Loader(env, data_dir / "loader.log"))
    try:
        for server in servers:
            server.start()
        for loader in loaders:
            loader.start()
        yield servers, loaders
    finally:
        for loader in loaders:
            loader.stop()
        for server in servers:
            server.stop()


# ---- the test ----------------------------------------------------------------------------------


def _model(events: list[tuple[str, str]]) -> Counter[tuple[str, int]]:
    """Apply (operation, data) events in order to a multiset of rows."""
    rows: list[dict[str, Any]] = []
    for op, data in events:
        rec = json.loads(data)
        if op in ("UPSERT", "DELETE"):
            rows = [r for r in rows if r["id"] != rec["id"]]
        if op in ("UPSERT", "APPEND"):
            rows.append(rec)
    return Counter((r["id"], r["qty"]) for r in rows)


def _wait_applied(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM sl_events WHERE status = 'IN_PROGRESS'"
            ).fetchone()
            assert row is not None
            if row[0] == 0:
                return
            assert time.monotonic() < deadline, f"{row[0]} events still IN_PROGRESS"
            time.sleep(0.2)


def test_two_servers_and_two_loaders_survive_sigkill_with_every_event_applied_once(
    cluster: tuple[list[ServerHandle], list[_Loader]], postgres_database: str, tmp_path: Path
) -> None:
    servers, loaders = cluster
    admin = servers[0].client()
    iid = active_instance(admin, "cluster")
    arns = {
        name: admin.create_data_lake_dataset(
            instanceId=iid, namespace="default", name=name, schema=STOCK
        )["dataset"]["arn"]
        for name in DATASETS
    }

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    until = time.time() + SEND_SECONDS
    endpoints = [s.endpoint for s in servers]
    senders = [
        ctx.Process(
            target=_sender,
            args=(
                endpoints,
                servers[0].access_key_id,
                servers[0].secret_access_key,
                iid,
                arns,
                w,
                until,
                queue,
            ),
        )
        for w in range(SENDERS)
    ]
    for p in senders:
        p.start()
    # Mid-run: one loader, then one server, killed outright and started again.
    time.sleep(SEND_SECONDS * 0.3)
    loaders[0].kill()
    time.sleep(1.0)
    loaders[0].start()
    time.sleep(SEND_SECONDS * 0.2)
    servers[1].kill()
    time.sleep(1.0)
    servers[1].start()
    acked: list[dict[str, Any]] = []
    for _ in senders:
        acked += queue.get(timeout=120)
    for p in senders:
        p.join(30)
        assert p.exitcode == 0
    assert len(acked) > 100, "too few events got through to prove anything"
    _wait_applied(postgres_database, timeout=60)

    with psycopg.connect(postgres_database) as conn:
        rows = conn.execute(
            "SELECT e.position, e.event_id, e.event_group_id, e.dataset, e.operation, d.data,"
            " e.status FROM sl_events AS e JOIN sl_event_data AS d ON d.position = e.position"
            " ORDER BY e.position"
        ).fetchall()
        tokens = dict(
            conn.execute(
                "SELECT token, result FROM sl_tokens WHERE scope LIKE '%:SendDataIntegrationEvent'"
            ).fetchall()
        )
    by_id = {r[1]: r for r in rows}
    # Nothing acknowledged is lost, and it is stored as sent.
    for a in acked:
        row = by_id.get(a["event_id"])
        assert row is not None, f"acknowledged event {a['event_id']} was lost"
        assert (row[2], row[3], row[4], row[5]) == (a["group"], a["dataset"], a["op"], a["data"])
    # No clientToken made two events: one event per token, the one acknowledged for it.
    assert len(rows) == len(tokens)
    assert all(tokens[a["token"]] == a["event_id"] for a in acked)
    assert len({a["event_id"] for a in acked}) == len(acked)
    # Every event was applied.
    assert {r[6] for r in rows} == {"SUCCEEDED"}
    # Each group in its order: what a client sent later has a later position.
    sent: dict[str, list[int]] = {}
    for a in acked:
        sent.setdefault(a["group"], []).append(by_id[a["event_id"]][0])
    for group, positions in sent.items():
        assert positions == sorted(positions), f"group {group} is out of order"
    # Exactly once: each table is its dataset's events applied in position order.
    from supplylake.lake import Lake
    from supplylake.store.urls import sqlalchemy_url

    lake = Lake(sqlalchemy_url(postgres_database), str(tmp_path / "warehouse"))
    try:
        for name in DATASETS:
            table = lake.scan(iid, "default", name)
            got = Counter(
                zip(table.column("id").to_pylist(), table.column("qty").to_pylist(), strict=True)
            )
            assert got == _model([(r[4], r[5]) for r in rows if r[3] == name]), name
            assert lake.last_position(iid, "default", name) == max(
                r[0] for r in rows if r[3] == name
            )
    finally:
        lake.close()


def test_serve_with_workers_runs_several_api_processes_and_one_loader(
    postgres_database: str, tmp_path: Path
) -> None:
    from supplylake.testing import running_server

    with running_server(
        tmp_path, database_url=postgres_database, workers=2, loader_max_wait_seconds=0.05
    ) as server:
        assert server.process is not None
        # uvicorn's workers (and multiprocessing's resource tracker) are children of serve.
        assert len(child_pids(server.process.pid)) >= 2
        client = server.client()
        iid = active_instance(client, "workers")
        arn = client.create_data_lake_dataset(
            instanceId=iid, namespace="default", name="stocka", schema=STOCK
        )["dataset"]["arn"]
        event_ids = [
            client.send_data_integration_event(
                instanceId=iid,
                eventType="scn.data.dataset",
                eventGroupId="g",
                data=json.dumps({"id": f"k{n}", "qty": n}),
                clientToken=f"token-{n}".ljust(33, "x"),
                datasetTarget={"datasetIdentifier": arn, "operationType": "UPSERT"},
            )["eventId"]
            for n in range(20)
        ]
        _wait_applied(postgres_database, timeout=60)
        last = client.get_data_integration_event(instanceId=iid, eventId=event_ids[-1])
        assert last["event"]["datasetTargetDetails"]["datasetLoadExecution"]["status"] == (
            "SUCCEEDED"
        )
