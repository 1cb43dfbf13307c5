"""Malformed requests on purpose, over raw sockets, to a live server, signed and unsigned.

Signed requests carry a valid signature over the malformed bytes, so they get past
authentication and reach the body reader, the router, the parser and validation. Every answer
must be a 4xx AWS error (``X-Amzn-ErrorType`` and a JSON ``message``), and the server must keep
answering /health. Where the request is not HTTP at all (a NUL or a tab in the request line, two
Content-Lengths), uvicorn refuses it before the application sees it: that must be a 4xx too.
"""

from __future__ import annotations

import socket
import string
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from botocore.model import OperationModel, Shape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supplylake.aws.spec import service_model
from supplylake.testing import ServerHandle, running_server
from tests.aws.shapegen import botocore_request, values
from tests.hardening.wire import (
    Answer,
    answered,
    assert_refused,
    healthy,
    send,
    send_signed,
    sign,
)
from tests.integration.helpers import active_instance

BODY_TIMEOUT = 1.5
MAX_BODY = 8 * 1024 * 1024
NAMESPACE = "malns"
DATASET = "malds"
JSON = (("Content-Type", "application/json"),)
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_MODEL = service_model()
_BODY_OPERATIONS = sorted(
    name
    for name in _MODEL.operation_names
    if any(
        "location" not in m.serialization
        for m in _MODEL.operation_model(name).input_shape.members.values()
    )
)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with running_server(body_timeout_seconds=BODY_TIMEOUT) as s:
        yield s
        counts = answered(s)
        print(f"\n{__name__}: {sum(counts.values())} requests answered: {dict(counts)}")


@pytest.fixture(scope="module")
def live(server: ServerHandle) -> dict[str, str]:
    """An Active instance with a custom namespace and dataset."""
    client = server.client()
    instance_id = active_instance(client, "malformed")
    client.create_data_lake_namespace(instanceId=instance_id, name=NAMESPACE)
    client.create_data_lake_dataset(
        instanceId=instance_id,
        namespace=NAMESPACE,
        name=DATASET,
        schema={
            "name": "Mal",
            "fields": [
                {"name": "id", "type": "STRING", "isRequired": True},
                {"name": "qty", "type": "INT", "isRequired": False},
            ],
            "primaryKeys": [{"name": "id"}],
        },
    )
    return {"instanceId": instance_id}


@pytest.fixture(autouse=True)
def still_up(server: ServerHandle) -> Iterator[None]:
    """After each batch of cases, the server still answers /health."""
    yield
    assert healthy(server), server.log_tail()


def _both(server: ServerHandle, method: str, target: str, body: bytes, **kw: Any) -> list[Answer]:
    """The same request signed (over exactly these bytes) and unsigned."""
    return [
        send_signed(server, method, target, body, **kw),
        send(server, method, target, JSON, body, **kw),
    ]


def _events_target(instance_id: str) -> str:
    return f"/api-data/data-integration/instance/{instance_id}/data-integration-events"


# ---- bodies that are not JSON objects ----------------------------------------------------------


def _not_a_json_object(body: bytes) -> bool:
    if not body.strip():
        return False  # an empty body is a request without body members
    try:
        return not isinstance(orjson.loads(body), dict)
    except orjson.JSONDecodeError:
        return True


_valid_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
).map(orjson.dumps)
_broken_json = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=64).map(str.encode),
    _valid_json.flatmap(lambda b: st.integers(0, max(len(b) - 1, 0)).map(lambda n: b[:n])),
    st.tuples(_valid_json, st.sampled_from([b"}", b",", b"]", b"x", b"{"])).map(
        lambda t: t[0] + t[1]
    ),
    st.just(b"{'instanceName': 'single quotes'}"),
    st.just(b'{"instanceName": "a", }'),
    st.just(b'{"a": NaN}'),
).filter(_not_a_json_object)


@SETTINGS
@given(body=_broken_json, target=st.sampled_from(["create", "event", "namespace", "update"]))
def test_a_body_that_is_not_a_json_object_is_refused(
    server: ServerHandle, live: dict[str, str], body: bytes, target: str
) -> None:
    iid = live["instanceId"]
    method, path = {
        "create": ("POST", "/api/instance"),
        "event": ("POST", _events_target(iid)),
        "namespace": ("PUT", f"/api/datalake/instance/{iid}/namespaces/brokenjson"),
        "update": ("PATCH", f"/api/instance/{iid}"),
    }[target]
    signed, unsigned = _both(server, method, path, body)
    assert_refused(signed, 400, "ValidationException")
    assert_refused(unsigned, 403, "MissingAuthenticationTokenException")


