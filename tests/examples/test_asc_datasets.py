"""What AWS's examples imply beyond their answers: asc datasets made, changed and deleted, the
db_ timestamps of asc rows, and instances listed in creation order."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from supplylake.lake.api import open_lake, read_dataset
from supplylake.lake.fold import Change
from supplylake.schema.arrow import records_to_arrow
from supplylake.schema.asc import asc_datasets
from supplylake.schema.types import Operation
from supplylake.testing import ServerHandle, running_server
from tests.examples.replay import wait_until
from tests.integration.helpers import active_instance, error_code, pages


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with running_server() as s:
        yield s


@pytest.fixture
def client(server: ServerHandle) -> Any:
    return server.client()


def _send(client: Any, iid: str, record: dict[str, Any]) -> dict[str, Any]:
    event_id = client.send_data_integration_event(
        instanceId=iid,
        eventType="scn.data.inboundorder",
        eventGroupId=record["id"],
        data=json.dumps(record),
    )["eventId"]
    found: dict[str, Any] = {}

    def applied() -> bool:
        found.update(client.get_data_integration_event(instanceId=iid, eventId=event_id)["event"])
        return found["datasetTargetDetails"]["datasetLoadExecution"]["status"] != "IN_PROGRESS"

    wait_until(applied)
    assert found["datasetTargetDetails"]["datasetLoadExecution"]["status"] == "SUCCEEDED"
    return found


def test_an_asc_dataset_is_created_once_with_description_and_tags(client: Any) -> None:
    iid = active_instance(client, "asc-create")
    before = client.get_data_lake_dataset(instanceId=iid, namespace="asc", name="inbound_order")
    assert "description" not in before["dataset"]
    ds = client.create_data_lake_dataset(
        instanceId=iid, namespace="asc", name="inbound_order", description="d", tags={"k": "v"}
    )["dataset"]
    assert ds["description"] == "d" and ds["schema"]["name"] == "InboundOrder"
    got = client.get_data_lake_dataset(instanceId=iid, namespace="asc", name="inbound_order")
    assert got["dataset"]["description"] == "d"
    assert client.list_tags_for_resource(resourceArn=ds["arn"])["tags"] == {"k": "v"}
    listed = client.list_data_lake_datasets(instanceId=iid, namespace="asc", maxResults=20)
    assert {d["name"]: d.get("description") for d in listed["datasets"]}["inbound_order"] == "d"
    with pytest.raises(ClientError) as again:
        client.create_data_lake_dataset(instanceId=iid, namespace="asc", name="inbound_order")
    assert error_code(again) == "ConflictException"


def test_an_asc_dataset_takes_no_schema_and_only_data_model_names(client: Any) -> None:
    iid = active_instance(client, "asc-refuse")
    schema = {"name": "X", "fields": [{"name": "id", "type": "STRING", "isRequired": True}]}
    for name, extra in [("product", {"schema": schema}), ("my_table", {})]:
        with pytest.raises(ClientError) as refused:
            client.create_data_lake_dataset(instanceId=iid, namespace="asc", name=name, **extra)
        assert error_code(refused) == "ValidationException"
    assert "data model" in refused.value.response["Error"]["Message"]


def test_an_asc_dataset_never_created_can_be_described(client: Any) -> None:
    iid = active_instance(client, "asc-update")
    ds = client.update_data_lake_dataset(
        instanceId=iid, namespace="asc", name="product", description="our products"
    )["dataset"]
    assert ds["description"] == "our products"
    assert ds["lastModifiedTime"] >= ds["createdTime"]
    got = client.get_data_lake_dataset(instanceId=iid, namespace="asc", name="product")
    assert got["dataset"]["description"] == "our products"


def test_deleting_an_asc_dataset_empties_it_and_events_go_on(
    client: Any, server: ServerHandle
) -> None:
    iid = active_instance(client, "asc-delete")
    client.create_data_lake_dataset(
        instanceId=iid, namespace="asc", name="inbound_order", description="d", tags={"k": "v"}
    )
    _send(client, iid, {"id": "po-1", "tpartner_id": "acme"})
    assert read_dataset(iid, "asc", "inbound_order", data_dir=server.data_dir).num_rows == 1
    answer = client.delete_data_lake_dataset(instanceId=iid, namespace="asc", name="inbound_order")
    assert (answer["namespace"], answer["name"]) == ("asc", "inbound_order")
    got = client.get_data_lake_dataset(instanceId=iid, namespace="asc", name="inbound_order")
    assert "description" not in got["dataset"]
    assert client.list_tags_for_resource(resourceArn=got["dataset"]["arn"])["tags"] == {}
    _send(client, iid, {"id": "po-2", "tpartner_id": "acme"})
    rows = read_dataset(iid, "asc", "inbound_order", data_dir=server.data_dir)
    assert rows.column("id").to_pylist() == ["po-2"]
    # Created again after the delete, as a client that "ensures its datasets" would.
    client.create_data_lake_dataset(instanceId=iid, namespace="asc", name="inbound_order")


def test_asc_rows_hold_their_load_time_unless_the_record_gives_one(
    client: Any, server: ServerHandle
) -> None:
    iid = active_instance(client, "asc-dttm")
    before = datetime.now(UTC)
    _send(client, iid, {"id": "po-1", "tpartner_id": "acme"})
    given = "2024-05-01T10:00:00Z"
    _send(client, iid, {"id": "po-2", "tpartner_id": "acme", "db_creation_dttm": given})
    rows = read_dataset(iid, "asc", "inbound_order", data_dir=server.data_dir).to_pylist()
    by_id = {r["id"]: r for r in rows}
    loaded = by_id["po-1"]
    assert before <= loaded["db_creation_dttm"] == loaded["db_updation_dttm"]
    assert loaded["db_creation_dttm"] <= datetime.now(UTC)
    assert by_id["po-2"]["db_creation_dttm"] == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert by_id["po-2"]["db_updation_dttm"] >= before


def test_instances_are_listed_in_creation_order(client: Any) -> None:
    # Random ids: creation order and id order differ (one chance in 24 that they agree).
    names = [f"order-{time.monotonic_ns()}" for _ in range(4)]
    made = [client.create_instance(instanceName=n)["instance"]["instanceId"] for n in names]
    listed = [
        i["instanceId"]
        for page in pages(client.list_instances, instanceNameFilter=names, maxResults=1)
        for i in page["instances"]
    ]
    assert listed == made


def test_an_instance_without_description_or_key_answers_both(client: Any) -> None:
    inst = client.create_instance()["instance"]
    assert inst["instanceDescription"] == ""
    assert inst["kmsKeyArn"].startswith("arn:aws:kms:us-east-1:")
    got = client.get_instance(instanceId=inst["instanceId"])["instance"]
    assert got["kmsKeyArn"] == inst["kmsKeyArn"] and got["instanceDescription"] == ""


def test_an_asc_table_made_before_the_db_fields_takes_rows_of_the_current_schema(
    tmp_path: Path,
) -> None:
    lake = open_lake(tmp_path)
    try:
        current = asc_datasets()["inbound_order"]
        earlier = replace(current, fields=current.fields[:-2])
        iid = "11111111-2222-4333-8444-555555555555"
        lake.create_table(iid, "asc", earlier)
        rows = records_to_arrow(
            [{"id": "a", "tpartner_id": "t", "db_creation_dttm": "2024-01-01T00:00:00Z"}],
            current,
            fill={"connection_id": "x"},
            operation=Operation.UPSERT,
            checked=False,
        )
        table = lake.open_table(iid, "asc", current, create=True)
        lake.apply_batch(
            iid, "asc", current, [Change(Operation.UPSERT, rows)], 1, expected_position=0,
            table=table,
        )  # fmt: skip
        got = lake.scan(iid, "asc", "inbound_order").to_pylist()
    finally:
        lake.close()
    assert got[0]["db_creation_dttm"] == datetime(2024, 1, 1, tzinfo=UTC)
    assert got[0]["db_updation_dttm"] is None
