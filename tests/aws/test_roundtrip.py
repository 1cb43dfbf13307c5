"""Every operation survives botocore's own serializer -> our parser, and ours -> botocore's parser."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from supplylake.aws.parser import parse_request
from supplylake.aws.router import Router
from supplylake.aws.serializer import serialize_response
from supplylake.aws.spec import service_model
from supplylake.aws.validation import validate

from .shapegen import botocore_parse, botocore_request, to_camel, to_snake, values

OPERATIONS = sorted(service_model().operation_names)
ROUTER = Router()
# No shrinking: 90 parametrized property tests that all fail together after a protocol bug would
# otherwise shrink for many minutes; the unshrunk example is readable enough here.
FAST = settings(
    max_examples=15,
    phases=[Phase.explicit, Phase.generate],
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_the_model_has_the_thirty_operations() -> None:
    assert len(OPERATIONS) == 30


def _request_round_trip(name: str, params: dict[str, Any]) -> None:
    operation = service_model().operation_model(name)
    method, path, query, headers, body = botocore_request(operation, params)

    matched, labels = ROUTER.match(method, path)
    parsed = parse_request(matched, labels, query, headers, body)
    validate(matched.input_shape, parsed)

    assert matched.name == name
    assert parsed == to_snake(operation.input_shape, params)


def _response_round_trip(name: str, output: dict[str, Any]) -> None:
    operation = service_model().operation_model(name)
    status, headers, body = serialize_response(operation, output, "req-1")

    parsed = botocore_parse(status, headers, body, operation.output_shape)

    metadata = parsed.pop("ResponseMetadata")
    assert metadata["RequestId"] == "req-1"
    assert metadata["HTTPStatusCode"] == operation.http.get("responseCode", 200) == status
    assert parsed == to_camel(operation.output_shape, output)


@pytest.mark.parametrize("name", OPERATIONS)
@FAST
@given(data=st.data())
def test_request_with_every_member_round_trips(name: str, data: st.DataObject) -> None:
    shape = service_model().operation_model(name).input_shape
    _request_round_trip(name, data.draw(values(shape, full=True)))


@pytest.mark.parametrize("name", OPERATIONS)
@FAST
@given(data=st.data())
def test_request_with_some_members_round_trips(name: str, data: st.DataObject) -> None:
    shape = service_model().operation_model(name).input_shape
    _request_round_trip(name, data.draw(values(shape)))


@pytest.mark.parametrize("name", OPERATIONS)
@FAST
@given(data=st.data())
def test_response_round_trips_through_botocore(name: str, data: st.DataObject) -> None:
    shape = service_model().operation_model(name).output_shape
    _response_round_trip(name, data.draw(values(shape, full=data.draw(st.booleans()), snake=True)))


@pytest.mark.parametrize("name", OPERATIONS)
def test_empty_response_is_an_empty_object(name: str) -> None:
    operation = service_model().operation_model(name)
    status, headers, body = serialize_response(operation, {})
    assert (status, body) == (200, b"{}")
    assert ("Content-Type", "application/json") in headers