# ---- wrong JSON types, member by member ---------------------------------------------------------

_ANY_JSON = {
    "string": st.text(max_size=5),
    "integer": st.integers(-5, 5),
    "float": st.floats(0.5, 9.5).filter(lambda f: not f.is_integer()),
    "boolean": st.booleans(),
    "list": st.lists(st.integers(-5, 5), max_size=2),
    "object": st.dictionaries(st.sampled_from("ab"), st.integers(-5, 5), max_size=2),
}
#: The JSON kinds each shape type accepts; every other kind is a wrong type for it.
_ACCEPTS = {
    "string": {"string"},
    "integer": {"integer"},
    "long": {"integer"},
    "double": {"integer", "float"},
    "float": {"integer", "float"},
    "boolean": {"boolean"},
    "timestamp": {"integer", "float", "string"},
    "blob": {"string"},
    "list": {"list"},
    "map": {"object"},
    "structure": {"object"},
}


def _wrong_value(shape: Shape) -> st.SearchStrategy[Any]:
    return st.one_of([s for kind, s in _ANY_JSON.items() if kind not in _ACCEPTS[shape.type_name]])


def _body_members(op: OperationModel) -> dict[str, Shape]:
    return {n: m for n, m in op.input_shape.members.items() if "location" not in m.serialization}


@st.composite
def _wrongly_typed_request(draw: st.DrawFn, op: OperationModel) -> tuple[str, str, bytes, str]:
    """A valid request of ``op`` (botocore's serializer) with one body member of a wrong type."""
    params = draw(values(op.input_shape))
    method, path, query, _, body = botocore_request(op, params)
    members = _body_members(op)
    name = draw(st.sampled_from(sorted(members)))
    document = orjson.loads(body) if body else {}
    document[members[name].serialization.get("name", name)] = draw(_wrong_value(members[name]))
    target = path + (
        "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query)
        if query
        else ""
    )
    return method, target, orjson.dumps(document), name


@pytest.mark.parametrize("operation", _BODY_OPERATIONS)
def test_a_member_of_the_wrong_json_type_is_refused(server: ServerHandle, operation: str) -> None:
    op = _MODEL.operation_model(operation)

    @settings(SETTINGS, max_examples=15)
    @given(request=_wrongly_typed_request(op))
    def check(request: tuple[str, str, bytes, str]) -> None:
        method, target, body, member = request
        answer = send_signed(server, method, target, body)
        assert_refused(answer, 400, "ValidationException")
        assert member in answer.json()["message"], answer.body

    check()


# ---- invalid UTF-8 --------------------------------------------------------------------------------


def _invalid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


