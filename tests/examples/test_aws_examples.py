"""AWS's published examples, replayed through boto3 against a real server.

``aws_examples.json`` holds every request/response example AWS publishes for the operations of
the model (its header names the source). Each example runs in a world of its own:
the resources it takes for granted (its instance, the dataset it reads, the event it looks up)
are made first, through the API, then its request is sent with AWS's ids replaced by the ones
the server made, and the answer is compared with AWS's (see :mod:`tests.examples.replay`).

Where supplylake answers differently on purpose, ``DIFFERENCES`` says how and why, and the test
checks that answer instead; docs/behaviour.md lists the same places for users.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from supplylake.loader.bom import bom_lease_name
from supplylake.states import FlowExecutionStatus
from supplylake.store import open_store
from supplylake.store.base import Store
from supplylake.store.sql import flows as sql_flows
from supplylake.testing import ServerHandle, running_server
from tests.examples.replay import Replay, wait_until
from tests.integration.helpers import AWS_PARTNER_FIELDS

DOC = json.loads((Path(__file__).parent / "aws_examples.json").read_text())
EXAMPLES: list[dict[str, Any]] = DOC["examples"]
BY_TITLE = {e["title"]: e for e in EXAMPLES}

#: The ids AWS's examples use for their instances (see the examples' inputs).
DATALAKE_INSTANCE = "1877dd20-dee9-4639-8e99-cb67acf21fe5"
EVENTS_INSTANCE = "8928ae12-15e5-4441-825d-ec2184f0a43a"
FLOWS_INSTANCE = "8850c54e-e187-4fa7-89d4-6370f165174d"
EXAMPLE_INSTANCE = "9e193580-7cc5-45f7-9609-c43ba0ada793"
SECOND_INSTANCE = "3ad8116a-644d-4172-8dcb-20e51d314c14"
EXAMPLE_EVENT = "19739c8e-cd2e-4cbc-a2f7-0dc43239f042"
KMS_KEY = "arn:aws:kms:us-west-2:123456789012:key/b14ffc39-b7d4-45ab-991a-6257a7f0d24d"
BOM_INSTANCE = "60f82bbd-71f7-4fcd-a941-472f574c5243"
BOM_JOB = "f79b359b-1515-4436-a3bf-bae7b33e47b4"
#: The bucket AWS's bill-of-materials examples read (one of the caller's own, in AWS).
BOM_BUCKET = "s3://mybucketname/"
BOM_CREATE = "Invoke CreateBillOfMaterialsImportJob"
BOM_RUNNING = "Invoke GetBillOfMaterialsImportJob for an in-progress job"
#: The file the examples import, put where their URI points (in the instance's bucket).
BOM_CSV = (
    "id,product_id,component_product_id,component_quantity_per,alternate_group_id,level\n"
    "bom1,bike,wheel,2,,1\nbom1,bike,frame,1,,1\n"
)

DEDUPE_BY_KEY = "Successful UpdateDataIntegrationFlow for dataset to dataset flow to update sources"
#: Where supplylake's answer differs from AWS's example on purpose.
DIFFERENCES = {
    "Successful SendDataIntegrationEvent for dataset event type": (
        "stricter: the record has a field (dataset_id) that asc.product lacks; AWS acknowledges "
        "the event, supplylake refuses it at send time, naming the field"
    ),
    "List AWS Supply Chain datasets": (
        "supplylake lists every asc dataset of the data model, created or not; AWS's example "
        "shows only the one it created: the created one must be among them, as AWS shows it"
    ),
    "Successful GetInstance request with error message": (
        "needs an instance whose creation failed, which no API call can cause"
    ),
    BOM_CREATE: (
        "stricter: a bill-of-materials file is read from the instance's own bucket only; AWS's "
        "examples name s3://mybucketname/, which supplylake refuses (AccessDeniedException naming "
        "the instance's bucket): the replay puts the file in the instance's bucket and names it "
        "there, in the request and in the answers it compares"
    ),
    DEDUPE_BY_KEY: (
        "stricter: the example dedupes asc.trading_partner by eff_start_date, one of its primary "
        "keys, which AWS documents a dedupe field must not be; supplylake refuses it, naming the "
        "field"
    ),
}
#: What supplylake's answers about asc datasets hold beyond AWS's examples: the data model's
#: primary keys (which UPSERT and DELETE use), and, as it lists every asc dataset, a next page.
ASC_EXTRA = frozenset({"dataset.schema.primaryKeys", "datasets.schema.primaryKeys", "nextToken"})
#: AWS's tag examples name the flow ``my_flow1``, a name the model's pattern for flow names
#: (``[A-Za-z0-9-]+``) refuses, so no flow can have that ARN: they tag the flow's instance.
FLOW_ARN_SUFFIX = "/data-integration-flows/my_flow1"
#: AWS's flow examples read the bucket of an instance they never show; a flow reads its own
#: instance's bucket, so that id stands for the flows' instance too.
FLOWS_BUCKET_INSTANCE = "b8c7bb28-a576-4334-b481-6d6e8e47371f"
#: The staging datasets AWS's flow examples read and write, with the fields their SQL names.
STAGING_DATASETS = {
    "my_staging_dataset": ["id", "description", "connection_id", "bukrs", "txtmd", "langu"],
    **{
        name: list(AWS_PARTNER_FIELDS)
        for name in ("my_staging_dataset1", "my_staging_dataset2", "my_staging_dataset2_updated")
    },
}


#: The data folder of each server the replay runs against, by endpoint (for its store).
DATA_DIRS: dict[str, Path] = {}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with running_server() as s:
        DATA_DIRS[s.endpoint] = s.data_dir
        yield s


def replay_for(server: ServerHandle) -> Replay:
    return Replay(server.client(), server.account_id, server.region)


# -- the state each example takes for granted ------------------------------------------------
def _run(r: Replay, title: str) -> dict[str, Any]:
    """Run another example's request (the one that makes what this example reads)."""
    e = BY_TITLE[title]
    return r.call(e["operation"], e["input"])


