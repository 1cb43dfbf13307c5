"""SigV4 over a real socket: boto3 against uvicorn, verified from the ASGI scope."""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import uvicorn
from botocore.config import Config
from botocore.exceptions import ClientError

from supplylake.auth.sigv4 import SignedRequest, parse_authorization, verify
from supplylake.aws.errors import ServiceError

KEY_ID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
INSTANCE = "1c9a0f5e-8d3b-4c2a-9e6f-0a1b2c3d4e5f"
ARN = f"arn:aws:scn:us-east-1:000000000000:instance/{INSTANCE}"

Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


async def _app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Answer {} when the request verifies, the AWS-shaped error otherwise."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    req = SignedRequest.from_scope(scope, body)
    status, headers, payload = 200, [], b"{}"
    try:
        auth = parse_authorization(req)
        verify(req, auth, SECRET, datetime.now(UTC))
    except ServiceError as error:
        status = error.status
        headers = [(b"x-amzn-errortype", error.code.encode())]
        payload = json.dumps({"message": error.message}).encode()
    headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


@pytest.fixture(scope="module", params=["h11", "httptools"])
def endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        _app, http=request.param, ws="none", lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(5)
    sock.close()


def client(endpoint: str, secret: str = SECRET) -> Any:
    return boto3.session.Session(
        aws_access_key_id=KEY_ID, aws_secret_access_key=secret, region_name="us-east-1"
    ).client("supplychain", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}))


def test_boto3_requests_verify_through_uvicorn(endpoint: str) -> None:
    scn = client(endpoint)
    scn.list_instances(maxResults=5, nextToken="a+b/ c=", instanceNameFilter=["é ü"])
    scn.list_tags_for_resource(resourceArn=ARN)
    scn.tag_resource(resourceArn=ARN, tags={"owner": "Zoë", "city": "東京"})
    scn.untag_resource(resourceArn=ARN, tagKeys=["owner", "a b"])
    scn.update_instance(instanceId=INSTANCE, instanceName="n")
    scn.delete_instance(instanceId=INSTANCE)
    scn.send_data_integration_event(
        instanceId=INSTANCE, eventType="scn.data.forecast", data='{"q":"ü"}', eventGroupId="g"
    )


def test_a_wrong_secret_reaches_boto3_as_invalid_signature(endpoint: str) -> None:
    with pytest.raises(ClientError) as caught:
        client(endpoint, secret="wrong").list_tags_for_resource(resourceArn=ARN)
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_presigned_url_verifies_from_another_http_client(endpoint: str) -> None:
    url = client(endpoint).generate_presigned_url(
        "list_tags_for_resource", Params={"resourceArn": ARN}, ExpiresIn=60
    )
    with urllib.request.urlopen(url) as response:
        assert response.status == 200
