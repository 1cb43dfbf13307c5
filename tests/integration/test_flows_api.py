"""The seven data integration flow operations through boto3 and the AWS CLI against a real server.

The server runs without its loader: these tests are about what the API keeps and answers.
Executions are queued and finished through the server's own store (what the loader does), so
Get and List of executions answer rows whose every field the test chose.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from botocore.exceptions import ClientError

from supplylake.states import FlowExecutionStatus
from supplylake.store import open_store
from supplylake.store.base import Store
from supplylake.testing import ServerHandle, running_server
from tests.integration.helpers import (
    AWS_PARTNER_FIELDS,
    active_instance,
    dataset_arn,
    dataset_source,
    dataset_target,
    error_code,
    error_message,
    pages,
    s3_source,
    s3_sql_flow,
)
from tests.integration.test_awscli import AWS, aws

STAGING = {
    "name": "Staging",
    "fields": [
        {"name": "id", "type": "STRING", "isRequired": True},
        {"name": "description", "type": "STRING", "isRequired": False},
        {"name": "updated", "type": "TIMESTAMP", "isRequired": False},
    ],
    "primaryKeys": [{"name": "id"}],
}
PARTNERS = {
    "name": "Partners",
    "fields": [
        {"name": n, "type": "TIMESTAMP" if n.startswith("eff") else "STRING", "isRequired": False}
        for n in AWS_PARTNER_FIELDS
    ],
}
NO_KEY = {"name": "NoKey", "fields": [{"name": "id", "type": "STRING", "isRequired": True}]}
JOIN_SQL = (
    "SELECT S1.id AS id, S1.poc_org_unit_description AS description, S1.company_id AS "
    "company_id, S1.tpartner_type AS tpartner_type, S1.geo_id AS geo_id, S1.eff_start_date AS "
    "eff_start_date, S1.eff_end_date AS eff_end_date FROM testSourceName1 AS S1 LEFT JOIN "
    "testSourceName2 as S2 ON S1.id=S2.id"
)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with running_server(loader=False) as s:
        yield s


@pytest.fixture(scope="module")
def client(server: ServerHandle) -> Any:
    return server.client()


@pytest.fixture(scope="module")
def iid(server: ServerHandle, client: Any) -> str:
    instance_id = active_instance(client, "flows")
    for name, schema in [
        ("my_staging_dataset", STAGING),
        ("my_staging_dataset1", PARTNERS),
        ("my_staging_dataset2", PARTNERS),
        ("no_key", NO_KEY),
        ("loop_a", STAGING),
        ("loop_b", STAGING),
    ]:
        client.create_data_lake_dataset(
            instanceId=instance_id, namespace="default", name=name, schema=schema
        )
    return instance_id


@pytest.fixture(scope="module")
def store(server: ServerHandle) -> Iterator[Store]:
    """The server's own store, as the loader reaches it."""
    s = open_store(f"sqlite:///{(server.data_dir / 'supplylake.db').resolve()}")
    yield s
    s.close()


def flow_arn(server: ServerHandle, iid: str, name: str) -> str:
    return f"arn:aws:scn:{server.region}:{server.account_id}:instance/{iid}/data-integration-flows/{name}"


def staging_flow(server: ServerHandle, iid: str, target: str = "my_staging_dataset") -> dict:
    """AWS's S3-to-dataset example, in this instance."""
    return s3_sql_flow(
        server,
        iid,
        source="testSourceName",
        prefix="example-prefix",
        query="SELECT * FROM testSourceName",
        dataset=target,
    )


def join_flow(server: ServerHandle, iid: str) -> dict:
    """AWS's dataset-to-dataset example: two staging datasets joined into asc.trading_partner."""
    return {
        "instanceId": iid,
        "sources": [
            dataset_source(server, iid, f"testSourceName{i}", f"my_staging_dataset{i}")
            for i in (1, 2)
        ],
        "transformation": {"transformationType": "SQL", "sqlTransformation": {"query": JOIN_SQL}},
        "target": dataset_target(server, iid, "trading_partner", namespace="asc"),
    }


