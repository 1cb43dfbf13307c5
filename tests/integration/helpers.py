"""Small helpers shared by the integration tests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
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


def query_lake(server: ServerHandle, instance_id: str, sql: str) -> list[dict[str, Any]]:
    """The rows of ``sql`` over the instance's lake, through ``supplylake query``."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "supplylake",
            "query",
            "--instance",
            instance_id,
            "--data-dir",
            str(server.data_dir),
            "--format",
            "json",
            sql,
        ],
        capture_output=True,
        text=True,
        env=server.cli_env(),
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    rows: list[dict[str, Any]] = json.loads(out.stdout)
    return rows
