"""The warehouse on S3: an S3-compatible server (moto's server mode) on loopback stands in for S3.

The API server, a separate loader and ``supplylake query`` all reach the bucket through the
usual AWS settings (``AWS_ENDPOINT_URL_S3``, region, keys), as they would reach real S3.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supplylake.lake import namespace_identifier
from supplylake.testing import free_port, running_server
from tests.integration.helpers import active_instance
from tests.schemas import STOCK

BUCKET = "supplylake-lake"


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3-compatible server on a free loopback port, for the module."""
    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).close()
                break
            except (urllib.error.URLError, ConnectionError):
                assert process.poll() is None, "moto's server exited"
                assert time.monotonic() < deadline, "moto's server did not start"
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(10)
        log.close()


@pytest.fixture
def aws_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """S3 settings the usual AWS way, for this process and the ones it starts."""
    env = {
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "moto-key",
        "AWS_SECRET_ACCESS_KEY": "moto-secret",
        "AWS_REGION": "eu-west-1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _s3() -> Any:
    import boto3

    return boto3.client("s3")  # endpoint, region and keys from the environment


def _keys(prefix: str) -> list[str]:
    listed = _s3().list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


def _wait_finished(client: Any, instance_id: str, count: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        events = client.list_data_integration_events(instanceId=instance_id, maxResults=20)
        states = [
            e["datasetTargetDetails"]["datasetLoadExecution"]["status"] for e in events["events"]
        ]
        if len(states) == count and all(s != "IN_PROGRESS" for s in states):
            assert set(states) == {"SUCCEEDED"}, states
            return
        assert time.monotonic() < deadline, f"events not applied: {states}"
        time.sleep(0.2)


def test_the_lake_on_s3_loads_answers_queries_and_is_deleted(
    tmp_path: Path, aws_env: dict[str, str]
) -> None:
    _s3().create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    warehouse = f"s3://{BUCKET}/warehouse"
    with running_server(tmp_path, warehouse=warehouse, loader="false") as server:
        client = server.client()
        iid = active_instance(client, "s3")
        arn = client.create_data_lake_dataset(
            instanceId=iid, namespace="default", name="stock", schema=STOCK
        )["dataset"]["arn"]
        table_prefix = f"warehouse/{namespace_identifier(iid, 'default')}/stock/"
        assert any(k.endswith(".metadata.json") for k in _keys(table_prefix))

        sends = [
            ("UPSERT", [{"id": "a", "qty": 1}, {"id": "b", "qty": 2}, {"id": "c", "qty": 3}]),
            ("UPSERT", [{"id": "a", "qty": 10}]),
            ("DELETE", [{"id": "b"}]),
            ("UPSERT", [{"id": "d", "qty": 4}]),
        ]
        for op, records in sends:
            client.send_data_integration_event(
                instanceId=iid,
                eventType="scn.data.dataset",
                eventGroupId="g",
                data=json.dumps(records),
                datasetTarget={"datasetIdentifier": arn, "operationType": op},
            )
        env = {**server.cli_env(), **aws_env}
        loader = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "supplylake",
                "loader",
                "--data-dir",
                str(tmp_path),
                "--warehouse",
                warehouse,
                "--max-wait",
                "0.05",
            ],
            env=env,
        )
        try:
            _wait_finished(client, iid, len(sends))
        finally:
            loader.terminate()
            loader.wait(30)
        assert any(k.endswith(".parquet") for k in _keys(table_prefix + "data/"))

        query = subprocess.run(
            [
                sys.executable,
                "-m",
                "supplylake",
                "query",
                "--instance",
                iid,
                "--data-dir",
                str(tmp_path),
                "--warehouse",
                warehouse,
                "--format",
                "json",
                "SELECT id, qty FROM default.stock ORDER BY id",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert query.returncode == 0, query.stderr
        assert json.loads(query.stdout) == [
            {"id": "a", "qty": 10},
            {"id": "c", "qty": 3},
            {"id": "d", "qty": 4},
        ]

        client.delete_data_lake_dataset(instanceId=iid, namespace="default", name="stock")
        assert _keys(table_prefix) == []