_bad_utf8 = st.one_of(
    st.sampled_from([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf8\x88\x80\x80\x80"]),
    st.binary(min_size=1, max_size=12).filter(_invalid_utf8),
)


@SETTINGS
@given(bad=_bad_utf8, where=st.sampled_from(["body", "string", "path", "query", "header"]))
def test_invalid_utf8_is_refused(
    server: ServerHandle, live: dict[str, str], bad: bytes, where: str
) -> None:
    iid = live["instanceId"]
    method, target, body = "PATCH", f"/api/instance/{iid}", b'{"instanceDescription": "ok"}'
    headers = list(JSON)
    if where == "body":
        body = bad + body
    elif where == "string":
        body = b'{"instanceDescription": "' + bad.replace(b'"', b"") + b'"}'
    elif where == "path":
        method, body = "GET", b""
        target = f"/api/datalake/instance/{iid}/namespaces/" + "".join(f"%{b:02X}" for b in bad)
    elif where == "query":
        method, body = "GET", b""
        target = _events_target(iid) + "?nextToken=" + "".join(f"%{b:02X}" for b in bad)
    else:
        # Header values are bytes to HTTP: ones that are not UTF-8 are no error (if signed).
        value = bytes(b for b in bad if b >= 0x80 or 0x20 < b < 0x7F) or b"\xff"
        headers.append(("X-Amz-Meta", value.decode("latin-1")))
    signed = send(server, method, target, sign(server, method, target, headers, body), body)
    if where == "header":
        assert signed.status == 200, signed
    else:
        assert_refused(signed)
    assert_refused(send(server, method, target, headers, body), 403)


# ---- sizes: bodies, nesting, headers ---------------------------------------------------------------


@pytest.mark.parametrize("signed", [True, False])
def test_a_body_declared_too_large_is_refused_unread(server: ServerHandle, signed: bool) -> None:
    target = "/api/instance"
    headers = [*JSON, ("Content-Length", str(MAX_BODY + 1))]
    if signed:
        headers = sign(server, "POST", target, headers, b"{}")
    # Only 2 bytes of the declared 8 MiB are sent: the answer comes from Content-Length alone.
    answer = send(server, "POST", target, headers, b"{}")
    assert_refused(answer, 413, "RequestEntityTooLargeException")


def test_a_chunked_body_too_large_is_cut_off(server: ServerHandle) -> None:
    piece = b" " * (1024 * 1024)
    answer = send(server, "POST", "/api/instance", JSON, [piece] * 9, chunked=True)
    assert_refused(answer, 413, "RequestEntityTooLargeException")


_DEPTH = 100_000


@pytest.mark.parametrize(
    "body",
    [
        b"[" * _DEPTH + b"]" * _DEPTH,
        b'{"a":' * _DEPTH + b"1" + b"}" * _DEPTH,
        b'{"tags": ' + b'{"a":' * _DEPTH + b"1" + b"}" * _DEPTH + b"}",
        b'{"instanceName": ' + b"[" * _DEPTH + b"]" * _DEPTH + b"}",
        b"[" * _DEPTH,
    ],
    ids=["arrays", "objects", "in-member", "in-string-member", "unclosed"],
)
def test_deeply_nested_json_is_refused(server: ServerHandle, body: bytes) -> None:
    for answer in _both(server, "POST", "/api/instance", body):
        assert_refused(answer)
    assert_refused(send_signed(server, "POST", "/api/instance", body), 400, "ValidationException")


@pytest.mark.parametrize("shape", ["arrays", "objects"])
def test_deeply_nested_event_data_is_refused(
    server: ServerHandle, live: dict[str, str], shape: str
) -> None:
    iid = live["instanceId"]
    nested = (
        "[" * _DEPTH + "]" * _DEPTH if shape == "arrays" else '{"a":' * _DEPTH + "1" + "}" * _DEPTH
    )
    body = orjson.dumps(
        {
            "eventType": "scn.data.dataset",
            "data": nested,
            "eventGroupId": "g",
            "datasetTarget": {
                "datasetIdentifier": f"arn:aws:scn:{server.region}:{server.account_id}:"
                f"instance/{iid}/namespaces/{NAMESPACE}/datasets/{DATASET}",
                "operationType": "APPEND",
            },
        }
    )
    answer = send_signed(server, "POST", _events_target(iid), body)
    assert_refused(answer, 400, "ValidationException")


@pytest.mark.parametrize(
    "headers",
    [
        [("X-Big", "a" * 64 * 1024)],
        [("X-Big", "a" * 1024 * 1024)],
        [(f"X-Many-{i}", "v") for i in range(2000)],
        [("Authorization", "AWS4-HMAC-SHA256 Credential=" + "A" * 100_000)],
        [("X-Amz-Date", "2" * 100_000)],
    ],
    ids=["64KiB", "1MiB", "2000-headers", "huge-authorization", "huge-date"],
)
def test_huge_headers_are_refused(server: ServerHandle, headers: list[tuple[str, str]]) -> None:
    try:
        answer = send(server, "GET", "/api/instance", headers)
    except ConnectionError:
        return  # closing the connection on a request this large is a refusal too
    assert 400 <= answer.status < 500, answer
    if answer.headers.get("server") != "uvicorn" or answer.error_type:
        assert_refused(answer)


# ---- names that try to escape their path segment ------------------------------------------------------

_TRICKY_NAMES = [
    "..",
    "../asc",
    "..%2F..%2Fasc",
    "%2e%2e",
    "%2E%2E%2Fdefault",
    "a%2Fb",
    "a%252Fb",
    "a%00b",
    "%00",
    "a%0Ab",
    "a%0D%0AX-Injected:%201",
    "x" * 5000,
    quote("名前", safe=""),
    quote("déjà", safe=""),
    quote("\U0001f4a5", safe=""),
    quote("a b", safe=""),
    "a;b",
    "a%3Fb=c",
    "%",
    "%zz",
]


@pytest.mark.parametrize("name", _TRICKY_NAMES, ids=range(len(_TRICKY_NAMES)))
@pytest.mark.parametrize("slot", ["instance", "namespace", "dataset"])
def test_tricky_names_are_refused_and_change_nothing(
    server: ServerHandle, live: dict[str, str], name: str, slot: str
) -> None:
    iid = live["instanceId"]
    if slot == "instance":
        requests = [("GET", f"/api/instance/{name}"), ("DELETE", f"/api/instance/{name}")]
    elif slot == "namespace":
        base = f"/api/datalake/instance/{iid}/namespaces/{name}"
        requests = [("GET", base), ("PUT", base), ("DELETE", base)]
    else:
        base = f"/api/datalake/instance/{iid}/namespaces/{NAMESPACE}/datasets/{name}"
        requests = [("GET", base), ("PUT", base), ("DELETE", base)]
    for method, target in requests:
        body = b"{}" if method == "PUT" else b""
        for answer in _both(server, method, target, body):
            assert_refused(answer)
    client = server.client()
    assert client.get_instance(instanceId=iid)["instance"]["state"] == "Active"
    namespaces = client.list_data_lake_namespaces(instanceId=iid)["namespaces"]
    assert [n["name"] for n in namespaces] == [NAMESPACE]
    datasets = client.list_data_lake_datasets(instanceId=iid, namespace=NAMESPACE)["datasets"]
    assert [d["name"] for d in datasets] == [DATASET]


@SETTINGS
@given(name=st.text(string.printable + "éü名\x00\U0001f4a5", min_size=1, max_size=80))
def test_any_namespace_name_answers_aws_shaped(
    server: ServerHandle, live: dict[str, str], name: str
) -> None:
    target = f"/api/datalake/instance/{live['instanceId']}/namespaces/{quote(name, safe='')}"
    answer = send_signed(server, "GET", target)
    assert_refused(answer)


# ---- bodies that arrive slowly ------------------------------------------------------------------------


@pytest.mark.parametrize("signed", [True, False])
def test_a_body_that_stops_arriving_times_out(server: ServerHandle, signed: bool) -> None:
    body = b'{"instanceName": "slow"}'
    headers: list[tuple[str, str]] = [*JSON, ("Content-Length", str(len(body) + 100))]
    if signed:
        headers = sign(server, "POST", "/api/instance", headers, body)
    answer = send(server, "POST", "/api/instance", headers, body)
    assert_refused(answer, 408, "RequestTimeoutException")


def test_a_body_dripping_in_times_out(server: ServerHandle) -> None:
    body = b'{"instanceName": "drip"}'
    pieces = [body[i : i + 1] for i in range(len(body))]
    answer = send(server, "POST", "/api/instance", JSON, pieces, pause=0.1, chunked=True)
    assert_refused(answer, 408, "RequestTimeoutException")


# ---- Content-Type, missing and repeated headers, chunked bodies -------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
    ],
)
def test_the_content_type_does_not_change_how_the_body_is_read(
    server: ServerHandle, live: dict[str, str], content_type: str | None
) -> None:
    target = f"/api/instance/{live['instanceId']}"
    headers = [] if content_type is None else [("Content-Type", content_type)]
    good = b'{"instanceDescription": "typed"}'
    answer = send(server, "PATCH", target, sign(server, "PATCH", target, headers, good), good)
    assert answer.status == 200, answer
    bad = b"instanceDescription=typed"
    answer = send(server, "PATCH", target, sign(server, "PATCH", target, headers, bad), bad)
    assert_refused(answer, 400, "ValidationException")