def field_priority(*names: str, order: str = "DESC") -> dict:
    """Target options that dedupe records by ``names``, each in ``order``."""
    return {
        "dedupeRecords": True,
        "dedupeStrategy": {
            "type": "FIELD_PRIORITY",
            "fieldPriority": {"fields": [{"name": n, "sortOrder": order} for n in names]},
        },
    }


def replace_trading_partner(server: ServerHandle, iid: str, dedupe_by: str) -> dict:
    """The target of AWS's update example: asc.trading_partner replaced, deduped by one field."""
    options = {"loadType": "REPLACE", **field_priority(dedupe_by, order="ASC")}
    return dataset_target(server, iid, "trading_partner", options, namespace="asc")


def without_times(flow: dict) -> dict:
    return {k: v for k, v in flow.items() if k not in ("createdTime", "lastModifiedTime")}


def refused(call: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as exc:
        call()
    return error_code(exc), error_message(exc)


# -- AWS's documented examples -----------------------------------------------------------------
def test_s3_to_dataset_staging_flow_with_tags(server: ServerHandle, client: Any, iid: str) -> None:
    request = staging_flow(server, iid)
    answer = client.create_data_integration_flow(
        name="testStagingFlow", tags={"tagKey1": "tagValue1"}, **request
    )
    assert (answer["instanceId"], answer["name"]) == (iid, "testStagingFlow")
    flow = client.get_data_integration_flow(instanceId=iid, name="testStagingFlow")["flow"]
    # Exactly what was sent: no options AWS's example did not give.
    assert without_times(flow) == {"name": "testStagingFlow", **request}
    assert flow["createdTime"] == flow["lastModifiedTime"]
    assert abs(flow["createdTime"] - datetime.now(UTC)) < timedelta(minutes=5)
    arn = flow_arn(server, iid, "testStagingFlow")
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"tagKey1": "tagValue1"}
    client.tag_resource(resourceArn=arn, tags={"team": "planning"})
    client.untag_resource(resourceArn=arn, tagKeys=["tagKey1"])
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "planning"}


def test_dataset_to_dataset_join_into_trading_partner(
    server: ServerHandle, client: Any, iid: str
) -> None:
    request = join_flow(server, iid)
    client.create_data_integration_flow(name="trading-partner", **request)
    flow = client.get_data_integration_flow(instanceId=iid, name="trading-partner")["flow"]
    assert without_times(flow) == {"name": "trading-partner", **request}


def test_update_sets_replace_with_field_priority_dedupe(
    server: ServerHandle, client: Any, iid: str
) -> None:
    request = join_flow(server, iid)
    client.create_data_integration_flow(name="partners-replace", **request)
    before = client.get_data_integration_flow(instanceId=iid, name="partners-replace")["flow"]
    target = replace_trading_partner(server, iid, "source_update_dttm")
    updated = client.update_data_integration_flow(
        instanceId=iid, name="partners-replace", target=target
    )["flow"]
    # The target is replaced; the sources and the SQL are kept.
    assert updated["target"] == target
    assert updated["sources"] == request["sources"]
    assert updated["transformation"] == request["transformation"]
    assert updated["createdTime"] == before["createdTime"]
    assert updated["lastModifiedTime"] >= before["lastModifiedTime"]
    got = client.get_data_integration_flow(instanceId=iid, name="partners-replace")["flow"]
    assert got == updated


def test_aws_update_example_dedupes_by_a_primary_key_and_is_refused_by_name(
    server: ServerHandle, client: Any, iid: str
) -> None:
    """AWS's own example dedupes asc.trading_partner by eff_start_date, one of its primary keys,
    which AWS documents a dedupe field must not be: supplylake holds to the documented rule."""
    client.create_data_integration_flow(name="partners-aws", **join_flow(server, iid))
    code, message = refused(
        lambda: client.update_data_integration_flow(
            instanceId=iid,
            name="partners-aws",
            target=replace_trading_partner(server, iid, "eff_start_date"),
        )
    )
    assert code == "ValidationException"
    assert message.startswith(
        "target.datasetTarget.options.dedupeStrategy.fieldPriority.fields[0].name "
        "'eff_start_date' is a primary key of dataset asc.trading_partner"
    )


