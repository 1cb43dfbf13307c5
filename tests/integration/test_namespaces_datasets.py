"""Namespaces, datasets and tags through boto3 against a real server."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.helpers import active_instance, error_code, pages, status

SCHEMA = {
    "name": "Orders",
    "fields": [
        {"name": "id", "type": "STRING", "isRequired": True},
        {"name": "qty", "type": "INT", "isRequired": False},
        {"name": "placed_at", "type": "TIMESTAMP", "isRequired": False},
    ],
    "primaryKeys": [{"name": "id"}],
}


@pytest.fixture(scope="module")
def instance_id(supplylake_server: Any) -> str:
    return active_instance(supplylake_server.client(), "lake")


def test_predefined_namespaces_exist_but_are_not_listed(
    supplylake_client: Any, instance_id: str
) -> None:
    for name in ("asc", "default"):
        ns = supplylake_client.get_data_lake_namespace(instanceId=instance_id, name=name)[
            "namespace"
        ]
        assert ns["arn"].endswith(f"instance/{instance_id}/namespaces/{name}")
    listed = supplylake_client.list_data_lake_namespaces(instanceId=instance_id)["namespaces"]
    assert {"asc", "default"}.isdisjoint(n["name"] for n in listed)


def test_custom_namespace_lifecycle(supplylake_client: Any, instance_id: str) -> None:
    c = supplylake_client
    ns = c.create_data_lake_namespace(
        instanceId=instance_id, name="erp", description="from SAP", tags={"src": "sap"}
    )["namespace"]
    assert ns["description"] == "from SAP"
    with pytest.raises(c.exceptions.ConflictException):
        c.create_data_lake_namespace(instanceId=instance_id, name="erp")
    assert (
        c.update_data_lake_namespace(instanceId=instance_id, name="erp", description="new")[
            "namespace"
        ]["description"]
        == "new"
    )
    assert "erp" in [
        n["name"] for n in c.list_data_lake_namespaces(instanceId=instance_id)["namespaces"]
    ]
    assert c.list_tags_for_resource(resourceArn=ns["arn"])["tags"] == {"src": "sap"}
    c.create_data_lake_dataset(
        instanceId=instance_id, namespace="erp", name="orders", schema=SCHEMA
    )
    assert c.delete_data_lake_namespace(instanceId=instance_id, name="erp")["name"] == "erp"
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_data_lake_namespace(instanceId=instance_id, name="erp")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_data_lake_dataset(instanceId=instance_id, namespace="erp", name="orders")


@pytest.mark.parametrize("name", ["asc_more", "default2", "scn", "aws_x", "amazon", "amzn1"])
def test_reserved_namespace_prefixes_are_refused(
    supplylake_client: Any, instance_id: str, name: str
) -> None:
    with pytest.raises(ClientError) as exc:
        supplylake_client.create_data_lake_namespace(instanceId=instance_id, name=name)
    assert error_code(exc) == "ValidationException" and "reserved" in str(exc.value)


def test_bad_namespace_name_pattern(supplylake_client: Any, instance_id: str) -> None:
    with pytest.raises(ClientError) as exc:
        supplylake_client.create_data_lake_namespace(instanceId=instance_id, name="Bad-Name")
    assert error_code(exc) == "ValidationException" and "name" in str(exc.value)


def test_predefined_namespaces_cannot_be_deleted(supplylake_client: Any, instance_id: str) -> None:
    with pytest.raises(ClientError) as exc:
        supplylake_client.delete_data_lake_namespace(instanceId=instance_id, name="asc")
    assert error_code(exc) == "ValidationException"


def test_asc_datasets_are_predefined(supplylake_client: Any, instance_id: str) -> None:
    c = supplylake_client
    names = [
        d["name"]
        for page in pages(
            c.list_data_lake_datasets, instanceId=instance_id, namespace="asc", maxResults=20
        )
        for d in page["datasets"]
    ]
    assert len(names) == 44 and "inbound_order_line" in names
    ds = c.get_data_lake_dataset(instanceId=instance_id, namespace="asc", name="inbound_order")[
        "dataset"
    ]
    fields = {f["name"]: f for f in ds["schema"]["fields"]}
    assert "connection_id" in fields and fields["id"]["type"] == "STRING"
    assert [k["name"] for k in ds["schema"]["primaryKeys"]] == ["id", "tpartner_id"]
    with pytest.raises(ClientError) as exc:
        c.create_data_lake_dataset(
            instanceId=instance_id, namespace="asc", name="mine", schema=SCHEMA
        )
    assert error_code(exc) == "ValidationException"
    # Deleting one empties it; the data model's dataset stays there (tests/examples has more).
    c.delete_data_lake_dataset(instanceId=instance_id, namespace="asc", name="inbound_order")
    c.get_data_lake_dataset(instanceId=instance_id, namespace="asc", name="inbound_order")


def test_custom_dataset_lifecycle(supplylake_client: Any, instance_id: str) -> None:
    c = supplylake_client
    spec = {"fields": [{"name": "placed_at", "transform": {"type": "DAY"}}]}
    ds = c.create_data_lake_dataset(
        instanceId=instance_id,
        namespace="default",
        name="orders",
        schema=SCHEMA,
        partitionSpec=spec,
        description="orders",
        tags={"k": "v"},
    )["dataset"]
    assert ds["arn"].endswith(f"instance/{instance_id}/namespaces/default/datasets/orders")
    assert ds["partitionSpec"] == spec
    assert ds["schema"]["primaryKeys"] == [{"name": "id"}]
    with pytest.raises(c.exceptions.ConflictException):
        c.create_data_lake_dataset(
            instanceId=instance_id, namespace="default", name="orders", schema=SCHEMA
        )
    got = c.get_data_lake_dataset(instanceId=instance_id, namespace="default", name="orders")[
        "dataset"
    ]
    assert got["schema"]["fields"] == SCHEMA["fields"]
    upd = c.update_data_lake_dataset(
        instanceId=instance_id, namespace="default", name="orders", description="changed"
    )["dataset"]
    assert upd["description"] == "changed"
    listed = c.list_data_lake_datasets(instanceId=instance_id, namespace="default")["datasets"]
    assert "orders" in [d["name"] for d in listed]
    assert c.list_tags_for_resource(resourceArn=ds["arn"])["tags"] == {"k": "v"}
    c.delete_data_lake_dataset(instanceId=instance_id, namespace="default", name="orders")
    with pytest.raises(c.exceptions.ResourceNotFoundException):
        c.get_data_lake_dataset(instanceId=instance_id, namespace="default", name="orders")


@pytest.mark.parametrize(
    ("schema", "spec", "words"),
    [
        ({**SCHEMA, "primaryKeys": [{"name": "nope"}]}, None, "nope"),
        (SCHEMA, {"fields": [{"name": "qty", "transform": {"type": "DAY"}}]}, "qty"),
        (SCHEMA, {"fields": [{"name": "ghost", "transform": {"type": "IDENTITY"}}]}, "ghost"),
        ({**SCHEMA, "fields": SCHEMA["fields"] + [SCHEMA["fields"][0]]}, None, "id"),
    ],
)
def test_bad_custom_schemas(
    supplylake_client: Any, instance_id: str, schema: Any, spec: Any, words: str
) -> None:
    kwargs = {"partitionSpec": spec} if spec else {}
    with pytest.raises(ClientError) as exc:
        supplylake_client.create_data_lake_dataset(
            instanceId=instance_id, namespace="default", name="bad", schema=schema, **kwargs
        )
    assert error_code(exc) == "ValidationException" and words in str(exc.value)


def test_dataset_in_missing_namespace(supplylake_client: Any, instance_id: str) -> None:
    with pytest.raises(supplylake_client.exceptions.ResourceNotFoundException):
        supplylake_client.create_data_lake_dataset(
            instanceId=instance_id, namespace="ghost", name="x", schema=SCHEMA
        )


def test_tags(supplylake_client: Any, instance_id: str) -> None:
    c = supplylake_client
    arn = f"arn:aws:scn:us-east-1:000000000000:instance/{instance_id}"
    c.tag_resource(resourceArn=arn, tags={"a": "1", "b": "2"})
    c.tag_resource(resourceArn=arn, tags={"a": "changed"})
    c.untag_resource(resourceArn=arn, tagKeys=["b"])
    assert c.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "changed"}
    asc_arn = f"{arn}/namespaces/asc/datasets/inbound_order"
    c.tag_resource(resourceArn=asc_arn, tags={"x": "y"})
    assert c.list_tags_for_resource(resourceArn=asc_arn)["tags"] == {"x": "y"}
    with pytest.raises(ClientError) as exc:
        c.tag_resource(resourceArn=arn, tags={f"k{i}": "v" for i in range(201)})
    assert error_code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        c.tag_resource(resourceArn=arn, tags={"aws:owner": "me"})
    assert error_code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        c.tag_resource(resourceArn=f"{arn}/namespaces/ghost", tags={"a": "b"})
    assert error_code(exc) == "ResourceNotFoundException" and status(exc) == 404
    with pytest.raises(ClientError) as exc:
        c.list_tags_for_resource(resourceArn=arn.replace("000000000000", "999999999999"))
    assert error_code(exc) == "ResourceNotFoundException"