def _signed_list(server: ServerHandle) -> list[tuple[str, str]]:
    return sign(server, "GET", "/api/instance")


def _without(headers: list[tuple[str, str]], name: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k.lower() != name.lower()]


def _header_cases(server: ServerHandle) -> dict[str, list[tuple[str, str]]]:
    signed = _signed_list(server)
    auth = dict(signed)["Authorization"]
    date = dict(signed)["X-Amz-Date"]
    return {
        "no-date": _without(signed, "X-Amz-Date"),
        "no-authorization": _without(signed, "Authorization"),
        "two-authorizations": [
            *signed,
            ("Authorization", auth.replace("Signature=", "Signature=0")),
        ],
        "two-dates": [*signed, ("X-Amz-Date", "20200101T000000Z")],
        "same-date-twice": [*signed, ("X-Amz-Date", date)],
        "lowercase-credential": [
            *_without(signed, "Authorization"),
            ("Authorization", auth.replace("Credential=", "credential=")),
        ],
        "empty-authorization": [*_without(signed, "Authorization"), ("Authorization", "")],
        "other-host": [("Host", "evil.example"), *_without(signed, "Host")],
    }


_HEADER_CASES = [
    "no-date",
    "no-authorization",
    "two-authorizations",
    "two-dates",
    "same-date-twice",
    "lowercase-credential",
    "empty-authorization",
    "other-host",
]