def _datalake(r: Replay) -> None:
    r.instance(DATALAKE_INSTANCE, instanceName="examples")


def _asc_inbound_order(r: Replay) -> None:
    _datalake(r)
    _run(r, "Create an AWS Supply Chain inbound order dataset")


def _my_dataset(r: Replay) -> None:
    _datalake(r)
    _run(r, "Create a custom dataset")


def _my_namespace(r: Replay) -> None:
    _datalake(r)
    _run(r, "Create a data lake namespace")


def _example_instance(name: str, description: str) -> Callable[[Replay], None]:
    def given(r: Replay) -> None:
        r.instance(
            EXAMPLE_INSTANCE,
            instanceName=name,
            instanceDescription=description,
            kmsKeyArn=KMS_KEY,
        )

    return given


def _custom_datasets_to_page(r: Replay) -> None:
    """my_dataset and my_dataset_2, with one dataset before them and one after."""
    _my_dataset(r)
    iid = r.ids[DATALAKE_INSTANCE]
    for name, fields in [
        ("earlier_dataset", [("id", "INT", True)]),
        ("my_dataset_2", [("id", "INT", True), ("description", "STRING", True)]),
        ("my_dataset_3", [("id", "INT", True)]),
    ]:
        r.client.create_data_lake_dataset(
            instanceId=iid,
            namespace="default",
            name=name,
            description="This is a custom dataset 2" if name == "my_dataset_2" else "other",
            schema={
                "name": "Any",
                "fields": [{"name": n, "type": t, "isRequired": q} for n, t, q in fields],
            },
        )
    first = r.client.list_data_lake_datasets(instanceId=iid, namespace="default", maxResults=1)
    r.token = first["nextToken"]


def _namespaces_to_list(extra: bool) -> Callable[[Replay], None]:
    def given(r: Replay) -> None:
        _datalake(r)
        iid = r.ids[DATALAKE_INSTANCE]
        for name in ["custom_namespace", "my_namespace", *(["other_namespace"] if extra else [])]:
            r.client.create_data_lake_namespace(instanceId=iid, name=name)
        if extra:
            first = r.client.list_data_lake_namespaces(instanceId=iid, maxResults=1)
            r.token = first["nextToken"]

    return given


