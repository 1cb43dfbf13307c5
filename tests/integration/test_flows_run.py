"""Flows end to end: a real server and loader, boto3, files put in the instance's bucket."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from supplylake.testing import ServerHandle, running_server
from tests.flows.conftest import s3_env  # noqa: F401 - the moto S3 server fixture
from tests.integration.helpers import (
    active_instance,
    bucket_folder,
    dataset_arn,
    dataset_source,
    dataset_target,
    put_in_bucket,
    query_lake,
    run_supplylake,
    s3_sql_flow,
    wait_executions,
)

STAGING_SCHEMA = {
    "name": "Staging",
    "fields": [
        {"name": "id", "type": "STRING", "isRequired": True},
        {"name": "qty", "type": "INT", "isRequired": False},
        {"name": "note", "type": "STRING", "isRequired": False},
    ],
    "primaryKeys": [{"name": "id"}],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with running_server(tmp_path_factory.mktemp("flows")) as server:
        yield server


def _setup(
    server: ServerHandle,
    client: Any,
    name: str,
    prefix: str,
    query: str = "SELECT * FROM orders",
    **options: Any,
) -> str:
    """An instance with dataset default.staging, fed by flow ``name`` from ``prefix``."""
    instance_id = active_instance(client, name)
    client.create_data_lake_dataset(
        instanceId=instance_id, namespace="default", name="staging", schema=STAGING_SCHEMA
    )
    flow = s3_sql_flow(
        server,
        instance_id,
        source="orders",
        prefix=prefix,
        query=query,
        dataset="staging",
        options=options or None,
    )
    client.create_data_integration_flow(name=name, **flow)
    return instance_id


def test_a_copied_csv_ends_in_the_target(server: ServerHandle, tmp_path: Path) -> None:
    client = server.client()
    instance_id = _setup(server, client, "copied", "orders")
    put_in_bucket(server, instance_id, "orders/a.csv", "id,qty,note\na,1,x\nb,2,\n", tmp_path)
    (execution,) = wait_executions(client, instance_id, "copied", 1)
    assert execution["status"] == "SUCCEEDED", execution
    assert execution["sourceInfo"]["s3Source"]["key"] == "orders/a.csv"
    got = client.get_data_integration_flow_execution(
        instanceId=instance_id, flowName="copied", executionId=execution["executionId"]
    )["flowExecution"]
    assert got["status"] == "SUCCEEDED" and got["endTime"] >= got["startTime"]
    rows = query_lake(server, instance_id, "SELECT id, qty FROM default.staging ORDER BY id")
    assert rows == [{"id": "a", "qty": 1}, {"id": "b", "qty": 2}]

    # A second file upserts by key.
    put_in_bucket(server, instance_id, "orders/b.csv", "id,qty\nb,20\n", tmp_path)
    wait_executions(client, instance_id, "copied", 2)
    rows = query_lake(server, instance_id, "SELECT id, qty FROM default.staging ORDER BY id")
    assert rows == [{"id": "a", "qty": 1}, {"id": "b", "qty": 20}]

    # Removing a file takes its rows away.
    (bucket_folder(server, instance_id) / "orders/b.csv").unlink()
    wait_executions(client, instance_id, "copied", 3)
    rows = query_lake(server, instance_id, "SELECT id, qty FROM default.staging ORDER BY id")
    assert rows == [{"id": "a", "qty": 1}, {"id": "b", "qty": 2}]

    # A file written again runs again: the rows it brought before go.
    put_in_bucket(server, instance_id, "orders/a.csv", "id,qty\na,7\n", tmp_path)
    executions = wait_executions(client, instance_id, "copied", 4)
    assert executions[0]["sourceInfo"]["s3Source"]["key"] == "orders/a.csv"
    rows = query_lake(server, instance_id, "SELECT id, qty FROM default.staging ORDER BY id")
    assert rows == [{"id": "a", "qty": 7}]


@pytest.mark.parametrize(
    ("name", "content", "query", "wanted"),
    [
        ("bad-value", "id,qty\nok,1\nbad,many\n", "SELECT * FROM orders", "line 3, column 'qty'"),
        ("bad-sql", "id,qty\nok,1\n", "SELECT id FROM orders WHERE", "The SQL does not parse"),
        ("bad-file", "id,qty\nok,1,2\n", "SELECT * FROM orders", "line 2: 3 fields"),
    ],
)
def test_bad_input_fails_with_a_message_and_leaves_the_target(
    server: ServerHandle, tmp_path: Path, name: str, content: str, query: str, wanted: str
) -> None:
    client = server.client()
    instance_id = _setup(server, client, name, "in", query)
    put_in_bucket(server, instance_id, "in/data.csv", content, tmp_path)
    (execution,) = wait_executions(client, instance_id, name, 1)
    assert execution["status"] == "FAILED"
    assert wanted in execution["message"]
    assert "WHERE" not in execution["message"]
    assert "in/data.csv" in execution["message"] or name == "bad-sql"
    rows = query_lake(server, instance_id, "SELECT count(*) AS n FROM default.staging")
    assert rows == [{"n": 0}]


def test_flows_run_queues_an_execution_by_hand(server: ServerHandle, tmp_path: Path) -> None:
    client = server.client()
    instance_id = _setup(server, client, "by-hand", "manual")
    put_in_bucket(server, instance_id, "manual/a.csv", "id,qty\nm,5\n", tmp_path)
    wait_executions(client, instance_id, "by-hand", 1)
    out = run_supplylake(
        server, "flows", "run", "by-hand", "--instance", instance_id, "--key", "manual/a.csv"
    )
    assert out.returncode == 0, out.stderr
    execution_id = out.stdout.strip()
    executions = wait_executions(client, instance_id, "by-hand", 2)
    assert executions[0]["executionId"] == execution_id
    assert executions[0]["status"] == "SUCCEEDED"
    rows = query_lake(server, instance_id, "SELECT id, qty FROM default.staging")
    assert rows == [{"id": "m", "qty": 5}]
    out = run_supplylake(server, "flows", "list", "--instance", instance_id, env={"COLUMNS": "250"})
    assert out.returncode == 0, out.stderr
    listed = out.stdout
    assert "by-hand" in listed and execution_id in listed and "SUCCEEDED" in listed


def _started(data_dir: Path, instance_id: str, flow: str) -> tuple[bool, bool]:
    """(started, finished) of the flow's only execution, from the store itself."""
    from supplylake.store.sqlite import SqliteStore

    store = SqliteStore(data_dir / "supplylake.db")
    try:
        executions = store.list_flow_executions(instance_id, flow, None, 1)
    finally:
        store.close()
    if not executions:
        return False, False
    return executions[0].started, executions[0].status.value != "IN_PROGRESS"