def test_update_of_the_sql_keeps_the_rest_and_accepts_a_selected_connection_id(
    server: ServerHandle, client: Any, iid: str
) -> None:
    client.create_data_integration_flow(name="sql-update", **staging_flow(server, iid))
    query = "SELECT connection_id, bukrs AS id, txtmd AS description FROM testSourceName WHERE langu = 'E'"
    updated = client.update_data_integration_flow(
        instanceId=iid,
        name="sql-update",
        transformation={"transformationType": "SQL", "sqlTransformation": {"query": query}},
    )["flow"]
    assert updated["transformation"]["sqlTransformation"]["query"] == query
    assert updated["sources"] == staging_flow(server, iid)["sources"]
    # Nothing given: nothing changes.
    again = client.update_data_integration_flow(instanceId=iid, name="sql-update")["flow"]
    assert again == updated


def test_update_is_checked_as_a_whole(server: ServerHandle, client: Any, iid: str) -> None:
    client.create_data_integration_flow(name="checked-update", **staging_flow(server, iid))
    code, message = refused(
        lambda: client.update_data_integration_flow(
            instanceId=iid,
            name="checked-update",
            transformation={"transformationType": "SQL"},
        )
    )
    assert code == "ValidationException"
    assert message == "transformation.sqlTransformation is required when transformationType is SQL."
    flow = client.get_data_integration_flow(instanceId=iid, name="checked-update")["flow"]
    assert flow["transformation"]["sqlTransformation"]["query"] == "SELECT * FROM testSourceName"
    code, _ = refused(
        lambda: client.update_data_integration_flow(
            instanceId=iid, name="no-such-flow", transformation={"transformationType": "NONE"}
        )
    )
    assert code == "ResourceNotFoundException"


# -- create: idempotent, conflicts, rules ---------------------------------------------------------
def test_create_again_answers_alike_and_a_different_one_conflicts(
    server: ServerHandle, client: Any, iid: str
) -> None:
    request = staging_flow(server, iid)
    first = client.create_data_integration_flow(name="idem", tags={"a": "1"}, **request)
    created = client.get_data_integration_flow(instanceId=iid, name="idem")["flow"]
    again = client.create_data_integration_flow(name="idem", tags={"a": "1"}, **request)
    assert again["name"] == first["name"] and again["instanceId"] == first["instanceId"]
    assert client.get_data_integration_flow(instanceId=iid, name="idem")["flow"] == created
    for change in (
        {"tags": {"a": "2"}},
        {"transformation": {"transformationType": "NONE"}},
    ):
        code, message = refused(
            lambda change=change: client.create_data_integration_flow(
                name="idem", **{**request, "tags": {"a": "1"}, **change}
            )
        )
        assert code == "ConflictException"
        assert "idem already exists" in message
    assert client.get_data_integration_flow(instanceId=iid, name="idem")["flow"] == created


