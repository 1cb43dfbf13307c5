"""Every operation of the model, sent with every kind of bad credential: refused, and nothing changed.

Each request is built by botocore's own serializer from valid parameters that name real resources
(an Active instance, its custom namespace and datasets, an event, a flow and its execution, a
bill-of-materials import job), so that a request let through would act: create, update, tag or
delete something. The state seen by the root key (instances, namespaces, datasets, tags, events,
flows and their executions, the import job) is compared before and after each operation's row.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from supplylake.aws.spec import service_model
from supplylake.store import open_store
from supplylake.testing import ServerHandle, running_server
from tests.aws.shapegen import botocore_request
from tests.hardening.wire import Answer, answered, assert_refused, send, sign
from tests.integration.helpers import active_instance

OTHER_ACCOUNT = "111111111111"
NAMESPACE = "authns"
DATASET = "authds"
#: The dataset the flow writes (a flow may not write a dataset it reads).
COPY = "authds_copy"
FLOW = "flow1"
_MODEL = service_model()
OPERATIONS = sorted(_MODEL.operation_names)
#: Operations that act on no instance: a key limited to instances may still call them.
_NO_INSTANCE = {"CreateInstance", "ListInstances"}


@dataclass(frozen=True)
class World:
    instance_id: str
    other_instance_id: str
    namespace_arn: str
    dataset_arn: str
    instance_arn: str
    event_id: str
    copy_arn: str
    execution_id: str
    bom_job_id: str
    keys: dict[str, tuple[str, str]]


def _cli(server: ServerHandle, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "supplylake", *args, "--data-dir", str(server.data_dir)],
        check=True,
        capture_output=True,
        env=server.cli_env(),
    )


def _wait_until(what: str, condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        time.sleep(0.1)


def _refused_with(client: Any, code: str) -> bool:
    try:
        client.list_instances()
    except ClientError as exc:
        return bool(exc.response["Error"]["Code"] == code)
    return False


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with running_server() as s:
        yield s
        counts = answered(s)
        print(f"\n{__name__}: {sum(counts.values())} requests answered: {dict(counts)}")


@pytest.fixture(scope="module")
def world(server: ServerHandle) -> World:
    client = server.client()
    instance_id = active_instance(client, "auth-target")
    other_instance_id = active_instance(client, "auth-other")
    client.create_data_lake_namespace(instanceId=instance_id, name=NAMESPACE)
    dataset, copy = (
        client.create_data_lake_dataset(
            instanceId=instance_id,
            namespace=NAMESPACE,
            name=name,
            schema={
                "name": "Auth",
                "fields": [{"name": "id", "type": "STRING", "isRequired": True}],
                "primaryKeys": [{"name": "id"}],
            },
        )["dataset"]
        for name in (DATASET, COPY)
    )
    namespace_arn = client.get_data_lake_namespace(instanceId=instance_id, name=NAMESPACE)[
        "namespace"
    ]["arn"]
    instance_arn = namespace_arn.split("/namespaces/", 1)[0]
    for arn in (instance_arn, namespace_arn, dataset["arn"]):
        client.tag_resource(resourceArn=arn, tags={"team": "auth"})
    event_id = client.send_data_integration_event(
        instanceId=instance_id,
        eventType="scn.data.dataset",
        data='{"id": "1"}',
        eventGroupId="g",
        datasetTarget={"datasetIdentifier": dataset["arn"], "operationType": "APPEND"},
    )["eventId"]
    _wait_until("the event's load", lambda: _event_settled(client, instance_id, event_id))
    client.create_data_integration_flow(**_flow(instance_id, FLOW, dataset["arn"], copy["arn"]))
    execution_id = _queued_execution(server, instance_id, dataset["arn"])
    _wait_until("the flow's executions", lambda: _executions_settled(client, instance_id))
    bom_job_id = _bom_job(server, instance_id)

    revoked = server.create_key()
    _wait_until("the new key working", lambda: _works(server, revoked))
    _cli(server, "keys", "revoke", revoked[0])
    # The API may keep a key for a moment (cache_seconds): wait for the revocation to land.
    _wait_until(
        "the revocation",
        lambda: _refused_with(server.client_for(*revoked), "UnrecognizedClientException"),
    )
    keys = {
        "other-account": server.create_key("--account-id", OTHER_ACCOUNT),
        "revoked": revoked,
        "only-GetInstance": server.create_key("--actions", "scn:GetInstance"),
        "only-ListInstances": server.create_key("--actions", "scn:ListInstances"),
        "other-instance": server.create_key("--instances", other_instance_id),
    }
    return World(
        instance_id,
        other_instance_id,
        namespace_arn,
        dataset["arn"],
        instance_arn,
        event_id,
        copy["arn"],
        execution_id,
        bom_job_id,
        keys,
    )


def _flow(instance_id: str, name: str, source_arn: str, target_arn: str) -> dict[str, Any]:
    """A dataset-to-dataset flow (copies ``source_arn`` into ``target_arn``)."""
    return {
        "instanceId": instance_id,
        "name": name,
        "sources": [
            {
                "sourceType": "DATASET",
                "sourceName": "src",
                "datasetSource": {"datasetIdentifier": source_arn},
            }
        ],
        "transformation": {"transformationType": "NONE"},
        "target": {"targetType": "DATASET", "datasetTarget": {"datasetIdentifier": target_arn}},
    }


def _queued_execution(server: ServerHandle, instance_id: str, source_arn: str) -> str:
    """An execution of the flow, queued through the server's store as the loader queues one."""
    execution_id = str(uuid.uuid4())
    store = open_store(f"sqlite:///{(server.data_dir / 'supplylake.db').resolve()}")
    try:
        store.queue_flow_execution(
            instance_id,
            FLOW,
            execution_id,
            {"source_type": "DATASET", "dataset_source": {"dataset_identifier": source_arn}},
            {"kind": "manual", "key": None},
            dt.datetime.now(dt.UTC),
        )
    finally:
        store.close()
    return execution_id