def test_loader_killed_mid_execution_applies_it_whole_once(tmp_path: Path) -> None:
    with running_server(tmp_path, loader="false") as server:
        client = server.client()
        instance_id = _setup(server, client, "crash", "big")
        rows = 200_000
        text = "id,qty,note\n" + "".join(f"r{i},{i % 1000},n{i}\n" for i in range(rows))
        put_in_bucket(server, instance_id, "big/a.csv", text, tmp_path)
        log = open(tmp_path / "loader.log", "ab")  # noqa: SIM115
        command = [sys.executable, "-m", "supplylake", "loader", "--data-dir", str(tmp_path)]
        counts: set[int] = set()
        killed_mid_execution = 0
        try:
            for delay in (0.2, 0.8, 1.5):
                loader = subprocess.Popen(command, env=server.cli_env(), stdout=log, stderr=log)
                deadline = time.monotonic() + 60
                while not _started(tmp_path, instance_id, "crash")[0]:
                    assert time.monotonic() < deadline, "the execution never started"
                    time.sleep(0.05)
                time.sleep(delay)
                loader.kill()
                loader.wait()
                if not _started(tmp_path, instance_id, "crash")[1]:
                    killed_mid_execution += 1
                n = query_lake(server, instance_id, "SELECT count(*) AS n FROM default.staging")
                counts.add(n[0]["n"])
            loader = subprocess.Popen(command, env=server.cli_env(), stdout=log, stderr=log)
            (execution,) = wait_executions(client, instance_id, "crash", 1, timeout=120)
        finally:
            loader.terminate()
            loader.wait()
            log.close()
        assert killed_mid_execution > 0
        assert execution["status"] == "SUCCEEDED", execution
        assert counts <= {0, rows}
        n = query_lake(
            server,
            instance_id,
            "SELECT count(DISTINCT id) AS d, count(*) AS n FROM default.staging",
        )
        assert n == [{"d": rows, "n": rows}]