def _rule_cases(server: ServerHandle, iid: str) -> list[tuple[str, dict, str, str]]:
    """(what, request changes, error code, message pattern) for every cross-field rule."""
    ds = dataset_arn(server, iid, "default", "my_staging_dataset")
    s3 = s3_source(iid)
    ds_source = dataset_source(server, iid, "d", "my_staging_dataset")
    target = partial(dataset_target, server, iid)

    other_instance = "0" * 8 + "-0000-0000-0000-" + "0" * 12
    return [
        (
            "S3 source without s3Source",
            {"sources": [{"sourceType": "S3", "sourceName": "s"}]},
            "ValidationException",
            r"^sources\[0\]\.s3Source is required when sourceType is S3\.$",
        ),
        (
            "S3 source with a datasetSource",
            {"sources": [{**s3, "datasetSource": {"datasetIdentifier": ds}}]},
            "ValidationException",
            r"^sources\[0\]\.datasetSource must not be given when sourceType is S3\.$",
        ),
        (
            "DATASET source without datasetSource",
            {"sources": [s3, {"sourceType": "DATASET", "sourceName": "d"}]},
            "ValidationException",
            r"^sources\[1\]\.datasetSource is required when sourceType is DATASET\.$",
        ),
        (
            "DATASET source with an s3Source",
            {"sources": [{**ds_source, "s3Source": s3["s3Source"]}]},
            "ValidationException",
            r"^sources\[0\]\.s3Source must not be given when sourceType is DATASET\.$",
        ),
        (
            "source names not unique",
            {"sources": [s3, {**ds_source, "sourceName": "TESTSOURCENAME"}]},
            "ValidationException",
            r"^sources\[1\]\.sourceName 'TESTSOURCENAME' is also the name of sources\[0\]",
        ),
        (
            "SQL without sqlTransformation",
            {"transformation": {"transformationType": "SQL"}},
            "ValidationException",
            r"^transformation\.sqlTransformation is required when transformationType is SQL\.$",
        ),
        (
            "NONE over two sources",
            {"sources": [s3, ds_source], "transformation": {"transformationType": "NONE"}},
            "ValidationException",
            r"^transformation\.transformationType NONE passes one source through",
        ),
        (
            "DATASET target without datasetTarget",
            {"target": {"targetType": "DATASET"}},
            "ValidationException",
            r"^target\.datasetTarget is required when targetType is DATASET\.$",
        ),
        (
            "S3 target with a datasetTarget",
            {
                "target": {
                    "targetType": "S3",
                    "s3Target": {"bucketName": f"aws-supply-chain-data-{iid}", "prefix": "out"},
                    "datasetTarget": {"datasetIdentifier": ds},
                }
            },
            "ValidationException",
            r"^target\.datasetTarget must not be given when targetType is S3\.$",
        ),
        (
            "a dataset identifier that is no dataset ARN",
            {"target": {"targetType": "DATASET", "datasetTarget": {"datasetIdentifier": "orders"}}},
            "ValidationException",
            r"^target\.datasetTarget\.datasetIdentifier 'orders' is not a dataset ARN",
        ),
        (
            "a dataset of another instance",
            {
                "sources": [
                    {
                        **ds_source,
                        "datasetSource": {"datasetIdentifier": ds.replace(iid, other_instance)},
                    }
                ]
            },
            "ValidationException",
            r"^sources\[0\]\.datasetSource\.datasetIdentifier names a dataset of instance 0000",
        ),
        (
            "a dataset that does not exist",
            {"target": target("nothing_here")},
            "ResourceNotFoundException",
            r"^target\.datasetTarget\.datasetIdentifier: dataset default\.nothing_here does not exist",
        ),
        (
            "a dataset ARN of another account",
            {
                "target": {
                    "targetType": "DATASET",
                    "datasetTarget": {
                        "datasetIdentifier": ds.replace(server.account_id, "999999999999")
                    },
                }
            },
            "ResourceNotFoundException",
            r"^target\.datasetTarget\.datasetIdentifier: dataset default\.my_staging_dataset does not exist",
        ),
        (
            "a dedupe field not in the target",
            {"target": target("my_staging_dataset", field_priority("colour"))},
            "ValidationException",
            r"^target\.datasetTarget\.options\.dedupeStrategy\.fieldPriority\.fields\[0\]\.name "
            r"'colour' is not a field of dataset default\.my_staging_dataset\.$",
        ),
        (
            "a dedupe field that is a primary key",
            {"target": target("my_staging_dataset", field_priority("updated", "id"))},
            "ValidationException",
            r"^target\.datasetTarget\.options\.dedupeStrategy\.fieldPriority\.fields\[1\]\.name "
            r"'id' is a primary key of dataset default\.my_staging_dataset",
        ),
        (
            "a dedupe field listed twice",
            {"target": target("my_staging_dataset", field_priority("updated", "updated"))},
            "ValidationException",
            r"fields\[1\]\.name 'updated' is listed more than once\.$",
        ),
        (
            "dedupe into a dataset without primary key",
            {"target": target("no_key", {"dedupeRecords": True})},
            "ValidationException",
            r"^target\.datasetTarget\.options\.dedupeRecords: dataset default\.no_key has no primary key",
        ),
        (
            "a dedupe strategy with dedupeRecords false",
            {
                "target": target(
                    "my_staging_dataset", {**field_priority("updated"), "dedupeRecords": False}
                )
            },
            "ValidationException",
            r"^target\.datasetTarget\.options\.dedupeStrategy is given but dedupeRecords is false",
        ),
        (
            "another instance's bucket",
            {
                "sources": [
                    {
                        **s3,
                        "s3Source": {
                            "bucketName": "aws-supply-chain-data-b8c7bb28-a576-4334-b481-6d6e8e47371f",
                            "prefix": "p",
                        },
                    }
                ]
            },
            "ValidationException",
            r"^sources\[0\]\.s3Source\.bucketName '[^']+' is not the instance's bucket",
        ),
        (
            "a flow that feeds a dataset it reads",
            {
                "sources": [dataset_source(server, iid, "d", "loop_a")],
                "target": target("loop_a"),
            },
            "ValidationException",
            r"^target\.datasetTarget\.datasetIdentifier: flow rule-case would feed dataset "
            r"default\.loop_a, which it reads: every execution would start another\.$",
        ),
        (
            "an S3 target under a prefix it reads",
            {
                "target": {
                    "targetType": "S3",
                    "s3Target": {
                        "bucketName": f"aws-supply-chain-data-{iid}",
                        "prefix": "example-prefix/out",
                    },
                }
            },
            "ValidationException",
            r"^target\.s3Target\.prefix: flow rule-case would feed s3://",
        ),
        (
            "a flow that feeds a dataset it reads through another flow",
            {
                "sources": [dataset_source(server, iid, "d", "loop_b")],
                "target": target("loop_a"),
            },
            "ValidationException",
            r"would feed dataset default\.loop_b, which it reads \(through flow loop-b-from-a\)",
        ),
    ]


