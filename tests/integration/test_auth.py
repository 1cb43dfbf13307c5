"""Authentication and access through a real server: every failure is a 403 with no side effect."""

from __future__ import annotations

import copy
import datetime as dt
import os
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from unittest import mock

import botocore.loaders
import orjson
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from supplylake.config import Settings
from supplylake.testing import ServerHandle, running_server
from tests.integration.helpers import active_instance, error_code, run_supplylake, status


def _send(req: AWSRequest) -> tuple[int, dict[str, str], dict[str, Any]]:
    prepared = req.prepare()
    raw = urllib.request.Request(
        prepared.url,
        data=prepared.body or None,
        method=prepared.method,
        headers=dict(prepared.headers.items()),
    )
    try:
        with urllib.request.urlopen(raw, timeout=10) as r:
            return (
                r.status,
                {k.lower(): v for k, v in r.headers.items()},
                orjson.loads(r.read() or b"{}"),
            )
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, orjson.loads(e.read() or b"{}")


def _signed(
    server: ServerHandle,
    path: str,
    key: str,
    secret: str,
    method: str = "GET",
    body: bytes = b"",
    when: dt.datetime | None = None,
) -> AWSRequest:
    req = AWSRequest(
        method=method,
        url=server.endpoint + path,
        data=body,
        headers={"Content-Type": "application/json"},
    )
    signer = SigV4Auth(Credentials(key, secret), "scn", "us-east-1")
    if when is None:
        signer.add_auth(req)
    else:
        with mock.patch(
            "botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)
        ):
            signer.add_auth(req)
    return req


def _keys_create(server: ServerHandle, *args: str) -> tuple[str, str]:
    return server.create_key(*args)


def test_unsigned_request_is_refused(supplylake_server: ServerHandle) -> None:
    code, headers, body = _send(
        AWSRequest(method="GET", url=supplylake_server.endpoint + "/api/instance")
    )
    assert code == 403 and headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert body["message"]


def test_malformed_authorization_header(supplylake_server: ServerHandle) -> None:
    req = AWSRequest(
        method="GET",
        url=supplylake_server.endpoint + "/api/instance",
        headers={
            "Authorization": "AWS4-HMAC-SHA256 Credential=abc",
            "X-Amz-Date": "20260101T000000Z",
        },
    )
    code, headers, _ = _send(req)
    assert code == 403 and headers["x-amzn-errortype"] == "IncompleteSignatureException"


def test_unknown_key(supplylake_server: ServerHandle) -> None:
    c = supplylake_server.client_for("SLAKUNKNOWN000000000", "x" * 40)
    with pytest.raises(ClientError) as exc:
        c.list_instances()
    assert error_code(exc) == "UnrecognizedClientException" and status(exc) == 403


def test_wrong_secret(supplylake_server: ServerHandle) -> None:
    c = supplylake_server.client_for(supplylake_server.access_key_id, "wrong" * 8)
    with pytest.raises(ClientError) as exc:
        c.create_instance(instanceName="never")
    assert error_code(exc) == "InvalidSignatureException" and status(exc) == 403
    names = [
        i.get("instanceName") for i in supplylake_server.client().list_instances()["instances"]
    ]
    assert "never" not in names


def test_tampered_body_is_refused(supplylake_server: ServerHandle) -> None:
    s = supplylake_server
    req = _signed(
        s, "/api/instance", s.access_key_id, s.secret_access_key, "POST", b'{"instanceName":"a"}'
    )
    req.data = b'{"instanceName":"b"}'
    code, headers, _ = _send(req)
    assert code == 403 and headers["x-amzn-errortype"] == "InvalidSignatureException"


@pytest.mark.parametrize("minutes", [-16, 16])
def test_clock_skew_over_15_minutes(supplylake_server: ServerHandle, minutes: int) -> None:
    s = supplylake_server
    when = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    code, headers, body = _send(
        _signed(s, "/api/instance", s.access_key_id, s.secret_access_key, when=when)
    )
    assert code == 403 and headers["x-amzn-errortype"] == "InvalidSignatureException"
    assert "expired" in body["message"].lower() or "signature" in body["message"].lower()


def test_small_skew_is_accepted(supplylake_server: ServerHandle) -> None:
    s = supplylake_server
    when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    code, _, _ = _send(_signed(s, "/api/instance", s.access_key_id, s.secret_access_key, when=when))
    assert code == 200


def test_presigned_url(supplylake_server: ServerHandle) -> None:
    s = supplylake_server
    req = AWSRequest(method="GET", url=s.endpoint + "/api/instance")
    SigV4QueryAuth(
        Credentials(s.access_key_id, s.secret_access_key), "scn", "us-east-1", expires=60
    ).add_auth(req)
    code, _, body = _send(req)
    assert code == 200 and "instances" in body
    bad = AWSRequest(method="GET", url=s.endpoint + "/api/instance")
    SigV4QueryAuth(
        Credentials(s.access_key_id, "nope" * 10), "scn", "us-east-1", expires=60
    ).add_auth(bad)
    assert _send(bad)[0] == 403


