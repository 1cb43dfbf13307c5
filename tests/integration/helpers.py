"""Small helpers shared by the integration tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from supplylake.testing import ServerHandle


def wait_for_state(
    client: Any, instance_id: str, state: str, timeout: float = 20.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        inst: dict[str, Any] = client.get_instance(instanceId=instance_id)["instance"]
        if inst["state"] == state:
            return inst
        if time.monotonic() > deadline:
            raise AssertionError(f"instance {instance_id} stayed {inst['state']}, wanted {state}")
        time.sleep(0.05)


def active_instance(client: Any, name: str = "test") -> str:
    instance_id: str = client.create_instance(instanceName=name)["instance"]["instanceId"]
    wait_for_state(client, instance_id, "Active")
    return instance_id


def error_code(exc_info: Any) -> str:
    return str(exc_info.value.response["Error"]["Code"])


def error_message(exc_info: Any) -> str:
    return str(exc_info.value.response["Error"]["Message"])


def status(exc_info: Any) -> int:
    return int(exc_info.value.response["ResponseMetadata"]["HTTPStatusCode"])


def wait_loaded(
    client: Any, instance_id: str, event_ids: list[str], timeout: float = 30
) -> list[dict[str, Any]]:
    """The load executions of the events, once none is IN_PROGRESS any more."""
    deadline = time.monotonic() + timeout
    while True:
        loads = [
            client.get_data_integration_event(instanceId=instance_id, eventId=e)["event"][
                "datasetTargetDetails"
            ]["datasetLoadExecution"]
            for e in event_ids
        ]
        if all(x["status"] != "IN_PROGRESS" for x in loads):
            return loads
        assert time.monotonic() < deadline, f"events still IN_PROGRESS: {loads}"
        time.sleep(0.1)


def run_supplylake(
    server: ServerHandle, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The ``supplylake`` command with ``args``, on the server's data folder, in its
    environment (and ``env``)."""
    return subprocess.run(
        [sys.executable, "-m", "supplylake", *args, "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        env={**server.cli_env(), **(env or {})},
        timeout=120,
    )


def run_query(
    server: ServerHandle, instance_id: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """``supplylake query`` over the instance's lake, with ``args`` (options, then the SQL)."""
    return run_supplylake(server, "query", "--instance", instance_id, *args)


def pages(list_call: Callable[..., Any], **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every page of a List call, each asked for with the nextToken of the page before."""
    while True:
        page: dict[str, Any] = list_call(**kwargs)
        yield page
        if "nextToken" not in page:
            return
        kwargs["nextToken"] = page["nextToken"]


def query_lake(server: ServerHandle, instance_id: str, sql: str) -> list[dict[str, Any]]:
    """The rows of ``sql`` over the instance's lake, through ``supplylake query``."""
    out = run_query(server, instance_id, "--format", "json", sql)
    assert out.returncode == 0, out.stderr
    rows: list[dict[str, Any]] = json.loads(out.stdout)
    return rows


# -- flows ---------------------------------------------------------------------------------------
#: The fields of the staging datasets that AWS's dataset-to-dataset flow example joins.
AWS_PARTNER_FIELDS = (
    "id",
    "poc_org_unit_description",
    "company_id",
    "tpartner_type",
    "geo_id",
    "eff_start_date",
    "eff_end_date",
)


def dataset_arn(server: ServerHandle, instance_id: str, namespace: str, name: str) -> str:
    return (
        f"arn:aws:scn:{server.region}:{server.account_id}:instance/{instance_id}"
        f"/namespaces/{namespace}/datasets/{name}"
    )


def s3_source(
    instance_id: str, name: str = "testSourceName", prefix: str = "example-prefix"
) -> dict[str, Any]:
    """A flow source reading the instance's bucket under ``prefix`` (AWS's example's names)."""
    return {
        "sourceType": "S3",
        "sourceName": name,
        "s3Source": {"bucketName": f"aws-supply-chain-data-{instance_id}", "prefix": prefix},
    }


def dataset_source(
    server: ServerHandle, instance_id: str, name: str, dataset: str, namespace: str = "default"
) -> dict[str, Any]:
    """A flow source reading dataset ``namespace.dataset`` as table ``name``."""
    return {
        "sourceType": "DATASET",
        "sourceName": name,
        "datasetSource": {
            "datasetIdentifier": dataset_arn(server, instance_id, namespace, dataset)
        },
    }


def dataset_target(
    server: ServerHandle,
    instance_id: str,
    name: str,
    options: dict[str, Any] | None = None,
    namespace: str = "default",
) -> dict[str, Any]:
    """A flow target writing dataset ``namespace.name``, with ``options`` only when given."""
    target: dict[str, Any] = {
        "datasetIdentifier": dataset_arn(server, instance_id, namespace, name)
    }
    if options is not None:
        target["options"] = options
    return {"targetType": "DATASET", "datasetTarget": target}


def s3_sql_flow(
    server: ServerHandle,
    instance_id: str,
    *,
    source: str,
    prefix: str,
    query: str,
    dataset: str,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A CreateDataIntegrationFlow request but its name: the files under ``prefix``, as table
    ``source``, through ``query`` into dataset default.``dataset``."""
    return {
        "instanceId": instance_id,
        "sources": [s3_source(instance_id, source, prefix)],
        "transformation": {"transformationType": "SQL", "sqlTransformation": {"query": query}},
        "target": dataset_target(server, instance_id, dataset, options),
    }


def bucket_folder(server: ServerHandle, instance_id: str) -> Path:
    return server.data_dir / "buckets" / f"aws-supply-chain-data-{instance_id}"


def put_in_bucket(server: ServerHandle, instance_id: str, key: str, text: str, tmp: Path) -> None:
    """``cp`` a file into the instance's bucket folder, as a user would."""
    source = tmp / key.replace("/", "_")
    source.write_text(text)
    destination = bucket_folder(server, instance_id) / key
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, destination)


def wait_executions(
    client: Any, instance_id: str, flow: str, count: int, timeout: float = 60
) -> list[dict[str, Any]]:
    """The flow's executions, newest first, once ``count`` have finished."""
    deadline = time.monotonic() + timeout
    while True:
        executions: list[dict[str, Any]] = client.list_data_integration_flow_executions(
            instanceId=instance_id, flowName=flow
        )["flowExecutions"]
        done = [e for e in executions if e["status"] != "IN_PROGRESS"]
        if len(done) >= count:
            return executions
        assert time.monotonic() < deadline, f"executions did not finish: {executions}"
        time.sleep(0.2)