def _applied_dataset_event(r: Replay) -> None:
    """The event AWS's Get and List examples show: APPEND to asc.product, applied.

    AWS's own record for it (``{"dataset_id": ...}``) is refused here (see DIFFERENCES), so
    the event carries a product record instead; everything the examples show is the same.
    """
    iid = r.instance(EVENTS_INSTANCE, instanceName="examples")
    send = BY_TITLE["Successful SendDataIntegrationEvent for dataset event type"]["input"]
    params = r.prepare(send)
    params["data"] = json.dumps({"id": "product-id-test-123", "description": "a product"})
    event_id = r.client.send_data_integration_event(**params)["eventId"]
    r.ids[EXAMPLE_EVENT] = event_id
    r.event_outcome(iid, event_id)


def _flow_instance(tagged: bool) -> Callable[[Replay], None]:
    def given(r: Replay) -> None:
        iid = r.instance(FLOWS_INSTANCE, instanceName="examples")
        if tagged:
            r.client.tag_resource(
                resourceArn=f"arn:aws:scn:{r.region}:{r.account_id}:instance/{iid}",
                tags={"tagKey1": "tagValue1"},
            )

    return given


def _flows_instance(*flows: str) -> Callable[[Replay], None]:
    """The flows' instance with the datasets AWS's flow examples name, and the flows of the
    Create examples titled ``flows``."""

    def given(r: Replay) -> None:
        iid = r.instance(FLOWS_INSTANCE, instanceName="examples")
        r.ids[FLOWS_BUCKET_INSTANCE] = iid
        for name, fields in STAGING_DATASETS.items():
            r.client.create_data_lake_dataset(
                instanceId=iid,
                namespace="default",
                name=name,
                schema={
                    "name": "Staging",
                    "fields": [
                        {
                            "name": f,
                            "type": "TIMESTAMP" if f.startswith("eff_") else "STRING",
                            "isRequired": f == "id",
                        }
                        for f in fields
                    ],
                },
            )
        for title in flows:
            _run(r, title)

    return given


def _executions(r: Replay) -> None:
    """The flows and the finished executions AWS's execution examples show.

    The executions are written into the server's store as its loader would record them, each in
    one transaction (so the loader never sees them unfinished). AWS's execution ids stand for
    new ones: the examples reuse them across instances, and an execution id is unique.
    """
    iid = r.instance(EVENTS_INSTANCE, instanceName="examples")
    r.client.create_data_lake_dataset(
        instanceId=iid,
        namespace="default",
        name="product",
        schema={"name": "P", "fields": [{"name": "id", "type": "STRING", "isRequired": True}]},
    )
    product = r.prepare(
        f"arn:aws:scn:us-east-1:123456789012:instance/{EVENTS_INSTANCE}"
        "/namespaces/default/datasets/product"
    )
    s3 = {"bucketName": f"aws-supply-chain-data-{iid}", "prefix": "sources"}
    flows = {
        "source-product": {"sourceType": "S3", "sourceName": "p", "s3Source": s3},
        "target-product": {
            "sourceType": "DATASET",
            "sourceName": "p",
            "datasetSource": {"datasetIdentifier": product},
        },
    }
    for name, source in flows.items():
        r.client.create_data_integration_flow(
            instanceId=iid,
            name=name,
            sources=[source],
            transformation={"transformationType": "NONE"},
            target={
                "targetType": "S3",
                "s3Target": {"bucketName": s3["bucketName"], "prefix": f"out/{name}"},
            },
        )
    for title in (
        "Successful GetDataIntegrationFlowExecution for S3 source",
        "Successful GetDataIntegrationFlowExecution for DATASET source",
    ):
        shown = BY_TITLE[title]["output"]["flowExecution"]
        execution_id = r.ids.setdefault(shown["executionId"], str(uuid.uuid4()))
        info = r.prepare(shown["sourceInfo"])
        source_info = {
            "source_type": info["sourceType"],
            **(
                {"s3_source": {"bucket_name": b["bucketName"], "key": b["key"]}}
                if (b := info.get("s3Source"))
                else {}
            ),
            **(
                {"dataset_source": {"dataset_identifier": d["datasetIdentifier"]}}
                if (d := info.get("datasetSource"))
                else {}
            ),
        }
        store = _store(r)
        try:
            _recorded(store, iid, shown["flowName"], execution_id, source_info, shown)
        finally:
            store.close()