def test_revoked_key_is_refused_within_the_cache_time(supplylake_server: ServerHandle) -> None:
    # Revoked by another process (the CLI): the server's copy of the key lives cache_seconds.
    key, secret = _keys_create(supplylake_server)
    c = supplylake_server.client_for(key, secret)
    c.list_instances()
    revoked = run_supplylake(supplylake_server, "keys", "revoke", key)
    assert revoked.returncode == 0, revoked.stderr
    time.sleep(Settings().cache_seconds)
    with pytest.raises(ClientError) as exc:
        c.list_instances()
    assert error_code(exc) == "UnrecognizedClientException"


def test_key_limited_to_actions(supplylake_server: ServerHandle) -> None:
    key, secret = _keys_create(supplylake_server, "--actions", "scn:Get*,scn:List*")
    c = supplylake_server.client_for(key, secret)
    c.list_instances()
    with pytest.raises(ClientError) as exc:
        c.create_instance(instanceName="forbidden")
    assert error_code(exc) == "AccessDeniedException" and status(exc) == 403
    assert "scn:CreateInstance" in str(exc.value)
    names = [
        i.get("instanceName") for i in supplylake_server.client().list_instances()["instances"]
    ]
    assert "forbidden" not in names


def test_key_limited_to_instances(supplylake_server: ServerHandle) -> None:
    root = supplylake_server.client()
    allowed = active_instance(root, "allowed")
    other = active_instance(root, "other")
    key, secret = _keys_create(supplylake_server, "--instances", allowed)
    c = supplylake_server.client_for(key, secret)
    assert c.get_instance(instanceId=allowed)["instance"]["instanceId"] == allowed
    with pytest.raises(ClientError) as exc:
        c.update_instance(instanceId=other, instanceDescription="hacked")
    assert error_code(exc) == "AccessDeniedException" and other in str(exc.value)
    assert root.get_instance(instanceId=other)["instance"].get("instanceDescription") != "hacked"


def test_unknown_route_is_aws_shaped(supplylake_server: ServerHandle) -> None:
    s = supplylake_server
    code, headers, body = _send(
        _signed(s, "/api/nothing/here", s.access_key_id, s.secret_access_key)
    )
    assert code == 404 and headers["x-amzn-errortype"] == "UnknownOperationException"
    assert "message" in body


def _newer_model(folder: Path, operation: str) -> Path:
    """A botocore data folder whose supplychain model has one operation more than the installed
    one (as a newer botocore would): ``operation``, shaped like GetBillOfMaterialsImportJob."""
    model = copy.deepcopy(botocore.loaders.Loader().load_service_model("supplychain", "service-2"))
    like = model["operations"]["GetBillOfMaterialsImportJob"]
    model["operations"][operation] = {
        **like,
        "name": operation,
        "http": {
            "method": "GET",
            "requestUri": "/api/configuration/instances/{instanceId}/newer-things/{jobId}",
            "responseCode": 200,
        },
    }
    version = folder / "supplychain" / model["metadata"]["apiVersion"]
    version.mkdir(parents=True)
    (version / "service-2.json").write_bytes(orjson.dumps(model))
    return folder


def test_an_operation_of_a_newer_model_without_a_handler_is_aws_shaped(
    supplylake_server: ServerHandle, tmp_path: Path
) -> None:
    # supplylake routes every operation of the botocore it runs with (botocore is not capped), so
    # a newer botocore may model an operation that has no handler here: it answers 501, after
    # authentication and access like any other, naming the operation.
    operation = "GetThingOfANewerModel"
    models = _newer_model(tmp_path / "models", operation)
    with (
        mock.patch.dict(os.environ, {"AWS_DATA_PATH": str(models)}),
        running_server(tmp_path / "data", loader=False) as s,
    ):
        path = f"/api/configuration/instances/{uuid.uuid4()}/newer-things/{uuid.uuid4()}"
        code, headers, body = _send(_signed(s, path, s.access_key_id, s.secret_access_key))
        anonymous, _, _ = _send(AWSRequest(method="GET", url=s.endpoint + path))
    assert code == 501 and headers["x-amzn-errortype"] == "NotImplementedException", body
    assert operation in body["message"]
    assert anonymous == 403
    # The same request to a server of the installed model: a route it does not know.
    installed = supplylake_server
    code, headers, _ = _send(
        _signed(installed, path, installed.access_key_id, installed.secret_access_key)
    )
    assert code == 404 and headers["x-amzn-errortype"] == "UnknownOperationException"


def test_health(supplylake_server: ServerHandle) -> None:
    with urllib.request.urlopen(supplylake_server.endpoint + "/health") as r:
        assert r.status == 200


def test_openapi_document_is_served(supplylake_server: ServerHandle) -> None:
    with urllib.request.urlopen(supplylake_server.endpoint + "/openapi.json") as r:
        doc = orjson.loads(r.read())
    assert doc["openapi"].startswith("3.") and len(doc["paths"]) >= 15