@pytest.mark.parametrize("case", _HEADER_CASES)
def test_missing_or_repeated_auth_headers_are_refused(server: ServerHandle, case: str) -> None:
    answer = send(server, "GET", "/api/instance", _header_cases(server)[case])
    assert_refused(answer, 403)


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /api/instance HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}",
        b"POST /api/instance HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}",
        b"POST /api/instance HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
        b"POST /api/instance HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        b"GET /api/instance/a\x00b HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /api/instance/a b HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /api/instance HTTP/1.1\r\nHost: x\r\nX-Bad\x00Name: 1\r\n\r\n",
        b"GET /api/instance HTTP/1.1\r\nHost: x\r\nContent-Type: \x7f\r\n\r\n",
        b"BREW /api/instance HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /api/instance HTTP/1.1\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 64,
    ],
    ids=[
        "two-content-lengths",
        "negative-length",
        "text-length",
        "bad-chunk-size",
        "nul-in-target",
        "space-in-target",
        "nul-in-header-name",
        "control-in-header-value",
        "unknown-method",
        "no-host",
        "tls-hello",
    ],
)
def test_requests_that_are_not_http_are_refused(server: ServerHandle, raw: bytes) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(raw)
        reply = b""
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    if not reply:
        return  # uvicorn may close the connection without a word
    status = int(reply.split(b" ", 2)[1])
    assert 400 <= status < 500, reply[:300]
    if b"x-amzn-errortype" in reply.lower():
        assert b'"message"' in reply


def test_a_chunked_signed_body_is_read_whole(server: ServerHandle, live: dict[str, str]) -> None:
    target = f"/api/instance/{live['instanceId']}"
    body = b'{"instanceDescription": "sent in chunks"}'
    headers = sign(server, "PATCH", target, JSON, body)
    pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
    answer = send(server, "PATCH", target, headers, pieces, chunked=True)
    assert answer.status == 200, answer
    assert answer.json()["instance"]["instanceDescription"] == "sent in chunks"


def test_unrouted_paths_and_methods_answer_aws_shaped(server: ServerHandle) -> None:
    # Regression: a percent-encoded newline in the path, or a method the catch-all route did not
    # list, got Starlette's plain-text 404/405 instead of an AWS error.
    for method, target in [
        ("GET", "/api%0A/instance"),
        ("GET", "/api/instance/a%0Ab"),
        ("OPTIONS", "/api/instance"),
        ("TRACE", "/api/instance"),
        ("PROPFIND", "/"),
    ]:
        assert_refused(send_signed(server, method, target))
        assert_refused(send(server, method, target), 403, "MissingAuthenticationTokenException")


def test_a_client_that_leaves_mid_body_is_no_internal_error(server: ServerHandle) -> None:
    # Regression: the body reader's ClientDisconnect was logged with a traceback and counted as a
    # 500 InternalServerException, for a request nobody was left to answer.
    head = b"POST /api/instance HTTP/1.1\r\nHost: x\r\n"
    for raw in (
        head + b"Content-Length: 50\r\n\r\n{}",
        head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
            sock.recv(1024)
    time.sleep(0.5)  # the server notices the disconnect on its own time
    assert "500 InternalServerException" not in answered(server)


def test_no_request_of_this_module_was_an_internal_error(server: ServerHandle) -> None:
    assert "500 InternalServerException" not in answered(server)
