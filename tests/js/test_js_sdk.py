"""The AWS JavaScript SDK v2 (``aws-sdk`` from npm) against a real server: a client that shares
no code with botocore. ``check_sdk_v2.js`` does the calls; this test checks what they answered.

The npm packages are installed by ``npm ci`` in this folder (``.ci/run`` does it); the test is
skipped only when ``node`` is absent.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import botocore
import pytest

from supplylake.testing import ServerHandle
from tests.examples.replay import wait_until
from tests.integration.helpers import active_instance

HERE = Path(__file__).parent
#: The key and client token of the SDK's CreateBillOfMaterialsImportJob example.
BOM_EXAMPLE_KEY = "pathelemene/file.csv"
BOM_EXAMPLE_TOKEN = "550e8400-e29b-41d4-a716-446655440000"
BOM_CSV = (
    "id,product_id,component_product_id,component_quantity_per,alternate_group_id,level\n"
    "bom1,bike,wheel,2,,1\nbom1,bike,frame,1,,1\n"
)
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


def _node_modules() -> None:
    """The locked npm packages, installed if a fresh checkout lacks them."""
    if not (HERE / "node_modules" / "aws-sdk").is_dir():
        npm = shutil.which("npm")
        assert npm is not None, "node without npm: run `npm ci` in tests/js"
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, capture_output=True
        )


def _service_model(tmp_path: Path) -> Path:
    """botocore's model of the service, which the SDK v2 reads in the same format."""
    folder = Path(botocore.__file__).parent / "data" / "supplychain"
    compressed = next(folder.glob("*/service-2.json.gz"))
    out = tmp_path / "service-2.json"
    out.write_bytes(gzip.decompress(compressed.read_bytes()))
    return out


def test_the_js_sdk_v2_sends_its_examples_and_walks_the_control_plane(
    supplylake_server: ServerHandle, tmp_path: Path
) -> None:
    _node_modules()
    client = supplylake_server.client()
    iid = active_instance(client, "js-sdk-events")
    # The file of the SDK's CreateBillOfMaterialsImportJob example, in the instance's bucket.
    bom_file = (
        supplylake_server.data_dir / "buckets" / f"aws-supply-chain-data-{iid}" / BOM_EXAMPLE_KEY
    )
    bom_file.parent.mkdir(parents=True, exist_ok=True)
    bom_file.write_text(BOM_CSV)
    env = supplylake_server.cli_env() | {
        "SUPPLYLAKE_ENDPOINT": supplylake_server.endpoint,
        "AWS_REGION": supplylake_server.region,
    }
    assert NODE is not None
    proc = subprocess.run(
        [NODE, str(HERE / "check_sdk_v2.js"), iid, str(_service_model(tmp_path))],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)

    sent = out["shipped"]["sent"]
    assert len(sent) == 15 and len({s["eventType"] for s in sent}) == 15
    for s in sent:
        event: dict[str, Any] = {}

        def settled(event_id: str = s["eventId"], event: dict[str, Any] = event) -> bool:
            event.update(client.get_data_integration_event(instanceId=iid, eventId=event_id))
            load = event["event"]["datasetTargetDetails"]["datasetLoadExecution"]
            return bool(load["status"] != "IN_PROGRESS")

        wait_until(settled)
        load = event["event"]["datasetTargetDetails"]["datasetLoadExecution"]
        assert load["status"] == "SUCCEEDED", (s["title"], load)
    bom = out["shipped"]["bom"]
    assert bom["s3uri"] == f"s3://aws-supply-chain-data-{iid}/{BOM_EXAMPLE_KEY}"
    assert bom["job"] == {
        "instanceId": iid,
        "jobId": bom["jobId"],
        "s3uri": bom["s3uri"],
        "status": "SUCCESS",
        "message": "Import job completed successfully.",
    }
    # The SDK sent the example's clientToken: the same request again answers the same job.
    again = client.create_bill_of_materials_import_job(
        instanceId=iid, s3uri=bom["s3uri"], clientToken=BOM_EXAMPLE_TOKEN
    )
    assert again["jobId"] == bom["jobId"]

    walk = out["fullModel"]
    assert walk["created"]["state"] == "Initializing" and walk["active"] == "Active"
    assert walk["created"]["instanceDescription"] == ""
    assert walk["created"]["kmsKeyArn"].startswith("arn:aws:kms:")
    assert walk["namespace"] == {"name": "js_ns", "description": "from js"}
    assert walk["dataset"]["description"] == "from js"
    assert walk["dataset"]["schemaName"] == "InboundOrder"
    assert walk["listed"] == 0
    assert walk["tags"] == {"team": "js"}
    assert walk["missing"]["code"] == "ResourceNotFoundException"
    assert walk["instances"] == [walk["instanceId"]]
    assert walk["deleted"] == "Deleting"
