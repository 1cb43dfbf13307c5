"""Schemathesis over every operation of ``/openapi.json``, against a real server.

Three requests in four (drawn) are SigV4-signed with the root key, so that generated values reach
routing, parsing, validation and the handlers; the rest go out unsigned. About half name a live
instance (and its custom namespace), so that handlers get past "not found". The property: every
answer is 2xx or a 4xx AWS error (every operation of the model has a handler, so not even a 501).
Any 5xx is a defect.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from supplylake.aws.spec import service_model
from supplylake.testing import ServerHandle, running_server
from tests.hardening.wire import PROTOCOL_REFUSAL, SERVICE, answered, healthy
from tests.integration.helpers import active_instance

#: Per operation and generation mode (valid, invalid data); 30 operations. Keeps the run ~1 min.
MAX_EXAMPLES = 20
OPERATIONS = sorted(service_model().operation_names)
NAMESPACE = "fuzzns"

_SIGNATURE_ERRORS = ("InvalidSignatureException", "IncompleteSignatureException")
_seen: Counter[str] = Counter()


class _SigV4(requests.auth.AuthBase):
    """Sign a prepared ``requests`` request the way botocore signs its own."""

    def __init__(self, access_key: str, secret: str, region: str) -> None:
        self.signer = SigV4Auth(Credentials(access_key, secret), SERVICE, region)

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body.encode("utf-8") if isinstance(r.body, str) else (r.body or b"")
        r.body = body
        signed = AWSRequest(method=r.method, url=r.url, data=body, headers=dict(r.headers))
        self.signer.add_auth(signed)
        for name, value in signed.headers.items():
            r.headers[name] = value
        return r


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with running_server() as s:
        yield s


@pytest.fixture(scope="module")
def live(server: ServerHandle) -> dict[str, str]:
    """A live instance and a custom namespace in it, for requests to name."""
    client = server.client()
    instance_id = active_instance(client, "fuzz")
    client.create_data_lake_namespace(instanceId=instance_id, name=NAMESPACE)
    arn = client.get_data_lake_namespace(instanceId=instance_id, name=NAMESPACE)["namespace"]["arn"]
    return {"instanceId": instance_id, "namespace": NAMESPACE, "arn": arn}


@pytest.fixture(scope="module")
def api_schema(server: ServerHandle) -> Any:
    config = SchemathesisConfig.from_dict({"seed": 7})
    return schemathesis.openapi.from_url(server.endpoint + "/openapi.json", config=config)


# schemathesis.pytest.from_fixture does not run under pytest 9 (it reads Function._nodeid, which
# pytest 9 removed), so each operation's strategies are driven by Hypothesis directly.
@pytest.mark.parametrize("operation_id", OPERATIONS)
@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda m: m.value)
def test_every_answer_is_aws_shaped(
    operation_id: str,
    mode: GenerationMode,
    api_schema: Any,
    server: ServerHandle,
    live: dict[str, str],
) -> None:
    operation = api_schema.find_operation_by_id(operation_id)
    signer = _SigV4(server.access_key_id, server.secret_access_key, server.region)

    fixed = {}
    if mode is GenerationMode.POSITIVE and "{resourceArn}" in operation.path:
        # Valid ARNs hold "/", which schemathesis never generates in a path parameter.
        fixed["resourceArn"] = live["arn"]

    @given(
        operation.as_strategy(generation_mode=mode, path_parameters=fixed),
        st.sampled_from([True, True, True, False]),  # signed
        st.booleans(),  # names the live instance and namespace
    )
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
        # No shrinking: a failure is reported as found, and the run stays bounded.
        phases=[Phase.explicit, Phase.generate],
    )
    def check(case: Any, signed: bool, use_live: bool) -> None:
        if use_live:
            for name in ("instanceId", "namespace"):
                if name in (case.path_parameters or {}):
                    case.path_parameters[name] = live[name]
        response = case.call(base_url=server.endpoint, auth=signer if signed else None, timeout=30)
        code = _check_answer(case, response, server)
        if signed:
            # Whatever was generated, a request signed the botocore way must verify.
            assert code not in _SIGNATURE_ERRORS, case.as_curl_command()

    check()


def _check_answer(case: Any, response: Any, server: ServerHandle) -> str:
    """Check the property; the answer's AWS error code ("" for none)."""
    status = response.status_code
    # schemathesis keeps every value of a header, in a list.
    headers: dict[str, str] = {k.lower(): v[-1] for k, v in response.headers.items()}
    code = headers.get("x-amzn-errortype", "")
    _seen[f"{status} {code}".strip()] += 1
    if 200 <= status < 300:
        return code
    if status == 400 and response.content == PROTOCOL_REFUSAL:
        return code  # uvicorn refused the request line (too long) before the application saw it
    assert headers.get("content-type", "").startswith("application/json"), (
        status,
        response.text[:300],
    )
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("message"), str), body
    assert code, (status, body)
    assert 400 <= status < 500, (
        f"{case.operation.label} answered {status} {code}: {body}\n"
        f"{case.as_curl_command()}\n{server.log_tail(20)}"
    )
    return code


def test_a_query_holding_plus_signed_verbatim_verifies(server: ServerHandle) -> None:
    # Regression (found by this fuzzing): requests form-encodes a space as '+', and botocore's
    # SigV4Auth signs such a URL's query verbatim; the server only tried %2B and %20 for it.
    signer = _SigV4(server.access_key_id, server.secret_access_key, server.region)
    response = requests.get(
        server.endpoint + "/api/instance",
        params={"instanceNameFilter": "a b"},
        auth=signer,
        timeout=10,
    )
    assert "+" in (response.request.url or "")
    assert response.status_code == 200, response.text


def test_server_answers_health_after_fuzzing(server: ServerHandle) -> None:
    assert healthy(server), server.log_tail()
    total = sum(_seen.values())
    print(f"\nschemathesis: {total} requests; by answer: {dict(_seen.most_common())}")
    assert total > 0
    assert "500 InternalServerException" not in answered(server)