def test_every_cross_field_rule_is_refused_naming_the_member(
    server: ServerHandle, client: Any, iid: str
) -> None:
    # loop_a -> loop_b, so a flow loop_b -> loop_a closes a circle through it.
    client.create_data_integration_flow(
        name="loop-b-from-a",
        instanceId=iid,
        sources=[dataset_source(server, iid, "a", "loop_a")],
        transformation={"transformationType": "NONE"},
        target=dataset_target(server, iid, "loop_b"),
    )
    wrong = []
    for what, change, code, pattern in _rule_cases(server, iid):
        request = {**staging_flow(server, iid), **change}
        got_code, message = refused(
            lambda request=request: client.create_data_integration_flow(name="rule-case", **request)
        )
        if got_code != code or not re.search(pattern, message):
            wrong.append(f"{what}: {got_code} {message!r}")
    assert not wrong, "\n".join(wrong)
    code, _ = refused(lambda: client.get_data_integration_flow(instanceId=iid, name="rule-case"))
    assert code == "ResourceNotFoundException"  # nothing refused was kept


def test_model_constraints_are_checked_before_the_rules(client: Any, iid: str) -> None:
    code, message = refused(
        lambda: client.create_data_integration_flow(
            instanceId=iid,
            name="under_score",
            sources=[s3_source(iid)],
            transformation={"transformationType": "NONE"},
            target={"targetType": "S3", "s3Target": {"bucketName": "bbb", "prefix": "p"}},
        )
    )
    assert code == "ValidationException" and "name" in message


