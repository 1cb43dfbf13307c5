"""Small helpers shared by the integration tests."""

from __future__ import annotations

import time
from typing import Any


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