def test_s3_api_buckets(
    s3_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in s3_env.items():
        monkeypatch.setenv(name, value)
    with running_server(tmp_path, buckets="s3") as server:
        client = server.client()
        instance_id = _setup(server, client, "s3-api", "orders")
        s3 = boto3.client(
            "s3",
            endpoint_url=s3_env["AWS_ENDPOINT_URL_S3"],
            region_name=s3_env["AWS_REGION"],
            aws_access_key_id=s3_env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=s3_env["AWS_SECRET_ACCESS_KEY"],
        )
        bucket = f"aws-supply-chain-data-{instance_id}"
        s3.put_object(Bucket=bucket, Key="orders/a.csv", Body=b"id,qty\ns,3\n")
        (execution,) = wait_executions(client, instance_id, "s3-api", 1)
        assert execution["status"] == "SUCCEEDED", execution
        rows = query_lake(server, instance_id, "SELECT id, qty FROM default.staging")
        assert rows == [{"id": "s", "qty": 3}]


def _metrics(server: ServerHandle) -> str:
    import urllib.request

    with urllib.request.urlopen(server.endpoint + "/metrics") as r:
        text: str = r.read().decode()
    return text


def test_a_commit_to_a_source_dataset_runs_the_flow(server: ServerHandle) -> None:
    import json

    client = server.client()
    instance_id = active_instance(client, "datasets")
    for name in ("partners", "staging"):
        client.create_data_lake_dataset(
            instanceId=instance_id, namespace="default", name=name, schema=STAGING_SCHEMA
        )
    client.create_data_integration_flow(
        instanceId=instance_id,
        name="partners-to-asc",
        sources=[dataset_source(server, instance_id, "p", "partners")],
        transformation={
            "transformationType": "SQL",
            "sqlTransformation": {
                "query": "SELECT id, upper(note) AS description, 'SUPPLIER' AS tpartner_type,"
                " 'G1' AS geo_id, '2024-01-01T00:00:00Z' AS eff_start_date,"
                " '9999-12-31T00:00:00Z' AS eff_end_date FROM p WHERE qty > 0"
            },
        },
        target=dataset_target(server, instance_id, "trading_partner", namespace="asc"),
    )
    for i in range(5):
        client.send_data_integration_event(
            instanceId=instance_id,
            eventType="scn.data.dataset",
            data=json.dumps({"id": f"p{i}", "qty": i, "note": f"n{i}"}),
            eventGroupId="partners",
            datasetTarget={
                "datasetIdentifier": dataset_arn(server, instance_id, "default", "partners"),
                "operationType": "APPEND",
            },
        )
    deadline = time.monotonic() + 60
    rows: list[dict[str, Any]] = []
    while True:
        with contextlib.suppress(AssertionError):  # no table until the flow first writes
            rows = query_lake(
                server,
                instance_id,
                "SELECT id, description, connection_id FROM asc.trading_partner ORDER BY id",
            )
        if len(rows) == 4:
            break
        assert time.monotonic() < deadline, f"the flow did not run over every event: {rows}"
        time.sleep(0.5)
    assert rows[0] == {"id": "p1", "description": "N1", "connection_id": "partners-to-asc"}
    executions = client.list_data_integration_flow_executions(
        instanceId=instance_id, flowName="partners-to-asc"
    )["flowExecutions"]
    assert {e["sourceInfo"]["sourceType"] for e in executions} == {"DATASET"}
    assert "SUCCEEDED" in {e["status"] for e in executions}
    text = _metrics(server)
    assert 'supplylake_flow_executions_total{status="SUCCEEDED"}' in text
    assert "supplylake_flow_rows_written_total" in text
