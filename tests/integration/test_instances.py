"""Instances through boto3 against a real server."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from supplylake.testing import ServerHandle
from tests.integration.helpers import active_instance, error_code, pages, status, wait_for_state

MISSING = "00000000-0000-0000-0000-000000000000"


def test_create_is_asynchronous_then_active(supplylake_client: Any) -> None:
    created = supplylake_client.create_instance(
        instanceName="acme-dev", instanceDescription="dev lake", tags={"team": "ops"}
    )["instance"]
    assert created["state"] == "Initializing"
    assert created["awsAccountId"] == "000000000000"
    active = wait_for_state(supplylake_client, created["instanceId"], "Active")
    assert active["instanceName"] == "acme-dev"
    assert active["instanceDescription"] == "dev lake"
    arn = f"arn:aws:scn:us-east-1:000000000000:instance/{created['instanceId']}"
    assert supplylake_client.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "ops"}


def test_create_with_client_token_is_idempotent(supplylake_client: Any) -> None:
    token = "c" * 40
    a = supplylake_client.create_instance(instanceName="idem", clientToken=token)["instance"]
    b = supplylake_client.create_instance(instanceName="idem", clientToken=token)["instance"]
    assert a["instanceId"] == b["instanceId"]
    with pytest.raises(ClientError) as exc:
        supplylake_client.create_instance(instanceName="other", clientToken=token)
    assert error_code(exc) == "ConflictException" and status(exc) == 409


def test_get_missing_instance_is_not_found(supplylake_client: Any) -> None:
    with pytest.raises(supplylake_client.exceptions.ResourceNotFoundException) as exc:
        supplylake_client.get_instance(instanceId=MISSING)
    assert MISSING in str(exc.value)


def test_invalid_instance_id_is_a_validation_error(supplylake_client: Any) -> None:
    with pytest.raises(ClientError) as exc:
        supplylake_client.get_instance(instanceId="not-a-uuid-" + "x" * 25)
    assert error_code(exc) == "ValidationException" and status(exc) == 400
    assert "instanceId" in str(exc.value)


def test_invalid_name_pattern_is_rejected(supplylake_client: Any) -> None:
    with pytest.raises(ClientError) as exc:
        supplylake_client.create_instance(instanceName="-bad name!")
    assert error_code(exc) == "ValidationException"
    assert "instanceName" in str(exc.value)


def test_update_instance(supplylake_client: Any) -> None:
    iid = active_instance(supplylake_client, "before")
    updated = supplylake_client.update_instance(
        instanceId=iid, instanceName="after", instanceDescription="changed"
    )["instance"]
    assert (updated["instanceName"], updated["instanceDescription"]) == ("after", "changed")
    assert updated["versionNumber"] > 1
    assert supplylake_client.get_instance(instanceId=iid)["instance"]["instanceName"] == "after"


def test_list_filters_and_pages(supplylake_client: Any) -> None:
    ids = {active_instance(supplylake_client, "pager") for _ in range(5)}
    seen: list[str] = []
    for page in pages(supplylake_client.list_instances, maxResults=2, instanceNameFilter=["pager"]):
        assert len(page["instances"]) <= 2
        seen += [i["instanceId"] for i in page["instances"]]
    assert set(seen) == ids and len(seen) == len(ids)
    states = supplylake_client.list_instances(instanceStateFilter=["Deleted"])["instances"]
    assert all(i["state"] == "Deleted" for i in states)


def test_forged_next_token_is_rejected(supplylake_client: Any) -> None:
    with pytest.raises(ClientError) as exc:
        supplylake_client.list_instances(nextToken="forged-token")
    assert error_code(exc) == "ValidationException"


def test_next_token_of_other_listing_is_rejected(supplylake_client: Any) -> None:
    active_instance(supplylake_client, "tok1")
    active_instance(supplylake_client, "tok1")
    token = supplylake_client.list_instances(maxResults=1)["nextToken"]
    with pytest.raises(ClientError) as exc:
        supplylake_client.list_instances(nextToken=token, instanceNameFilter=["tok1"])
    assert error_code(exc) == "ValidationException"


def test_delete_is_asynchronous_and_removes_everything(supplylake_client: Any) -> None:
    iid = active_instance(supplylake_client, "doomed")
    supplylake_client.create_data_lake_namespace(instanceId=iid, name="sales")
    deleting = supplylake_client.delete_instance(instanceId=iid)["instance"]
    assert deleting["state"] == "Deleting"
    wait_for_state(supplylake_client, iid, "Deleted")
    with pytest.raises(supplylake_client.exceptions.ResourceNotFoundException):
        supplylake_client.get_data_lake_namespace(instanceId=iid, name="sales")


def test_other_account_never_sees_an_instance(supplylake_server: ServerHandle) -> None:
    root = supplylake_server.client()
    iid = active_instance(root, "mine")
    other = supplylake_server.client_for(
        *supplylake_server.create_key("--account-id", "222222222222")
    )
    with pytest.raises(other.exceptions.ResourceNotFoundException):
        other.get_instance(instanceId=iid)
    with pytest.raises(other.exceptions.ResourceNotFoundException):
        other.delete_instance(instanceId=iid)
    assert iid not in [i["instanceId"] for i in other.list_instances()["instances"]]
    assert root.get_instance(instanceId=iid)["instance"]["state"] == "Active"