# -- list, paging, delete -----------------------------------------------------------------------
def test_list_pages_in_name_order_with_opaque_tokens(server: ServerHandle, client: Any) -> None:
    other = active_instance(client, "flows-paging")
    names = ["f-e", "f-a", "f-d", "f-b", "f-c"]
    for name in names:
        client.create_data_integration_flow(
            instanceId=other,
            name=name,
            sources=[s3_source(other, prefix=name)],
            transformation={"transformationType": "NONE"},
            target={
                "targetType": "S3",
                "s3Target": {
                    "bucketName": f"aws-supply-chain-data-{other}",
                    "prefix": f"out/{name}",
                },
            },
        )
    listed = list(pages(client.list_data_integration_flows, instanceId=other, maxResults=2))
    seen = [f["name"] for page in listed for f in page["flows"]]
    assert seen == sorted(names) and len(listed) == 3
    assert all(
        f["instanceId"] == other and "createdTime" in f for page in listed for f in page["flows"]
    )
    everything = client.list_data_integration_flows(instanceId=other)["flows"]
    assert [f["name"] for f in everything] == sorted(names)
    paginated = client.get_paginator("list_data_integration_flows").paginate(
        instanceId=other, PaginationConfig={"PageSize": 4}
    )
    assert [f["name"] for p in paginated for f in p["flows"]] == sorted(names)
    first = client.list_data_integration_flows(instanceId=other, maxResults=2)
    code, message = refused(
        lambda: client.list_data_integration_flows(
            instanceId=other, nextToken=first["nextToken"][:-2] + "xx"
        )
    )
    assert code == "ValidationException" and "nextToken" in message


def test_delete_removes_the_flow_and_its_tags(server: ServerHandle, client: Any, iid: str) -> None:
    request = staging_flow(server, iid)
    arn = flow_arn(server, iid, "to-delete")
    client.create_data_integration_flow(name="to-delete", tags={"k": "v"}, **request)
    answer = client.delete_data_integration_flow(instanceId=iid, name="to-delete")
    assert (answer["instanceId"], answer["name"]) == (iid, "to-delete")
    for call in (
        lambda: client.get_data_integration_flow(instanceId=iid, name="to-delete"),
        lambda: client.delete_data_integration_flow(instanceId=iid, name="to-delete"),
        lambda: client.list_tags_for_resource(resourceArn=arn),
        lambda: client.tag_resource(resourceArn=arn, tags={"k": "v"}),
    ):
        code, message = refused(call)
        assert code == "ResourceNotFoundException", message
    assert "to-delete" not in [
        f["name"]
        for f in client.list_data_integration_flows(instanceId=iid, maxResults=20)["flows"]
    ]
    # Made again, it starts without the tags of the one deleted.
    client.create_data_integration_flow(name="to-delete", **request)
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {}


def test_unknown_instance_and_flow(client: Any, iid: str) -> None:
    missing = "12345678-1234-1234-1234-123456789012"
    code, _ = refused(lambda: client.list_data_integration_flows(instanceId=missing))
    assert code == "ResourceNotFoundException"
    code, message = refused(lambda: client.get_data_integration_flow(instanceId=iid, name="nope"))
    assert code == "ResourceNotFoundException" and "nope does not exist" in message


def test_the_instance_bucket_exists_once_active(server: ServerHandle, iid: str) -> None:
    assert (server.data_dir / "buckets" / f"aws-supply-chain-data-{iid}").is_dir()


def test_a_new_flow_s_source_prefix_is_a_folder_ready_for_cp(
    server: ServerHandle, client: Any, iid: str
) -> None:
    folder = server.data_dir / "buckets" / f"aws-supply-chain-data-{iid}" / "drop" / "orders"
    assert not folder.exists()
    flow = staging_flow(server, iid) | {"sources": [s3_source(iid, prefix="/drop/orders/")]}
    client.create_data_integration_flow(name="prefix-folder", **flow)
    assert folder.is_dir()


