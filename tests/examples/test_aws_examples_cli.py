"""A sample of AWS's published examples through the AWS CLI (``--cli-input-json`` takes an
example's input as AWS prints it); the world each example needs is made as in the boto3 replay."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore import xform_name

from supplylake.testing import ServerHandle, running_server
from tests.examples.replay import Replay
from tests.examples.test_aws_examples import ASC_EXTRA, BY_TITLE, _given, _request

AWS = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
pytestmark = pytest.mark.skipif(AWS is None, reason="the awscli package is not installed")

SAMPLE = [
    "Successful CreateInstance request with all input data",
    "Successful CreateInstance request with no input data",
    "Create an AWS Supply Chain inbound order dataset",
    "Get proporties of an existing custom dataset",
    "Successful SendDataIntegrationEvent for forecast event type",
    "Successful GetDataIntegrationEvent",
    "Update description of an existing AWS Supply Chain namespace",
    "Successful ListTagsForResource",
]


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with running_server() as s:
        yield s


def cli(server: ServerHandle, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    assert AWS is not None
    command = xform_name(operation, "-")
    where = ["--endpoint-url", server.endpoint, "--output", "json"]
    proc = subprocess.run(
        [AWS, "supplychain", command, "--cli-input-json", json.dumps(params), *where],
        capture_output=True,
        text=True,
        env=server.cli_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    answer: dict[str, Any] = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return answer


@pytest.mark.parametrize("title", SAMPLE)
def test_aws_example_through_the_cli(server: ServerHandle, title: str) -> None:
    example = BY_TITLE[title]
    operation = example["operation"]
    r = Replay(server.client(), server.account_id, server.region)
    _given(r, example)
    params = r.prepare(_request(r, example))
    answer = cli(server, operation, params)
    generated = frozenset({"versionNumber"})
    if operation == "CreateInstance" and "kmsKeyArn" not in params:
        generated |= {"kmsKeyArn"}
    asc = params.get("namespace") == "asc"
    r.compare(
        operation,
        example["output"],
        answer,
        generated=generated,
        extra=ASC_EXTRA if asc else frozenset(),
    )