def _recorded(
    store: Store,
    iid: str,
    flow: str,
    execution_id: str,
    source_info: dict[str, Any],
    shown: dict[str, Any],
) -> None:
    start = datetime.fromtimestamp(shown["startTime"], UTC)
    end = datetime.fromtimestamp(shown["endTime"], UTC)

    def write(conn: Any) -> None:
        sql_flows.queue_flow_execution(
            conn, iid, flow, execution_id, source_info, {"kind": "manual", "key": None}, start
        )
        sql_flows.start_flow_execution(conn, execution_id, start)
        sql_flows.finish_flow_execution(
            conn, execution_id, FlowExecutionStatus(shown["status"]), None, end, 0, 0, 0, None
        )

    store._write(write)  # type: ignore[attr-defined]


def _store(r: Replay) -> Store:
    return open_store(f"sqlite:///{DATA_DIRS[r.client.meta.endpoint_url] / 'supplylake.db'}")


def _in_instance_bucket(value: Any) -> Any:
    """A bill-of-materials example's values, its bucket the instance's (see DIFFERENCES)."""
    instance_bucket = f"s3://aws-supply-chain-data-{BOM_INSTANCE}/"
    return json.loads(json.dumps(value).replace(BOM_BUCKET, instance_bucket))


def _bom_instance(r: Replay) -> None:
    """The instance of AWS's bill-of-materials examples, the file they import in its bucket."""
    iid = r.instance(BOM_INSTANCE, instanceName="examples")
    bucket = DATA_DIRS[r.client.meta.endpoint_url] / "buckets" / f"aws-supply-chain-data-{iid}"
    path = bucket / "pathelemene" / "file.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BOM_CSV)


def _bom_job_created(r: Replay) -> str:
    """The job of AWS's Create example, standing for the job id AWS's Get examples name."""
    job_id: str = r.call("CreateBillOfMaterialsImportJob", _request(r, BY_TITLE[BOM_CREATE]))[
        "jobId"
    ]
    r.ids[BOM_JOB] = job_id
    return job_id


def _bom_outcome(r: Replay, job_id: str) -> dict[str, Any]:
    """The job once the loader is done with it."""
    found: dict[str, Any] = {}

    def done() -> bool:
        found.update(
            r.client.get_bill_of_materials_import_job(instanceId=r.ids[BOM_INSTANCE], jobId=job_id)[
                "job"
            ]
        )
        return found["status"] in ("SUCCESS", "FAILED")

    wait_until(done, timeout=60)
    return found


def _bom_job_done(r: Replay) -> None:
    _bom_instance(r)
    _bom_outcome(r, _bom_job_created(r))


@contextlib.contextmanager
def _bom_job_running(r: Replay) -> Iterator[None]:
    """The Create example's job, started by a runner that holds the instance's import lease (as
    a loader thread does while it imports) until the block ends; the loader then finishes it."""
    _bom_instance(r)
    store = _store(r)
    leases = store.open_leases("examples")
    try:
        wait_until(lambda: leases.try_acquire(bom_lease_name(r.ids[BOM_INSTANCE])))
        job_id = _bom_job_created(r)
        store.start_bom_job(job_id, datetime.now(UTC))
        yield
    finally:
        leases.close()
        store.close()


_S3_FLOW = "Successful CreateDataIntegrationFlow for s3 to dataset flow"
_JOIN_FLOW = "Successful CreateDataIntegrationFlow for dataset to dataset flow"