# -- executions ---------------------------------------------------------------------------------
def test_executions_answer_what_the_loader_recorded_newest_first(
    server: ServerHandle, client: Any, store: Store, iid: str
) -> None:
    client.create_data_integration_flow(name="executed", **staging_flow(server, iid))
    bucket = f"aws-supply-chain-data-{iid}"
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    ids = [f"{i:08x}-0000-4000-8000-{i:012x}" for i in range(1, 6)]
    for i, execution_id in enumerate(ids):
        key = f"example-prefix/orders-{i}.csv"
        store.queue_flow_execution(
            iid,
            "executed",
            execution_id,
            {"source_type": "S3", "s3_source": {"bucket_name": bucket, "key": key}},
            {"kind": "object", "key": key, "version": str(i)},
            t0 + timedelta(minutes=i),
        )
    store.start_flow_execution(ids[0], t0 + timedelta(minutes=10))
    store.finish_flow_execution(
        ids[0],
        FlowExecutionStatus.FAILED,
        "orders-0.csv line 3, column qty: 'x' is not an INT",
        t0 + timedelta(minutes=11),
        diagnostics_uri=f"s3://{bucket}/diagnostics/executed/{ids[0]}/",
    )
    store.start_flow_execution(ids[1], t0 + timedelta(minutes=12))
    store.finish_flow_execution(
        ids[1], FlowExecutionStatus.SUCCEEDED, None, t0 + timedelta(minutes=13)
    )
    store.start_flow_execution(ids[2], t0 + timedelta(minutes=14))

    failed = client.get_data_integration_flow_execution(
        instanceId=iid, flowName="executed", executionId=ids[0]
    )["flowExecution"]
    assert failed == {
        "instanceId": iid,
        "flowName": "executed",
        "executionId": ids[0],
        "status": "FAILED",
        "sourceInfo": {
            "sourceType": "S3",
            "s3Source": {"bucketName": bucket, "key": "example-prefix/orders-0.csv"},
        },
        "message": "orders-0.csv line 3, column qty: 'x' is not an INT",
        "startTime": t0 + timedelta(minutes=10),
        "endTime": t0 + timedelta(minutes=11),
        "outputMetadata": {
            "diagnosticReportsRootS3URI": f"s3://{bucket}/diagnostics/executed/{ids[0]}/"
        },
    }
    running = client.get_data_integration_flow_execution(
        instanceId=iid, flowName="executed", executionId=ids[2]
    )["flowExecution"]
    assert running["status"] == "IN_PROGRESS" and "endTime" not in running
    assert running["startTime"] == t0 + timedelta(minutes=14)
    queued = client.get_data_integration_flow_execution(
        instanceId=iid, flowName="executed", executionId=ids[4]
    )["flowExecution"]
    assert queued["status"] == "IN_PROGRESS" and queued["startTime"] == t0 + timedelta(minutes=4)

    seen = [
        (e["executionId"], e["status"])
        for page in pages(
            client.list_data_integration_flow_executions,
            instanceId=iid,
            flowName="executed",
            maxResults=2,
        )
        for e in page["flowExecutions"]
    ]
    assert seen == [
        (ids[4], "IN_PROGRESS"),
        (ids[3], "IN_PROGRESS"),
        (ids[2], "IN_PROGRESS"),
        (ids[1], "SUCCEEDED"),
        (ids[0], "FAILED"),
    ]
    listed = client.list_data_integration_flow_executions(instanceId=iid, flowName="executed")
    assert listed["flowExecutions"][-1] == failed


def test_unknown_execution_or_flow_is_not_found(
    server: ServerHandle, client: Any, store: Store, iid: str
) -> None:
    client.create_data_integration_flow(name="quiet", **staging_flow(server, iid))
    assert (
        client.list_data_integration_flow_executions(instanceId=iid, flowName="quiet")[
            "flowExecutions"
        ]
        == []
    )
    other_id = "abcdef01-0000-4000-8000-000000000001"
    store.queue_flow_execution(
        iid,
        "other-flow",
        other_id,
        {"source_type": "DATASET"},
        {"kind": "datasets"},
        datetime.now(UTC),
    )
    for call in (
        lambda: client.get_data_integration_flow_execution(
            instanceId=iid,
            flowName="quiet",
            executionId=other_id,  # another flow's execution
        ),
        lambda: client.get_data_integration_flow_execution(
            instanceId=iid, flowName="no-such-flow", executionId=other_id
        ),
        lambda: client.list_data_integration_flow_executions(
            instanceId=iid, flowName="no-such-flow"
        ),
    ):
        code, _ = refused(call)
        assert code == "ResourceNotFoundException"