def _executions_settled(client: Any, instance_id: str) -> bool:
    listed = client.list_data_integration_flow_executions(instanceId=instance_id, flowName=FLOW)
    return all(e["status"] != "IN_PROGRESS" for e in listed["flowExecutions"])


def _bom_job(server: ServerHandle, instance_id: str) -> str:
    """A bill-of-materials import job of a file in the instance's bucket, run to its end."""
    bucket = f"aws-supply-chain-data-{instance_id}"
    path = server.data_dir / "buckets" / bucket / "bom" / "auth.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "id,product_id,component_product_id,component_quantity_per,alternate_group_id,level\n"
        "bom1,bike,wheel,2,,1\n"
    )
    client = server.client()
    job_id: str = client.create_bill_of_materials_import_job(
        instanceId=instance_id, s3uri=f"s3://{bucket}/bom/auth.csv"
    )["jobId"]

    def finished() -> bool:
        job = client.get_bill_of_materials_import_job(instanceId=instance_id, jobId=job_id)["job"]
        return job["status"] in ("SUCCESS", "FAILED")

    _wait_until("the import job", finished)
    return job_id


def _works(server: ServerHandle, key: tuple[str, str]) -> bool:
    try:
        server.client_for(*key).list_instances()
    except ClientError:
        return False
    return True


def _event_settled(client: Any, instance_id: str, event_id: str) -> bool:
    event = client.get_data_integration_event(instanceId=instance_id, eventId=event_id)["event"]
    status = event.get("datasetTargetDetails", {}).get("datasetLoadExecution", {}).get("status")
    return status in ("SUCCEEDED", "FAILED")


