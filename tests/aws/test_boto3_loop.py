"""A real boto3 client whose HTTP sends are answered in-process by the protocol layer.

botocore's ``before-send`` event lets a handler return the response, so the client's whole stack
(parameter validation, idempotency tokens, signing, URL encoding, error mapping) is exercised
without a socket.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from supplylake.aws.errors import ResourceNotFoundException, ServiceError
from supplylake.aws.parser import parse_request
from supplylake.aws.router import Router
from supplylake.aws.serializer import serialize_error, serialize_response
from supplylake.aws.validation import validate

INSTANCE = "8f9d6cf4-1b7e-4d7b-9a64-0c2d6b9e3f10"
ARN = f"arn:aws:scn:us-east-1:123456789012:instance/{INSTANCE}/namespaces/asc/datasets/outbound"

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class InProcessService:
    """Routes, parses, validates and answers requests with per-operation handlers."""

    def __init__(self) -> None:
        self.router = Router()
        self.handlers: dict[str, Handler] = {}
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        body = request.body or b""
        rid = str(uuid.uuid4())
        try:
            operation, labels = self.router.match(request.method, url.path)
            params = parse_request(operation, labels, parse_qsl(url.query), request.headers, body)
            validate(operation.input_shape, params)
            self.seen.append((operation.name, params))
            output = self.handlers[operation.name](params)
            status, headers, payload = serialize_response(operation, output, rid)
        except ServiceError as err:
            status, headers, payload = serialize_error(err, rid)
        return AWSResponse(request.url, status, dict(headers), _Body(payload))


@pytest.fixture
def service() -> InProcessService:
    return InProcessService()


@pytest.fixture
def client(service: InProcessService, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    client = boto3.session.Session().client(
        "supplychain",
        region_name="us-east-1",
        endpoint_url="http://supplylake.invalid",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="not-a-secret",
        config=Config(retries={"total_max_attempts": 1}),
    )
    client.meta.events.register("before-send.supplychain", service)
    return client


def test_send_event_gets_an_idempotency_token_and_an_event_id(
    client: Any, service: InProcessService
) -> None:
    service.handlers["SendDataIntegrationEvent"] = lambda _: {"event_id": INSTANCE}
    answer = client.send_data_integration_event(
        instanceId=INSTANCE,
        eventType="scn.data.dataset",
        data='{"order_id": "o1"}',
        eventGroupId="orders",
        eventTimestamp=datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        datasetTarget={"datasetIdentifier": ARN, "operationType": "UPSERT"},
    )

    assert answer["eventId"] == INSTANCE
    name, params = service.seen[0]
    assert name == "SendDataIntegrationEvent"
    assert len(params.pop("client_token")) == 36  # boto3 filled in a UUID
    assert params == {
        "instance_id": INSTANCE,
        "event_type": "scn.data.dataset",
        "data": '{"order_id": "o1"}',
        "event_group_id": "orders",
        "event_timestamp": datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
        "dataset_target": {"dataset_identifier": ARN, "operation_type": "UPSERT"},
    }


def test_server_side_validation_raises_the_modelled_exception(client: Any) -> None:
    with pytest.raises(client.exceptions.ValidationException) as err:
        client.send_data_integration_event(
            instanceId=INSTANCE, eventType="scn.data.forecast", data="{}", eventGroupId="g" * 256
        )
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert (
        "at 'eventGroupId' failed to satisfy constraint: Member must have length less than"
        in (err.value.response["Error"]["Message"])
    )


def test_handler_errors_reach_the_client_as_their_code(
    client: Any, service: InProcessService
) -> None:
    def missing(params: dict[str, Any]) -> dict[str, Any]:
        raise ResourceNotFoundException(f"Instance {params['instance_id']} does not exist")

    service.handlers["GetInstance"] = missing
    with pytest.raises(client.exceptions.ResourceNotFoundException) as err:
        client.get_instance(instanceId=INSTANCE)
    assert err.value.response["Error"]["Message"] == f"Instance {INSTANCE} does not exist"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_arn_in_the_path_and_tag_keys_in_the_query(client: Any, service: InProcessService) -> None:
    service.handlers["UntagResource"] = lambda _: {}
    service.handlers["ListTagsForResource"] = lambda _: {"tags": {"team": "supply chain"}}

    client.untag_resource(resourceArn=ARN, tagKeys=["team", "cost center"])
    tags = client.list_tags_for_resource(resourceArn=ARN)["tags"]

    assert service.seen[0][1] == {"resource_arn": ARN, "tag_keys": ["team", "cost center"]}
    assert service.seen[1][1] == {"resource_arn": ARN}
    assert tags == {"team": "supply chain"}


def test_list_response_with_timestamps_reaches_the_client(
    client: Any, service: InProcessService
) -> None:
    created = datetime(2024, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
    instance = {
        "instance_id": INSTANCE,
        "aws_account_id": "123456789012",
        "state": "Active",
        "created_time": created,
        "version_number": 2.0,
    }
    service.handlers["ListInstances"] = lambda _: {"instances": [instance], "next_token": "n"}

    answer = client.list_instances(instanceStateFilter=["Active"], maxResults=5)

    assert service.seen[0][1] == {"instance_state_filter": ["Active"], "max_results": 5}
    assert answer["nextToken"] == "n"
    assert answer["instances"] == [
        {
            "instanceId": INSTANCE,
            "awsAccountId": "123456789012",
            "state": "Active",
            "createdTime": created,
            "versionNumber": 2.0,
        }
    ]