def test_deleting_a_flow_drops_its_queued_executions(
    server: ServerHandle, client: Any, store: Store, iid: str
) -> None:
    client.create_data_integration_flow(name="short-lived", **staging_flow(server, iid))
    execution_id = "abcdef01-0000-4000-8000-000000000002"
    store.queue_flow_execution(
        iid,
        "short-lived",
        execution_id,
        {"source_type": "S3"},
        {"kind": "manual", "key": None},
        datetime.now(UTC),
    )
    client.delete_data_integration_flow(instanceId=iid, name="short-lived")
    assert store.get_flow_execution(iid, "short-lived", execution_id) is None


# -- access -------------------------------------------------------------------------------------
def test_access_rules_cover_the_flow_actions(server: ServerHandle, client: Any, iid: str) -> None:
    client.create_data_integration_flow(name="guarded", **staging_flow(server, iid))
    key, secret = server.create_key("--actions", "scn:GetDataIntegrationFlow,scn:List*")
    reader = server.client_for(key, secret)
    assert (
        reader.get_data_integration_flow(instanceId=iid, name="guarded")["flow"]["name"]
        == "guarded"
    )
    reader.list_data_integration_flow_executions(instanceId=iid, flowName="guarded")
    for call in (
        lambda: reader.delete_data_integration_flow(instanceId=iid, name="guarded"),
        lambda: reader.update_data_integration_flow(instanceId=iid, name="guarded"),
        lambda: reader.create_data_integration_flow(name="sneaky", **staging_flow(server, iid)),
    ):
        code, message = refused(call)
        assert code == "AccessDeniedException" and "scn:" in message
    assert (
        client.get_data_integration_flow(instanceId=iid, name="guarded")["flow"]["name"]
        == "guarded"
    )


# -- the AWS CLI ---------------------------------------------------------------------------------
@pytest.mark.skipif(AWS is None, reason="the awscli package is not installed")
def test_cli_creates_lists_updates_and_deletes_a_flow(server: ServerHandle, iid: str) -> None:

    request = staging_flow(server, iid)
    args = [
        "--instance-id", iid,
        "--name", "cli-flow",
        "--sources", json.dumps(request["sources"]),
        "--transformation", json.dumps(request["transformation"]),
        "--target", json.dumps(request["target"]),
        "--tags", "team=cli",
    ]  # fmt: skip
    assert aws(server, "create-data-integration-flow", *args) == {
        "instanceId": iid,
        "name": "cli-flow",
    }
    got = aws(server, "get-data-integration-flow", "--instance-id", iid, "--name", "cli-flow")
    assert got["flow"]["sources"] == request["sources"]
    listed = aws(server, "list-data-integration-flows", "--instance-id", iid)
    assert "cli-flow" in [f["name"] for f in listed["flows"]]
    aws(
        server,
        "update-data-integration-flow",
        "--instance-id", iid,
        "--name", "cli-flow",
        "--transformation", '{"transformationType": "NONE"}',
    )  # fmt: skip
    got = aws(server, "get-data-integration-flow", "--instance-id", iid, "--name", "cli-flow")
    assert got["flow"]["transformation"] == {"transformationType": "NONE"}
    executions = aws(
        server,
        "list-data-integration-flow-executions",
        "--instance-id",
        iid,
        "--flow-name",
        "cli-flow",
    )
    assert executions["flowExecutions"] == []
    err = aws(server, "create-data-integration-flow", *args[:-2], "--tags", "team=other", ok=False)
    assert "ConflictException" in err
    aws(server, "delete-data-integration-flow", "--instance-id", iid, "--name", "cli-flow")
    err = aws(
        server, "get-data-integration-flow", "--instance-id", iid, "--name", "cli-flow", ok=False
    )
    assert "ResourceNotFoundException" in err