def _params(op: str, w: World) -> dict[str, Any]:
    """Valid parameters of ``op`` that name the target instance's real resources."""
    iid, ns, ds = w.instance_id, NAMESPACE, DATASET
    by_operation: dict[str, dict[str, Any]] = {
        "CreateBillOfMaterialsImportJob": {"instanceId": iid, "s3uri": "s3://bucket/bom.csv"},
        "CreateDataIntegrationFlow": _flow(iid, "newflow", w.dataset_arn, w.copy_arn),
        "CreateDataLakeDataset": {
            "instanceId": iid,
            "namespace": ns,
            "name": "newds",
            "schema": {
                "name": "New",
                "fields": [{"name": "id", "type": "STRING", "isRequired": True}],
            },
        },
        "CreateDataLakeNamespace": {"instanceId": iid, "name": "newns"},
        "CreateInstance": {"instanceName": "intruder"},
        "DeleteDataIntegrationFlow": {"instanceId": iid, "name": FLOW},
        "DeleteDataLakeDataset": {"instanceId": iid, "namespace": ns, "name": ds},
        "DeleteDataLakeNamespace": {"instanceId": iid, "name": ns},
        "DeleteInstance": {"instanceId": iid},
        "GetBillOfMaterialsImportJob": {"instanceId": iid, "jobId": w.bom_job_id},
        "GetDataIntegrationEvent": {"instanceId": iid, "eventId": w.event_id},
        "GetDataIntegrationFlow": {"instanceId": iid, "name": FLOW},
        "GetDataIntegrationFlowExecution": {
            "instanceId": iid,
            "flowName": FLOW,
            "executionId": w.execution_id,
        },
        "GetDataLakeDataset": {"instanceId": iid, "namespace": ns, "name": ds},
        "GetDataLakeNamespace": {"instanceId": iid, "name": ns},
        "GetInstance": {"instanceId": iid},
        "ListDataIntegrationEvents": {"instanceId": iid},
        "ListDataIntegrationFlowExecutions": {"instanceId": iid, "flowName": FLOW},
        "ListDataIntegrationFlows": {"instanceId": iid},
        "ListDataLakeDatasets": {"instanceId": iid, "namespace": ns},
        "ListDataLakeNamespaces": {"instanceId": iid},
        "ListInstances": {},
        "ListTagsForResource": {"resourceArn": w.dataset_arn},
        "SendDataIntegrationEvent": {
            "instanceId": iid,
            "eventType": "scn.data.dataset",
            "data": '{"id": "2"}',
            "eventGroupId": "g",
            "datasetTarget": {"datasetIdentifier": w.dataset_arn, "operationType": "APPEND"},
        },
        "TagResource": {"resourceArn": w.namespace_arn, "tags": {"team": "intruder"}},
        "UntagResource": {"resourceArn": w.instance_arn, "tagKeys": ["team"]},
        "UpdateDataIntegrationFlow": {
            "instanceId": iid,
            "name": FLOW,
            "transformation": {"transformationType": "NONE"},
        },
        "UpdateDataLakeDataset": {
            "instanceId": iid,
            "namespace": ns,
            "name": ds,
            "description": "intruder",
        },
        "UpdateDataLakeNamespace": {"instanceId": iid, "name": ns, "description": "intruder"},
        "UpdateInstance": {"instanceId": iid, "instanceDescription": "intruder"},
    }
    return by_operation[op]


@dataclass(frozen=True)
class _Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes


def _request(op: str, w: World) -> _Request:
    method, path, query, headers, body = botocore_request(
        _MODEL.operation_model(op), _params(op, w)
    )
    target = path
    if query:
        target += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query)
    return _Request(method, target, list(headers.items()), body)


def _snapshot(server: ServerHandle, w: World) -> dict[str, Any]:
    """What the root key sees: instances, namespaces, datasets, tags, events, flows, the job."""
    c = server.client()
    out: dict[str, Any] = {"instances": c.list_instances(maxResults=20)["instances"]}
    for iid in (w.instance_id, w.other_instance_id):
        out[iid] = {
            "instance": c.get_instance(instanceId=iid)["instance"],
            "namespaces": c.list_data_lake_namespaces(instanceId=iid)["namespaces"],
            "events": c.list_data_integration_events(instanceId=iid)["events"],
        }
    out["datasets"] = c.list_data_lake_datasets(instanceId=w.instance_id, namespace=NAMESPACE)[
        "datasets"
    ]
    out["flows"] = c.list_data_integration_flows(instanceId=w.instance_id)["flows"]
    out["executions"] = c.list_data_integration_flow_executions(
        instanceId=w.instance_id, flowName=FLOW
    )["flowExecutions"]
    out["bom_job"] = c.get_bill_of_materials_import_job(
        instanceId=w.instance_id, jobId=w.bom_job_id
    )["job"]
    out["tags"] = {
        arn: c.list_tags_for_resource(resourceArn=arn)["tags"]
        for arn in (w.instance_arn, w.namespace_arn, w.dataset_arn)
    }
    return out


@pytest.fixture(scope="module")
def before(server: ServerHandle, world: World) -> dict[str, Any]:
    first = _snapshot(server, world)
    _wait_until("a stable state", lambda: _snapshot(server, world) == first, timeout=5)
    return first


_SKEW = dt.timedelta(minutes=16)


