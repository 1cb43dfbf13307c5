"""Request parsing: locations, types, timestamps, and the errors a broken request gets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from starlette.datastructures import Headers, QueryParams

from supplylake.aws.errors import ValidationException
from supplylake.aws.parser import parse_request
from supplylake.aws.spec import service_model

from .shapegen import botocore_request
from .synthetic import synthetic_model

INSTANCE = "8f9d6cf4-1b7e-4d7b-9a64-0c2d6b9e3f10"
SEND = service_model().operation_model("SendDataIntegrationEvent")
FLOW = service_model().operation_model("CreateDataIntegrationFlow")
DATASET = service_model().operation_model("CreateDataLakeDataset")
LIST_INSTANCES = service_model().operation_model("ListInstances")
LIST_EVENTS = service_model().operation_model("ListDataIntegrationEvents")


def _send(body: Any) -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return parse_request(SEND, {"instanceId": INSTANCE}, [], {}, raw)


def _error(call: Any, *args: Any) -> str:
    with pytest.raises(ValidationException) as err:
        call(*args)
    assert err.value.status == 400
    return err.value.message


def test_body_members_become_snake_case_with_nested_structures() -> None:
    params = _send(
        {
            "eventType": "scn.data.dataset",
            "data": '{"id": 1}',
            "eventGroupId": "g1",
            "datasetTarget": {"datasetIdentifier": "arn:x", "operationType": "UPSERT"},
        }
    )
    assert params == {
        "instance_id": INSTANCE,
        "event_type": "scn.data.dataset",
        "data": '{"id": 1}',
        "event_group_id": "g1",
        "dataset_target": {"dataset_identifier": "arn:x", "operation_type": "UPSERT"},
    }


@pytest.mark.parametrize("body", [b"", b"  \n", b"{}"])
def test_empty_body_means_no_body_members(body: bytes) -> None:
    assert _send(body) == {"instance_id": INSTANCE}


def test_unknown_and_null_members_are_ignored() -> None:
    assert _send({"surprise": {"deep": [1]}, "eventGroupId": None}) == {"instance_id": INSTANCE}


def test_map_keys_are_data_and_keep_their_spelling() -> None:
    body = orjson.dumps({"tags": {"costCenter": "A", "Some Key": "b"}})
    params = parse_request(DATASET, {}, [], {}, body)
    assert params["tags"] == {"costCenter": "A", "Some Key": "b"}


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (1700000000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        (1700000000.25, datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=UTC)),
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T05:04:05.5+02:00", datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)),
        ("2024-01-02T03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
    ],
)
def test_body_timestamps_are_epoch_seconds_or_iso8601(wire: Any, expected: datetime) -> None:
    parsed = _send({"eventTimestamp": wire})["event_timestamp"]
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("body", "path", "constraint"),
    [
        ({"eventType": 5}, "eventType", "Member must be a string"),
        ({"eventTimestamp": "yesterday"}, "eventTimestamp", "Member must be a timestamp"),
        ({"eventTimestamp": True}, "eventTimestamp", "Member must be a timestamp"),
        ({"eventTimestamp": 1e300}, "eventTimestamp", "Member must be a timestamp"),
        ({"datasetTarget": "arn"}, "datasetTarget", "Member must be a structure"),
        (
            {"datasetTarget": {"operationType": ["APPEND"]}},
            "datasetTarget.operationType",
            "Member must be a string",
        ),
    ],
)
def test_wrong_json_types_name_the_member_path(body: Any, path: str, constraint: str) -> None:
    message = _error(_send, body)
    assert message.startswith("1 validation error detected: Value")
    assert f"at '{path}' failed to satisfy constraint: {constraint}" in message


def test_wrong_types_deep_in_lists_and_maps_name_the_element() -> None:
    flow = {"sources": [{"sourceType": "S3", "sourceName": "a"}, {"sourceType": 1}]}
    message = _error(parse_request, FLOW, {}, [], {}, orjson.dumps(flow))
    assert "at 'sources.2.member.sourceType'" in message

    message = _error(parse_request, FLOW, {}, [], {}, orjson.dumps({"sources": [None]}))
    assert "Value null at 'sources.1.member' failed" in message

    message = _error(parse_request, FLOW, {}, [], {}, orjson.dumps({"tags": {"team": 7}}))
    assert (
        "Value '7' at 'tags.team' failed to satisfy constraint: Member must be a string" in message
    )

    schema = {"schema": {"name": "s", "fields": [{"name": "a", "type": "INT", "isRequired": "no"}]}}
    message = _error(parse_request, DATASET, {}, [], {}, orjson.dumps(schema))
    assert "at 'schema.fields.1.member.isRequired'" in message
    assert "Member must be a boolean" in message


def test_sensitive_member_value_is_never_echoed() -> None:
    message = _error(_send, {"data": 424242})
    assert "Value at 'data' failed" in message
    assert "424242" not in message


@pytest.mark.parametrize("body", [b"{bad", b'{"eventType": "x",}', b'{"a": 1} trailing', b"nul"])
def test_broken_json_is_a_validation_error(body: bytes) -> None:
    assert "Could not parse request body into json" in _error(_send, body)


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null"])
def test_body_must_be_a_json_object(body: bytes) -> None:
    assert _error(_send, body) == "Request body must be a JSON object"


@pytest.mark.parametrize("body", [b"\xff{}", b'{"data": "\xc3\x28"}', b'{"data": "\xed\xa0\x80"}'])
def test_invalid_utf8_body_is_a_validation_error(body: bytes) -> None:
    assert _error(_send, body) == "Request body is not valid UTF-8"


def test_query_lists_collect_repeated_parameters_in_order() -> None:
    query = [
        ("instanceStateFilter", "Active"),
        ("maxResults", "5"),
        ("instanceStateFilter", "Deleting"),
    ]
    params = parse_request(LIST_INSTANCES, {}, query, {}, b"")
    assert params == {"instance_state_filter": ["Active", "Deleting"], "max_results": 5}


@pytest.mark.parametrize(
    "query",
    [
        QueryParams("instanceNameFilter=a%20b&instanceNameFilter=c&nextToken=t"),
        {"instanceNameFilter": ["a b", "c"], "nextToken": "t"},
    ],
)
def test_query_accepts_starlette_params_and_plain_mappings(query: Any) -> None:
    params = parse_request(LIST_INSTANCES, {}, query, {}, b"")
    assert params == {"instance_name_filter": ["a b", "c"], "next_token": "t"}


@pytest.mark.parametrize("value", ["abc", "1.5", "", " 3", "1_0"])
def test_query_integers_must_be_integers(value: str) -> None:
    message = _error(
        parse_request, LIST_EVENTS, {"instanceId": INSTANCE}, [("maxResults", value)], {}, b""
    )
    assert "at 'maxResults' failed to satisfy constraint: Member must be an integer" in message


def test_operation_without_body_members_ignores_the_body() -> None:
    params = parse_request(LIST_EVENTS, {"instanceId": INSTANCE}, [], {}, b"not json")
    assert params == {"instance_id": INSTANCE}


# ---- traits this model does not use, checked against botocore's own serializer ----------------

SYNTHETIC = synthetic_model()


def test_header_query_map_and_greedy_members_round_trip_from_botocore() -> None:
    operation = SYNTHETIC.operation_model("SyntheticGetObject")
    params = {
        "bucket": "b1",
        "key": "dir/sub dir/file+1.txt",
        "since": datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC),
        "limit": -3,
        "verbose": False,
        "ratio": 0.25,
        "extra": {"x-custom": "1", "other": "a&b=c"},
        "trace": "abc-123",
        "ifModifiedSince": datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        "labels": ["plain", "with,comma", 'with"quote'],
        "meta": {"owner": "me", "Colour": "blue"},
        "context": {"nested": [1, "two"]},
    }
    from supplylake.aws.router import Router

    method, path, query, headers, body = botocore_request(operation, params)
    matched, labels = Router(SYNTHETIC).match(method, path)
    parsed = parse_request(matched, labels, query, Headers(headers=dict(headers)), body)

    meta = parsed.pop("meta")
    assert {k.lower(): v for k, v in meta.items()} == {"owner": "me", "colour": "blue"}
    assert parsed == {
        "bucket": "b1",
        "key": "dir/sub dir/file+1.txt",
        "since": params["since"],
        "limit": -3,
        "verbose": False,
        "ratio": 0.25,
        "extra": {"x-custom": "1", "other": "a&b=c"},
        "trace": "abc-123",
        "if_modified_since": params["ifModifiedSince"],
        "labels": ["plain", "with,comma", 'with"quote'],
        "context": {"nested": [1, "two"]},
    }


def test_query_timestamp_accepts_offsets_and_rejects_garbage() -> None:
    operation = SYNTHETIC.operation_model("SyntheticGetObject")
    labels = {"bucket": "b", "key": "k"}
    since = parse_request(operation, labels, [("since", "2024-01-01T02:00:00+02:00")], {}, b"")
    assert since["since"] == datetime(2024, 1, 1, tzinfo=UTC)
    message = _error(parse_request, operation, labels, [("since", "soon")], {}, b"")
    assert "at 'since' failed to satisfy constraint: Member must be a timestamp" in message


def test_structure_payload_member_is_the_whole_body() -> None:
    operation = SYNTHETIC.operation_model("SyntheticPutPayload")
    params = parse_request(operation, {"id": "7"}, [], {}, b'{"text": "hi"}')
    assert params == {"id": "7", "document": {"text": "hi"}}
    assert parse_request(operation, {"id": "7"}, [], {}, b"") == {"id": "7"}
