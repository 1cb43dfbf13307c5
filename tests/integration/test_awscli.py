"""The AWS CLI against a real server, through every implemented operation and its errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from supplylake.testing import ServerHandle

AWS = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
pytestmark = pytest.mark.skipif(AWS is None, reason="the awscli package is not installed")


def aws(
    server: ServerHandle, *args: str, ok: bool = True, env: dict[str, str] | None = None
) -> Any:
    assert AWS is not None
    proc = subprocess.run(
        [AWS, "supplychain", *args, "--endpoint-url", server.endpoint, "--output", "json"],
        capture_output=True,
        text=True,
        env=env or server.cli_env(),
        timeout=60,
    )
    if not ok:
        assert proc.returncode != 0, proc.stdout
        return proc.stderr
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def test_cli_walks_the_control_plane_and_events(supplylake_server: ServerHandle) -> None:
    s = supplylake_server
    iid = aws(s, "create-instance", "--instance-name", "cli")["instance"]["instanceId"]
    for _ in range(200):
        if aws(s, "get-instance", "--instance-id", iid)["instance"]["state"] == "Active":
            break
        time.sleep(0.05)
    assert iid in [i["instanceId"] for i in aws(s, "list-instances")["instances"]]
    aws(s, "update-instance", "--instance-id", iid, "--instance-description", "via cli")
    aws(s, "create-data-lake-namespace", "--instance-id", iid, "--name", "cli_ns")
    assert (
        aws(s, "get-data-lake-namespace", "--instance-id", iid, "--name", "cli_ns")["namespace"][
            "name"
        ]
        == "cli_ns"
    )
    assert [
        n["name"] for n in aws(s, "list-data-lake-namespaces", "--instance-id", iid)["namespaces"]
    ] == ["cli_ns"]
    aws(
        s,
        "update-data-lake-namespace",
        "--instance-id",
        iid,
        "--name",
        "cli_ns",
        "--description",
        "d",
    )
    schema = {
        "name": "T",
        "fields": [{"name": "id", "type": "STRING", "isRequired": True}],
        "primaryKeys": [{"name": "id"}],
    }
    ds = aws(
        s,
        "create-data-lake-dataset",
        "--instance-id",
        iid,
        "--namespace",
        "cli_ns",
        "--name",
        "t",
        "--schema",
        json.dumps(schema),
    )["dataset"]
    assert (
        aws(
            s, "get-data-lake-dataset", "--instance-id", iid, "--namespace", "cli_ns", "--name", "t"
        )["dataset"]["arn"]
        == ds["arn"]
    )
    assert (
        len(
            aws(s, "list-data-lake-datasets", "--instance-id", iid, "--namespace", "cli_ns")[
                "datasets"
            ]
        )
        == 1
    )
    aws(
        s,
        "update-data-lake-dataset",
        "--instance-id",
        iid,
        "--namespace",
        "cli_ns",
        "--name",
        "t",
        "--description",
        "d",
    )
    aws(s, "tag-resource", "--resource-arn", ds["arn"], "--tags", "team=ops")
    assert aws(s, "list-tags-for-resource", "--resource-arn", ds["arn"])["tags"] == {"team": "ops"}
    aws(s, "untag-resource", "--resource-arn", ds["arn"], "--tag-keys", "team")
    assert aws(s, "list-tags-for-resource", "--resource-arn", ds["arn"])["tags"] == {}
    eid = aws(
        s,
        "send-data-integration-event",
        "--instance-id",
        iid,
        "--event-type",
        "scn.data.dataset",
        "--event-group-id",
        "g",
        "--data",
        '{"id": "1"}',
        "--dataset-target",
        f"datasetIdentifier={ds['arn']},operationType=UPSERT",
    )["eventId"]
    assert (
        aws(s, "get-data-integration-event", "--instance-id", iid, "--event-id", eid)["event"][
            "eventId"
        ]
        == eid
    )
    assert eid in [
        e["eventId"] for e in aws(s, "list-data-integration-events", "--instance-id", iid)["events"]
    ]
    aws(s, "delete-data-lake-dataset", "--instance-id", iid, "--namespace", "cli_ns", "--name", "t")
    aws(s, "delete-data-lake-namespace", "--instance-id", iid, "--name", "cli_ns")
    assert aws(s, "delete-instance", "--instance-id", iid)["instance"]["state"] == "Deleting"


def test_cli_reports_errors(supplylake_server: ServerHandle) -> None:
    s = supplylake_server
    err = aws(s, "get-instance", "--instance-id", "00000000-0000-0000-0000-000000000000", ok=False)
    assert "ResourceNotFoundException" in err
    err = aws(
        s,
        "create-data-lake-namespace",
        "--instance-id",
        "00000000-0000-0000-0000-000000000000",
        "--name",
        "Bad-Name",
        ok=False,
    )
    assert "ValidationException" in err
    env = {**s.cli_env(), "AWS_SECRET_ACCESS_KEY": "wrong" * 8}
    assert "InvalidSignatureException" in aws(s, "list-instances", ok=False, env=env)
    env = {**s.cli_env(), "AWS_ACCESS_KEY_ID": "SLAKNOBODY0000000000"}
    assert "UnrecognizedClientException" in aws(s, "list-instances", ok=False, env=env)


def test_credentials_file_from_first_start_works_with_the_cli(tmp_path: Path) -> None:
    from supplylake.testing import running_server

    # Without SUPPLYLAKE_ACCESS_KEY_ID the first start makes a root key and a credentials file.
    with running_server(tmp_path, access_key_id="", secret_access_key="") as s:
        creds = tmp_path / "credentials"
        assert creds.stat().st_mode & 0o777 == 0o600
        env = {
            k: v
            for k, v in s.cli_env().items()
            if not k.startswith("AWS_ACCESS") and k != "AWS_SECRET_ACCESS_KEY"
        }
        env.update(AWS_SHARED_CREDENTIALS_FILE=str(creds), AWS_PROFILE="supplylake")
        assert "instances" in aws(s, "list-instances", env=env)