def _cells(server: ServerHandle, w: World, op: str) -> dict[str, tuple[Answer, set[str]]]:
    """Each bad-credential variant of ``op``: (answer, the codes that are right for it)."""
    r = _request(op, w)
    now = dt.datetime.now(dt.UTC)
    root = (server.access_key_id, server.secret_access_key)

    def signed(key: tuple[str, str] = root, when: dt.datetime | None = None) -> Answer:
        headers = sign(server, r.method, r.target, r.headers, r.body, key=key, when=when)
        return send(server, r.method, r.target, headers, r.body)

    captured = sign(server, r.method, r.target, r.headers, r.body)
    # Same length (Content-Length is signed): only the signed payload hash can tell.
    other_body = _tampered(r.body) if r.body else b"{}"
    bad_signature = {"InvalidSignatureException"}
    denied = {"AccessDeniedException"}
    cells: dict[str, tuple[Answer, set[str]]] = {
        "unsigned": (
            send(server, r.method, r.target, r.headers, r.body),
            {"MissingAuthenticationTokenException"},
        ),
        "unknown-key": (
            signed(("SLAKNOSUCHKEY0000000", "x" * 40)),
            {"UnrecognizedClientException"},
        ),
        "wrong-secret": (signed((root[0], root[1][::-1])), bad_signature),
        "expired": (signed(when=now - _SKEW), bad_signature),
        "replayed-an-hour-later": (signed(when=now - dt.timedelta(hours=1)), bad_signature),
        "signed-in-the-future": (signed(when=now + _SKEW), bad_signature),
        "replayed-with-other-body": (
            send(server, r.method, r.target, _with_length(captured, other_body), other_body),
            bad_signature,
        ),
        "revoked": (signed(w.keys["revoked"]), {"UnrecognizedClientException"}),
        "other-actions": (
            signed(w.keys["only-ListInstances" if op == "GetInstance" else "only-GetInstance"]),
            denied,
        ),
    }
    if op not in _NO_INSTANCE:
        # Limited to instances, a key may still create and list instances (as documented).
        cells["other-instance"] = (signed(w.keys["other-instance"]), denied)
        # Another account's instance does not exist for it (or is not its to act on).
        cells["other-account"] = (
            signed(w.keys["other-account"]),
            {"ResourceNotFoundException", "AccessDeniedException"},
        )
    return cells


def _with_length(headers: list[tuple[str, str]], body: bytes) -> list[tuple[str, str]]:
    """The headers with the Content-Length of ``body`` (else the server reads the old length)."""
    kept = [(k, v) for k, v in headers if k.lower() != "content-length"]
    return [*kept, ("Content-Length", str(len(body)))]


def _tampered(body: bytes) -> bytes:
    middle = len(body) // 2
    return (
        body[:middle] + (b"x" if body[middle : middle + 1] != b"x" else b"y") + body[middle + 1 :]
    )


@pytest.mark.parametrize("op", OPERATIONS)
def test_every_bad_credential_is_refused_and_changes_nothing(
    server: ServerHandle, world: World, before: dict[str, Any], op: str
) -> None:
    wrong: list[str] = []
    for cell, (answer, codes) in _cells(server, world, op).items():
        code = assert_refused(answer)
        if code in codes:
            continue
        wrong.append(f"{cell}: {answer.status} {code} (wanted {sorted(codes)})")
    assert not wrong, wrong
    assert _snapshot(server, world) == before


@pytest.mark.parametrize("op", sorted(_NO_INSTANCE))
def test_keys_limited_elsewhere_see_nothing_of_the_instance(
    server: ServerHandle, world: World, before: dict[str, Any], op: str
) -> None:
    for name in ("other-instance", "other-account"):
        client = server.client_for(*world.keys[name])
        if op == "ListInstances":
            ids = {i["instanceId"] for i in client.list_instances()["instances"]}
            assert world.instance_id not in ids, name
        elif name == "other-account":
            # Its own account's instance: allowed, and invisible to the root key's account.
            created = client.create_instance(instanceName="elsewhere")["instance"]
            assert created["awsAccountId"] == OTHER_ACCOUNT
    # The other account's instance lives in that account: the root key's view is unchanged.
    assert _snapshot(server, world) == before


@pytest.mark.parametrize("op", [op for op in OPERATIONS if op.startswith(("Get", "List"))])
def test_the_same_requests_signed_by_the_root_key_are_served(
    server: ServerHandle, world: World, op: str
) -> None:
    # The matrix above means something only if its requests are right but for the credential.
    r = _request(op, world)
    headers = sign(server, r.method, r.target, r.headers, r.body)
    answer = send(server, r.method, r.target, headers, r.body)
    assert answer.status == 200, (answer.status, answer.body[:300])


def test_no_request_of_this_module_was_an_internal_error(server: ServerHandle) -> None:
    assert "500 InternalServerException" not in answered(server)
