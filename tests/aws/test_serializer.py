"""Responses and errors, read back with botocore's own response parser."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from supplylake.aws import errors
from supplylake.aws.errors import ServiceError
from supplylake.aws.serializer import serialize_error, serialize_response
from supplylake.aws.spec import service_model

from .shapegen import botocore_parse
from .synthetic import synthetic_model

INSTANCE = "8f9d6cf4-1b7e-4d7b-9a64-0c2d6b9e3f10"
GET_EVENT = service_model().operation_model("GetDataIntegrationEvent")

ERROR_CLASSES = sorted(
    (c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, ServiceError)),
    key=lambda c: c.code,
)


def test_body_is_camel_case_with_epoch_timestamps_and_no_nulls() -> None:
    output = {
        "event": {
            "instance_id": INSTANCE,
            "event_id": INSTANCE,
            "event_type": "scn.data.inboundorder",
            "event_group_id": "g",
            "event_timestamp": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
            "dataset_target_details": None,
            "not_in_the_model": "dropped",
        }
    }
    status, headers, body = serialize_response(GET_EVENT, output, "rid-1")

    assert status == 200
    assert ("x-amzn-RequestId", "rid-1") in headers
    assert ("Content-Type", "application/json") in headers
    assert orjson.loads(body) == {
        "event": {
            "instanceId": INSTANCE,
            "eventId": INSTANCE,
            "eventType": "scn.data.inboundorder",
            "eventGroupId": "g",
            "eventTimestamp": 1704164645,
        }
    }


@pytest.mark.parametrize(
    ("when", "epoch"),
    [
        (datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC), 1704164645.123456),
        (datetime(2024, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))), 1704164645),
        (datetime(2024, 1, 2, 3, 4, 5), 1704164645),  # naive means UTC
        (1704164645.5, 1704164645.5),  # already epoch seconds
    ],
)
def test_timestamps_are_epoch_seconds(when: object, epoch: float) -> None:
    output = {"event": {"event_timestamp": when}}
    _, _, body = serialize_response(GET_EVENT, output)
    assert orjson.loads(body)["event"]["eventTimestamp"] == epoch


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.code)
def test_every_error_class_is_read_by_botocore(cls: type[ServiceError]) -> None:
    status, headers, body = serialize_error(cls("something went wrong: 'x'"), "rid-9")

    parsed = botocore_parse(status, headers, body, GET_EVENT.output_shape)

    assert parsed["Error"] == {"Code": cls.code, "Message": "something went wrong: 'x'"}
    assert parsed["ResponseMetadata"]["RequestId"] == "rid-9"
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == status


@pytest.mark.parametrize("shape", service_model().error_shapes, ids=lambda s: s.name)
def test_every_modelled_error_has_a_class_with_the_models_status(shape: object) -> None:
    by_code = {c.code: c for c in ERROR_CLASSES}
    cls = by_code[shape.name]  # type: ignore[attr-defined]
    status, headers, _ = serialize_error(cls("m"), "rid")
    assert status == shape.metadata["error"]["httpStatusCode"]  # type: ignore[attr-defined]
    assert ("X-Amzn-ErrorType", shape.name) in headers  # type: ignore[attr-defined]


def test_unmodelled_errors_use_the_aws_convention() -> None:
    assert serialize_error(errors.InvalidSignatureException("bad"), "r")[0] == 403
    assert serialize_error(errors.UnknownOperationException("no"), "r")[0] == 404


# ---- traits this model does not use -----------------------------------------------------------

SYNTHETIC = synthetic_model()


def test_header_status_iso_and_blob_members_round_trip_through_botocore() -> None:
    operation = SYNTHETIC.operation_model("SyntheticGetObject")
    output = {
        "status": 206,
        "etag": '"abc"',
        "last_modified": datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        "meta": {"owner": "me"},
        "content": b"\x00\xffbytes",
        "created_at": datetime(2024, 5, 6, 7, 8, 9, 250000, tzinfo=UTC),
        "checked_at": datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
        "score": 1.5,
    }
    status, headers, body = serialize_response(operation, output, "rid")
    parsed = botocore_parse(status, headers, body, operation.output_shape)

    assert status == 206
    assert orjson.loads(body)["checkedAt"] == "2024-05-06T07:08:09.123456Z"
    parsed.pop("ResponseMetadata")
    assert parsed == {
        "status": 206,
        "etag": '"abc"',
        "lastModified": output["last_modified"],
        "meta": {"owner": "me"},
        "content": b"\x00\xffbytes",
        "createdAt": output["created_at"],
        "checkedAt": output["checked_at"],
        "score": 1.5,
    }


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_doubles_are_sent_the_way_botocore_reads_them(value: float) -> None:
    operation = SYNTHETIC.operation_model("SyntheticGetObject")
    status, headers, body = serialize_response(operation, {"score": value})
    score = botocore_parse(status, headers, body, operation.output_shape)["score"]
    assert (math.isnan(score) and math.isnan(value)) or score == value


def test_blob_payload_is_the_raw_body_and_response_code_comes_from_the_model() -> None:
    operation = SYNTHETIC.operation_model("SyntheticPutPayload")
    status, _, body = serialize_response(operation, {"data": b"raw\x00bytes"})
    assert (status, body) == (201, b"raw\x00bytes")