GIVEN: dict[str, Callable[[Replay], None]] = {
    BOM_CREATE: _bom_instance,
    "Invoke GetBillOfMaterialsImportJob for a successful job": _bom_job_done,
    _S3_FLOW: _flows_instance(),
    _JOIN_FLOW: _flows_instance(),
    "Successful DeleteDataIntegrationFlow": _flows_instance(_S3_FLOW),
    "Successful GetDataIntegrationFlow": _flows_instance(_S3_FLOW),
    "Successful ListDataIntegrationFlow": _flows_instance(_S3_FLOW, _JOIN_FLOW),
    "Successful UpdateDataIntegrationFlow for s3 to dataset flow to update SQL transformation": (
        _flows_instance(_S3_FLOW)
    ),
    DEDUPE_BY_KEY: _flows_instance(_JOIN_FLOW),
    "Successful GetDataIntegrationFlowExecution for S3 source": _executions,
    "Successful GetDataIntegrationFlowExecution for DATASET source": _executions,
    "Successful ListDataIntegrationFlowExecutions": _executions,
    "Create an AWS Supply Chain inbound order dataset": _datalake,
    "Create a custom dataset": _datalake,
    "Create a data lake namespace": _datalake,
    "Delete an AWS Supply Chain inbound_order dataset": _asc_inbound_order,
    "Delete a custom dataset": _my_dataset,
    "Delete an AWS Supply Chain namespace": _my_namespace,
    "Successful DeleteInstance request": _example_instance(
        "updated example instance name", "updated example instance description"
    ),
    "Successful GetDataIntegrationEvent": _applied_dataset_event,
    "Get properties of an existing AWS Supply Chain inbound order dataset": _asc_inbound_order,
    "Get proporties of an existing custom dataset": _my_dataset,
    "Get properties of an existing AWS Supply Chain namespace": _my_namespace,
    "Get proporties of an existing pre-defined AWS Supply Chain namespace": _datalake,
    "Successful GetInstance request": _example_instance(
        "example instance name", "example instance description"
    ),
    "Successful ListDataIntegrationEvents": _applied_dataset_event,
    "List AWS Supply Chain datasets": _asc_inbound_order,
    "List custom datasets using pagination": _custom_datasets_to_page,
    "List AWS Supply Chain namespaces": _namespaces_to_list(extra=False),
    "List AWS Supply Chain namespaces using pagination": _namespaces_to_list(extra=True),
    "Successful ListTagsForResource": _flow_instance(tagged=True),
    "Successful TagResource": _flow_instance(tagged=False),
    "Successful UntagResource": _flow_instance(tagged=True),
    "Update description of an existing AWS Supply Chain inbound order dataset": (
        _asc_inbound_order
    ),
    "Update description of an existing custom dataset": _my_dataset,
    "Update description of an existing AWS Supply Chain namespace": _my_namespace,
    "Successful UpdateInstance request": _example_instance(
        "example instance name", "example instance description"
    ),
}


def _given(r: Replay, example: dict[str, Any]) -> None:
    title = example["title"]
    if title in GIVEN:
        GIVEN[title](r)
    elif example["operation"] == "SendDataIntegrationEvent":
        r.instance(EVENTS_INSTANCE, instanceName="examples")


def _request(r: Replay, example: dict[str, Any]) -> dict[str, Any]:
    params = json.loads(json.dumps(example["input"]))
    if params.get("nextToken", "").startswith("next_token_returned"):
        params["nextToken"] = r.token
    if "resourceArn" in params:
        params["resourceArn"] = params["resourceArn"].removesuffix(FLOW_ARN_SUFFIX)
    if "BillOfMaterials" in example["operation"]:
        params = _in_instance_bucket(params)
    return params


# -- the replay ----------------------------------------------------------------------------
NOT_LIST_INSTANCES = [e for e in EXAMPLES if e["operation"] != "ListInstances"]


@pytest.mark.parametrize(
    "example",
    NOT_LIST_INSTANCES,
    ids=[f"{e['operation']}: {e['title']}" for e in NOT_LIST_INSTANCES],
)
def test_aws_example_answers_as_aws_shows(server: ServerHandle, example: dict[str, Any]) -> None:
    title, operation = example["title"], example["operation"]
    if title == "Successful GetInstance request with error message":
        pytest.skip(DIFFERENCES[title])
    r = replay_for(server)
    if title == BOM_RUNNING:
        with _bom_job_running(r):
            answer = r.call(operation, _request(r, example))
        r.compare(operation, _in_instance_bucket(example["output"]), answer)
        assert _bom_outcome(r, answer["job"]["jobId"])["status"] == "SUCCESS"
        return
    _given(r, example)
    params = _request(r, example)
    if title == BOM_CREATE:
        with pytest.raises(ClientError) as refused:
            r.call(operation, example["input"])
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
        assert "mybucketname" in refused.value.response["Error"]["Message"]
    if title == "Successful SendDataIntegrationEvent for dataset event type":
        with pytest.raises(ClientError) as refused:
            r.call(operation, params)
        assert refused.value.response["Error"]["Code"] == "ValidationException"
        assert "dataset_id" in refused.value.response["Error"]["Message"]
        return
    if title == DEDUPE_BY_KEY:
        with pytest.raises(ClientError) as refused:
            r.call(operation, params)
        assert refused.value.response["Error"]["Code"] == "ValidationException"
        assert (
            "'eff_start_date' is a primary key of dataset asc.trading_partner"
            in (refused.value.response["Error"]["Message"])
        )
        return
    answer = r.call(operation, params)
    generated = frozenset({"versionNumber"})
    if operation == "CreateInstance" and "kmsKeyArn" not in params:
        generated |= {"kmsKeyArn"}
    asc = params.get("namespace") == "asc"
    expected = example["output"]
    if "BillOfMaterials" in operation:
        expected = _in_instance_bucket(expected)
    r.compare(
        operation,
        expected,
        answer,
        generated=generated,
        subset_lists=title == "List AWS Supply Chain datasets",
        extra=ASC_EXTRA if asc else frozenset(),
    )
    _then(r, example, params, answer)


