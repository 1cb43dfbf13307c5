"""SendDataIntegrationEvent, GetDataIntegrationEvent and ListDataIntegrationEvents with boto3."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from supplylake.schema.asc import asc_datasets, asc_event_types
from supplylake.testing import ServerHandle, running_server
from tests.integration.helpers import active_instance, error_code, error_message, pages, status

CUSTOM = {
    "name": "Readings",
    "fields": [
        {"name": "id", "type": "STRING", "isRequired": True},
        {"name": "n", "type": "INT", "isRequired": False},
        {"name": "big", "type": "LONG", "isRequired": False},
        {"name": "x", "type": "DOUBLE", "isRequired": False},
        {"name": "at", "type": "TIMESTAMP", "isRequired": False},
    ],
    "primaryKeys": [{"name": "id"}],
}
NOKEYS = {"name": "Log", "fields": [{"name": "line", "type": "STRING", "isRequired": True}]}


@pytest.fixture(scope="module")
def env(supplylake_server: ServerHandle) -> dict[str, Any]:
    c = supplylake_server.client()
    iid = active_instance(c, "events")
    arn = f"arn:aws:scn:us-east-1:000000000000:instance/{iid}/namespaces/default/datasets"
    c.create_data_lake_dataset(instanceId=iid, namespace="default", name="readings", schema=CUSTOM)
    c.create_data_lake_dataset(instanceId=iid, namespace="default", name="log", schema=NOKEYS)
    return {"client": c, "iid": iid, "readings": f"{arn}/readings", "log": f"{arn}/log"}


def _minimal_record(dataset: str) -> dict[str, Any]:
    schema = asc_datasets()[dataset]
    rec: dict[str, Any] = {}
    for f in schema.fields:
        if f.name == "connection_id":
            continue
        if f.required or f.name in schema.primary_keys:
            rec[f.name] = {
                "STRING": "v1",
                "INT": 1,
                "LONG": 1,
                "DOUBLE": 1.5,
                "TIMESTAMP": "2026-01-02T03:04:05Z",
            }[f.type.value]
    return rec


@pytest.mark.parametrize("event_type", sorted(asc_event_types()))
def test_every_asc_event_type_is_accepted(env: dict[str, Any], event_type: str) -> None:
    c, iid = env["client"], env["iid"]
    dataset = asc_event_types()[event_type]
    rec = _minimal_record(dataset)
    eid = c.send_data_integration_event(
        instanceId=iid, eventType=event_type, data=json.dumps(rec), eventGroupId="g1"
    )["eventId"]
    ev = c.get_data_integration_event(instanceId=iid, eventId=eid)["event"]
    assert ev["eventType"] == event_type and ev["eventGroupId"] == "g1"
    details = ev["datasetTargetDetails"]
    assert details["datasetIdentifier"].endswith(f"/namespaces/asc/datasets/{dataset}")
    assert details["operationType"] == "UPSERT"
    assert details["datasetLoadExecution"]["status"] in ("IN_PROGRESS", "SUCCEEDED")


@pytest.mark.parametrize("op", ["APPEND", "UPSERT", "DELETE"])
def test_dataset_event_with_target(env: dict[str, Any], op: str) -> None:
    c = env["client"]
    data = json.dumps([{"id": "a", "n": 1, "at": "2026-01-01T00:00:00+02:00"}, {"id": "b", "x": 2}])
    eid = c.send_data_integration_event(
        instanceId=env["iid"],
        eventType="scn.data.dataset",
        data=data,
        eventGroupId="g",
        datasetTarget={"datasetIdentifier": env["readings"], "operationType": op},
    )["eventId"]
    ev = c.get_data_integration_event(instanceId=env["iid"], eventId=eid)["event"]
    assert ev["datasetTargetDetails"]["operationType"] == op
    assert ev["datasetTargetDetails"]["datasetIdentifier"] == env["readings"]


def test_event_ids_are_time_ordered_uuids(env: dict[str, Any]) -> None:
    """Version 7 UUIDs: valid RFC 9562 ids whose order is the order they were made in."""
    c, iid = env["client"], env["iid"]
    record = json.dumps(_minimal_record("inbound_order"))
    ids = []
    for n in range(5):
        ids.append(
            c.send_data_integration_event(
                instanceId=iid,
                eventType="scn.data.inboundorder",
                eventGroupId=f"ids-{n}",
                data=record,
            )["eventId"]
        )
        time.sleep(0.002)  # a new millisecond for each: ids of one millisecond are unordered
    parsed = [uuid.UUID(eid) for eid in ids]
    assert [str(u) for u in parsed] == ids  # canonical lower-case text
    assert {(u.version, u.variant) for u in parsed} == {(7, uuid.RFC_4122)}
    assert sorted(ids) == ids
    # The first 48 bits are the Unix time in milliseconds.
    made = [int(eid.replace("-", "")[:12], 16) / 1000 for eid in ids]
    assert all(abs(t - time.time()) < 60 for t in made)


def test_event_timestamp_given_and_defaulted(env: dict[str, Any]) -> None:
    c, iid = env["client"], env["iid"]
    when = dt.datetime(2025, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    kw = {
        "instanceId": iid,
        "eventType": "scn.data.inboundorder",
        "eventGroupId": "t",
        "data": json.dumps(_minimal_record("inbound_order")),
    }
    eid = c.send_data_integration_event(eventTimestamp=when, **kw)["eventId"]
    assert (
        c.get_data_integration_event(instanceId=iid, eventId=eid)["event"]["eventTimestamp"] == when
    )
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    eid = c.send_data_integration_event(**kw)["eventId"]
    got = c.get_data_integration_event(instanceId=iid, eventId=eid)["event"]["eventTimestamp"]
    assert before <= got <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)


def _send_error(env: dict[str, Any], **kw: Any) -> Any:
    args = {
        "instanceId": env["iid"],
        "eventType": "scn.data.dataset",
        "eventGroupId": "g",
        "datasetTarget": {"datasetIdentifier": env["readings"], "operationType": "UPSERT"},
        "data": json.dumps({"id": "a"}),
    }
    args.update(kw)
    args = {k: v for k, v in args.items() if v is not None}
    with pytest.raises(ClientError) as exc:
        env["client"].send_data_integration_event(**args)
    return exc


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("not json", "JSON"),
        ("42", "object"),
        ('"text"', "object"),
        ("[1, 2]", "record 0"),
        ("[]", "record"),
        ('{"id": "a", "n": "one"}', "'n'"),
        ('{"id": "a", "n": 1.5}', "'n'"),
        ('{"id": "a", "n": 3000000000}', "'n'"),
        ('{"id": "a", "at": "yesterday"}', "'at'"),
        ('{"id": "a", "ghost": 1}', "'ghost'"),
        ('{"n": 1}', "'id'"),
        ('[{"id": "a"}, {"id": "b"}, {"id": 5}]', "record 2"),
        ('{"id": "a", "x": true}', "'x'"),
    ],
)
def test_bad_records_are_rejected_with_the_reason(
    env: dict[str, Any], data: str, words: str
) -> None:
    exc = _send_error(env, data=data)
    assert error_code(exc) == "ValidationException" and status(exc) == 400
    assert words in error_message(exc)


def test_bad_record_rejects_whole_event(env: dict[str, Any]) -> None:
    c, iid = env["client"], env["iid"]
    before = c.list_data_integration_events(instanceId=iid, maxResults=1)["events"][0]["eventId"]
    _send_error(env, data=json.dumps([{"id": "ok"}, {"id": "bad", "n": "x"}]))
    assert (
        c.list_data_integration_events(instanceId=iid, maxResults=1)["events"][0]["eventId"]
        == before
    )


def test_connection_id_is_reserved_on_asc(env: dict[str, Any]) -> None:
    rec = {**_minimal_record("inbound_order"), "connection_id": "mine"}
    exc = _send_error(
        env, eventType="scn.data.inboundorder", datasetTarget=None, data=json.dumps(rec)
    )
    assert error_code(exc) == "ValidationException" and "connection_id" in error_message(exc)


def test_asc_record_missing_key(env: dict[str, Any]) -> None:
    exc = _send_error(
        env, eventType="scn.data.inboundorder", datasetTarget=None, data='{"id": "x"}'
    )
    assert error_code(exc) == "ValidationException" and "tpartner_id" in error_message(exc)


def test_dataset_event_needs_target(env: dict[str, Any]) -> None:
    exc = _send_error(env, datasetTarget=None)
    assert error_code(exc) == "ValidationException" and "datasetTarget" in error_message(exc)


def test_target_not_allowed_on_asc_types(env: dict[str, Any]) -> None:
    exc = _send_error(env, eventType="scn.data.forecast")
    assert error_code(exc) == "ValidationException" and "datasetTarget" in error_message(exc)


def test_target_must_exist(env: dict[str, Any]) -> None:
    ghost = env["readings"].replace("readings", "ghost")
    exc = _send_error(env, datasetTarget={"datasetIdentifier": ghost, "operationType": "APPEND"})
    assert error_code(exc) == "ResourceNotFoundException" and status(exc) == 404


def test_target_of_another_instance(env: dict[str, Any]) -> None:
    other = env["readings"].replace(env["iid"], "00000000-0000-0000-0000-000000000000")
    exc = _send_error(env, datasetTarget={"datasetIdentifier": other, "operationType": "APPEND"})
    assert error_code(exc) == "ResourceNotFoundException"


@pytest.mark.parametrize("op", ["UPSERT", "DELETE"])
def test_upsert_and_delete_need_primary_keys(env: dict[str, Any], op: str) -> None:
    exc = _send_error(
        env,
        data='{"line": "x"}',
        datasetTarget={"datasetIdentifier": env["log"], "operationType": op},
    )
    assert error_code(exc) == "ValidationException" and "primary key" in error_message(exc)


def test_append_to_dataset_without_keys(env: dict[str, Any]) -> None:
    eid = env["client"].send_data_integration_event(
        instanceId=env["iid"],
        eventType="scn.data.dataset",
        data='{"line": "x"}',
        eventGroupId="g",
        datasetTarget={"datasetIdentifier": env["log"], "operationType": "APPEND"},
    )["eventId"]
    assert len(eid) == 36


def test_missing_instance(env: dict[str, Any]) -> None:
    exc = _send_error(env, instanceId="00000000-0000-0000-0000-000000000000")
    assert error_code(exc) == "ResourceNotFoundException"


def test_instance_not_active(env: dict[str, Any]) -> None:
    c = env["client"]
    iid = active_instance(c, "gone")
    c.delete_instance(instanceId=iid)
    exc = _send_error(env, instanceId=iid, eventType="scn.data.forecast", datasetTarget=None)
    assert error_code(exc) in ("ConflictException", "ResourceNotFoundException")


def test_data_too_long(env: dict[str, Any]) -> None:
    exc = _send_error(env, data="x" * 1_048_577)
    assert error_code(exc) == "ValidationException" and "data" in error_message(exc)
    assert "xxxx" not in error_message(exc)  # the data is sensitive and never echoed


def test_event_group_id_too_long(env: dict[str, Any]) -> None:
    exc = _send_error(env, eventGroupId="g" * 256)
    assert error_code(exc) == "ValidationException" and "eventGroupId" in error_message(exc)


def test_idempotent_retry_and_conflict(env: dict[str, Any]) -> None:
    c, iid = env["client"], env["iid"]
    kw = {
        "instanceId": iid,
        "eventType": "scn.data.dataset",
        "eventGroupId": "idem",
        "datasetTarget": {"datasetIdentifier": env["readings"], "operationType": "APPEND"},
        "data": '{"id": "i"}',
        "clientToken": "T" * 36,
    }
    first = c.send_data_integration_event(**kw)["eventId"]
    assert c.send_data_integration_event(**kw)["eventId"] == first
    listed = c.list_data_integration_events(
        instanceId=iid, eventType="scn.data.dataset", maxResults=20
    )
    assert sum(e["eventGroupId"] == "idem" for e in listed["events"]) == 1
    with pytest.raises(c.exceptions.ConflictException):
        c.send_data_integration_event(**{**kw, "data": '{"id": "other"}'})


def test_list_pages_newest_first_and_filters(env: dict[str, Any]) -> None:
    c, iid = env["client"], env["iid"]
    sent = [
        c.send_data_integration_event(
            instanceId=iid,
            eventType="scn.data.supplyplan",
            eventGroupId=f"p{i}",
            data=json.dumps(_minimal_record("supply_plan")),
        )["eventId"]
        for i in range(7)
    ]
    seen: list[str] = []
    kw: dict[str, Any] = {"instanceId": iid, "eventType": "scn.data.supplyplan", "maxResults": 3}
    for page in pages(c.list_data_integration_events, **kw):
        assert len(page["events"]) <= 3
        assert all(e["eventType"] == "scn.data.supplyplan" for e in page["events"])
        seen += [e["eventId"] for e in page["events"]]
    assert seen[: len(sent)] == sent[::-1]


def test_list_rejects_forged_and_foreign_tokens(env: dict[str, Any]) -> None:
    c, iid = env["client"], env["iid"]
    with pytest.raises(ClientError) as exc:
        c.list_data_integration_events(instanceId=iid, nextToken="AAAA")
    assert error_code(exc) == "ValidationException"
    token = c.list_data_integration_events(instanceId=iid, maxResults=1)["nextToken"]
    with pytest.raises(ClientError) as exc:
        c.list_data_integration_events(
            instanceId=iid, nextToken=token, eventType="scn.data.forecast"
        )
    assert error_code(exc) == "ValidationException"


@pytest.mark.parametrize("n", [0, 21])
def test_list_max_results_range(
    supplylake_server: ServerHandle, env: dict[str, Any], n: int
) -> None:
    # botocore checks minimums itself; switch that off to reach the server's own check.
    raw = supplylake_server.client(parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        raw.list_data_integration_events(instanceId=env["iid"], maxResults=n)
    assert error_code(exc) == "ValidationException" and "maxResults" in error_message(exc)


def test_get_unknown_event(env: dict[str, Any]) -> None:
    with pytest.raises(env["client"].exceptions.ResourceNotFoundException):
        env["client"].get_data_integration_event(
            instanceId=env["iid"], eventId="00000000-0000-0000-0000-000000000000"
        )


def test_rate_limit_and_pending_quota() -> None:
    with running_server(
        event_rate=1, event_burst=3, max_pending_events=5, loader="false"
    ) as server:
        c = server.client()
        iid = active_instance(c, "limited")
        kw = {
            "instanceId": iid,
            "eventType": "scn.data.supplyplan",
            "eventGroupId": "g",
            "data": json.dumps(_minimal_record("supply_plan")),
        }
        codes = []
        for _ in range(6):
            try:
                c.send_data_integration_event(**kw)
                codes.append("ok")
            except ClientError as e:
                codes.append(e.response["Error"]["Code"])
        assert codes[:3] == ["ok"] * 3 and "ThrottlingException" in codes[3:]
    with running_server(max_pending_events=2, loader="false") as server:
        c = server.client()
        iid = active_instance(c, "quota")
        kw = {
            "instanceId": iid,
            "eventType": "scn.data.supplyplan",
            "eventGroupId": "g",
            "data": json.dumps(_minimal_record("supply_plan")),
        }
        c.send_data_integration_event(**kw)
        c.send_data_integration_event(**kw)
        with pytest.raises(ClientError) as exc:
            c.send_data_integration_event(**kw)
        assert error_code(exc) == "ServiceQuotaExceededException" and status(exc) == 402


def test_oversized_body_refused_unread(supplylake_server: ServerHandle) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", supplylake_server.port, timeout=10)
    conn.putrequest("POST", "/api-data/data-integration/instance/x/data-integration-events")
    conn.putheader("Content-Length", str(512 * 1024 * 1024))
    conn.putheader("Content-Type", "application/json")
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 413
    assert resp.getheader("X-Amzn-ErrorType") == "RequestEntityTooLargeException"
    conn.close()