def _then(r: Replay, example: dict[str, Any], params: dict[str, Any], answer: Any) -> None:
    """What the example implies beyond its answer: the event is applied, the tags are there."""
    operation = example["operation"]
    if operation == "SendDataIntegrationEvent":
        event = r.event_outcome(r.ids[EVENTS_INSTANCE], answer["eventId"])
        load = event["datasetTargetDetails"]["datasetLoadExecution"]
        assert load["status"] == "SUCCEEDED", load
    elif operation in ("TagResource", "UntagResource"):
        tags = r.client.list_tags_for_resource(resourceArn=r.prepare(params["resourceArn"]))
        assert tags["tags"] == ({"tagKey1": "tagValue1"} if operation == "TagResource" else {})
    elif operation == "CreateDataLakeDataset":
        arn = answer["dataset"]["arn"]
        assert r.client.list_tags_for_resource(resourceArn=arn)["tags"] == params["tags"]
    elif operation == "CreateBillOfMaterialsImportJob":
        job = _bom_outcome(r, answer["jobId"])
        assert (job["status"], job["message"]) == ("SUCCESS", "Import job completed successfully.")


# -- ListInstances: an account holding exactly the two instances AWS shows ------------------
@pytest.fixture(scope="module")
def two_instances() -> Iterator[tuple[ServerHandle, dict[str, str]]]:
    """First an Active instance, then one that stays Initializing, as in AWS's examples."""
    with running_server() as s:
        r = replay_for(s)
        r.instance(
            EXAMPLE_INSTANCE,
            instanceName="example instance name",
            instanceDescription="example instance description",
            kmsKeyArn=KMS_KEY,
        )
        # Restarted with a long transition, the second instance stays Initializing.
        s.stop()
        s.env["SUPPLYLAKE_INSTANCE_TRANSITION_SECONDS"] = "3600"
        s.start()
        client = s.client()
        second = client.create_instance(
            instanceDescription="example instance description", kmsKeyArn=KMS_KEY
        )["instance"]["instanceId"]
        r.ids[SECOND_INSTANCE] = second
        token = client.list_instances(maxResults=1)["nextToken"]
        yield s, {**r.ids, "token": token}


LIST_INSTANCES = [e for e in EXAMPLES if e["operation"] == "ListInstances"]


@pytest.mark.parametrize("example", LIST_INSTANCES, ids=[e["title"] for e in LIST_INSTANCES])
def test_aws_list_instances_example_answers_as_aws_shows(
    two_instances: tuple[ServerHandle, dict[str, str]], example: dict[str, Any]
) -> None:
    server, ids = two_instances
    r = replay_for(server)
    r.ids.update({k: v for k, v in ids.items() if k != "token"})
    params = dict(example["input"])
    if "nextToken" in params:
        params["nextToken"] = ids["token"]
    answer = r.call("ListInstances", params)
    r.compare("ListInstances", example["output"], answer, generated=frozenset({"versionNumber"}))


def test_every_operation_has_an_example(server: ServerHandle) -> None:
    model = server.client().meta.service_model
    assert {e["operation"] for e in EXAMPLES} == set(model.operation_names)
