"""SigV4 verification against requests signed by botocore's own signers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest, AWSResponse
from botocore.credentials import Credentials
from botocore.utils import percent_encode, percent_encode_sequence
from hypothesis import given, settings
from hypothesis import strategies as st
from urllib3.util.url import _encode_target

from supplylake.auth import sigv4
from supplylake.auth.sigv4 import SIGNATURE_MISMATCH, SignedRequest, parse_authorization, verify
from supplylake.aws.errors import (
    AccessDeniedException,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    ServiceError,
)

KEY_ID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
ENDPOINT = "http://localhost:8080"
INSTANCE = "1c9a0f5e-8d3b-4c2a-9e6f-0a1b2c3d4e5f"
ARN = f"arn:aws:scn:us-east-1:000000000000:instance/{INSTANCE}"
ARN_PATH = "/api/tags/" + percent_encode(ARN)


def sign(
    method: str,
    url: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    params: Sequence[tuple[str, str]] | None = None,
    *,
    presign_expires: int | None = None,
    credentials: Credentials | None = None,
    service: str = "scn",
    context: Mapping[str, Any] | None = None,
) -> SignedRequest:
    """Sign with botocore, then return the request as an ASGI server receives it."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    if params:
        request.params = list(params)
    request.context.update(context or {})
    credentials = credentials or Credentials(KEY_ID, SECRET)
    if presign_expires is None:
        SigV4Auth(credentials, service, REGION).add_auth(request)
    else:
        SigV4QueryAuth(credentials, service, REGION, expires=presign_expires).add_auth(request)
    return received(request.prepare())


def received(prepared: AWSPreparedRequest) -> SignedRequest:
    """What uvicorn puts in the ASGI scope for this request, fed through ``from_scope``."""
    parts = urlsplit(prepared.url)
    # botocore's URLLib3Session sends path?query, which urllib3 re-encodes like this.
    target = _encode_target((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    path, _, query = target.partition("?")
    headers = [(b"host", parts.netloc.encode()), (b"accept-encoding", b"identity")]
    for name, value in prepared.headers.items():
        raw = value if isinstance(value, bytes) else value.encode("latin-1")
        headers.append((name.lower().encode("latin-1"), raw))
    scope = {
        "type": "http",
        "method": prepared.method,
        "path": unquote(path),
        "raw_path": path.encode("ascii"),
        "query_string": query.encode("ascii"),
        "headers": headers,
    }
    body = prepared.body or b""
    return SignedRequest.from_scope(scope, body if isinstance(body, bytes) else body.encode())


def check(req: SignedRequest, *, secret: str = SECRET, skew: timedelta = timedelta()) -> None:
    auth = parse_authorization(req)
    verify(req, auth, secret, auth.signed_at + skew)


def with_header(req: SignedRequest, name: str, value: str) -> SignedRequest:
    headers = [(k, v) for k, v in req.headers if k.lower() != name.lower()]
    return SignedRequest(
        req.method, req.raw_path, req.query_string, [*headers, (name, value)], req.body
    )


def header(req: SignedRequest, name: str) -> str:
    return next(v for k, v in req.headers if k.lower() == name.lower())


# --- requests botocore signs -------------------------------------------------------------

JSON_BODY = json.dumps({"tags": {"owner": "Zoë", "city": "東京"}}, ensure_ascii=False).encode()
EVENT_PATH = f"/api-data/data-integration/instance/{INSTANCE}/data-integration-events"
FLOW_PATH = f"/api/data-integration/instance/{INSTANCE}/data-integration-flows/my-flow"


@pytest.mark.parametrize(
    ("method", "url", "body", "params"),
    [
        ("GET", ENDPOINT + "/api/instance", b"", None),
        ("GET", ENDPOINT + "/api/instance?maxResults=10&nextToken=a%2Bb%2Fc%3D%3D", b"", None),
        (
            "GET",
            ENDPOINT + "/api/instance?instanceState=Active&instanceState=Initializing",
            b"",
            None,
        ),
        ("GET", ENDPOINT + "/api/instance?b=2&a=3&a=1&flag=&z=%E2%82%AC%20~", b"", None),
        ("GET", ENDPOINT + "/api/instance", b"", [("q", "a b+c"), ("q", "é/&="), ("k", "~")]),
        ("GET", ENDPOINT + ARN_PATH, b"", None),
        ("POST", ENDPOINT + ARN_PATH, JSON_BODY, None),
        ("POST", ENDPOINT + EVENT_PATH, b'{"data":"{\\"id\\": 1}","eventType":"x"}', None),
        ("PATCH", ENDPOINT + FLOW_PATH, b'{"description":"\xc3\xa9t\xc3\xa9"}', None),
        ("DELETE", ENDPOINT + ARN_PATH + "?tagKeys=owner&tagKeys=city%20name", b"", None),
        ("DELETE", ENDPOINT + f"/api/instance/{INSTANCE}", b"", None),
        ("GET", ENDPOINT + "/api//instance/./x/../", b"", None),
    ],
)
def test_verifies_requests_signed_by_botocore(
    method: str, url: str, body: bytes, params: Sequence[tuple[str, str]] | None
) -> None:
    check(sign(method, url, body, {"Content-Type": "application/json"}, params))


def test_verifies_presigned_urls() -> None:
    req = sign("GET", ENDPOINT + ARN_PATH + "?x=a%20b", presign_expires=300)
    auth = parse_authorization(req)
    assert auth.presigned and auth.expires == 300
    verify(req, auth, SECRET, auth.signed_at + timedelta(seconds=299))


def test_verifies_signing_with_a_date_header() -> None:
    date = formatdate(usegmt=True)
    req = sign("GET", ENDPOINT + "/api/instance", headers={"Date": date})
    assert not any(name.lower() == "x-amz-date" for name, _ in req.headers)
    check(req)


def test_reads_the_session_token() -> None:
    req = sign("GET", ENDPOINT + "/api/instance", credentials=Credentials(KEY_ID, SECRET, "tok+/="))
    assert parse_authorization(req).security_token == "tok+/="
    check(req)


def test_joins_repeated_signed_headers_like_botocore() -> None:
    request = AWSRequest(method="GET", url=ENDPOINT + "/api/instance")
    request.headers["X-Extra"] = "one"
    request.headers["X-Extra"] = "  two   words "
    SigV4Auth(Credentials(KEY_ID, SECRET), "scn", REGION).add_auth(request)
    prepared = request.prepare()
    # botocore signs both values but its prepared headers keep one; send both, as signed.
    prepared.headers = request.headers
    check(received(prepared))


def test_ignores_changes_to_unsigned_headers() -> None:
    req = sign("GET", ENDPOINT + "/api/instance")
    check(with_header(req, "User-Agent", "something else"))


def test_parses_the_claims() -> None:
    auth = parse_authorization(sign("GET", ENDPOINT + "/api/instance"))
    assert (auth.access_key_id, auth.region, auth.service) == (KEY_ID, REGION, "scn")
    assert auth.signed_headers == ("host", "x-amz-date")
    assert auth.amz_date.startswith(auth.date) and not auth.presigned


# --- real boto3 clients ------------------------------------------------------------------


class _Raw:
    def stream(self, **_: Any) -> Iterator[bytes]:
        yield b"{}"


def client_requests(calls: Sequence[tuple[str, dict[str, Any]]]) -> list[SignedRequest]:
    """Run operations on a real supplychain client and capture what it would send."""
    captured: list[SignedRequest] = []

    def capture(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        captured.append(received(request))
        return AWSResponse(request.url, 200, {}, _Raw())

    client = boto3.session.Session(
        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET, region_name=REGION
    ).client("supplychain", endpoint_url=ENDPOINT)
    client.meta.events.register("before-send", capture)
    for operation, kwargs in calls:
        getattr(client, operation)(**kwargs)
    return captured


def test_verifies_every_kind_of_boto3_supplychain_request() -> None:
    calls = [
        (
            "list_instances",
            {"maxResults": 5, "nextToken": "a+b/ c", "instanceStateFilter": ["Active"]},
        ),
        ("list_tags_for_resource", {"resourceArn": ARN}),
        ("tag_resource", {"resourceArn": ARN, "tags": {"owner": "Zoë", "k": "東京"}}),
        ("untag_resource", {"resourceArn": ARN, "tagKeys": ["owner", "a b"]}),
        ("create_instance", {"instanceName": "é", "clientToken": "t" * 33}),
        ("update_instance", {"instanceId": INSTANCE, "instanceName": "n"}),
        ("delete_instance", {"instanceId": INSTANCE}),
        (
            "send_data_integration_event",
            {
                "instanceId": INSTANCE,
                "eventType": "scn.data.forecast",
                "data": '{"q": "ü"}',
                "eventGroupId": "g",
            },
        ),
    ]
    requests = client_requests(calls)
    assert "%253A" not in requests[1].raw_path and "%3A" in requests[1].raw_path
    for req in requests:
        check(req)


def test_verifies_a_boto3_presigned_url() -> None:
    client = boto3.session.Session(
        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET, region_name=REGION
    ).client("supplychain", endpoint_url=ENDPOINT)
    url = client.generate_presigned_url(
        "list_tags_for_resource", Params={"resourceArn": ARN}, ExpiresIn=60
    )
    prepared = AWSRequest(method="GET", url=url).prepare()
    check(received(prepared), skew=timedelta(seconds=59))


# --- failures ----------------------------------------------------------------------------


def test_rejects_a_request_without_authentication() -> None:
    req = SignedRequest("GET", "/api/instance", "", [("Host", "localhost:8080")], b"")
    with pytest.raises(MissingAuthenticationTokenException, match="Missing Authentication Token"):
        parse_authorization(req)


GOOD_AUTH = (
    f"AWS4-HMAC-SHA256 Credential={KEY_ID}/20261129/us-east-1/scn/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
)


@pytest.mark.parametrize(
    ("authorization", "error", "message"),
    [
        (
            GOOD_AUTH.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
            IncompleteSignatureException,
            "algorithm",
        ),
        ("Bearer abc", IncompleteSignatureException, "algorithm"),
        (GOOD_AUTH.split(", ", 1)[1], IncompleteSignatureException, "algorithm"),
        ("AWS4-HMAC-SHA256 Signature=" + "0" * 64, IncompleteSignatureException, "'Credential'"),
        (
            GOOD_AUTH.replace("SignedHeaders=host;x-amz-date, ", ""),
            IncompleteSignatureException,
            "'SignedHeaders'",
        ),
        (
            GOOD_AUTH.replace("Signature=" + "0" * 64, "Signature="),
            IncompleteSignatureException,
            "'Signature'",
        ),
        (GOOD_AUTH.replace("Signature=", "Signature"), IncompleteSignatureException, "equal-sign"),
        (GOOD_AUTH.replace("/aws4_request", ""), IncompleteSignatureException, "exactly 5"),
        (
            GOOD_AUTH.replace("=host;", "="),
            InvalidSignatureException,
            "'Host' must be a 'SignedHeader'",
        ),
        (GOOD_AUTH.replace("/scn/", "/s3/"), InvalidSignatureException, "correct service: 'scn'"),
        (
            GOOD_AUTH.replace("aws4_request", "aws5_request"),
            InvalidSignatureException,
            "valid terminator",
        ),
        (
            GOOD_AUTH.replace("20261129", "20261128"),
            InvalidSignatureException,
            "Date in Credential scope",
        ),
        (GOOD_AUTH.replace(f"{KEY_ID}/", "/"), IncompleteSignatureException, "empty element"),
    ],
)
def test_rejects_malformed_authorization_headers(
    authorization: str, error: type[ServiceError], message: str
) -> None:
    headers = [("Host", "h"), ("X-Amz-Date", "20261129T120000Z"), ("Authorization", authorization)]
    with pytest.raises(error, match=message) as caught:
        parse_authorization(SignedRequest("GET", "/", "", headers, b""))
    assert caught.value.status == 403


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ([("Authorization", GOOD_AUTH)], "requires existence of either a 'X-Amz-Date' or a 'Date'"),
        ([("Authorization", GOOD_AUTH), ("X-Amz-Date", "2026-11-29T12:00:00Z")], "basic format"),
        ([("Authorization", GOOD_AUTH), ("X-Amz-Date", "20261399T120000Z")], "basic format"),
        ([("Authorization", GOOD_AUTH), ("Date", "yesterday")], "RFC 1123"),
        ([("Authorization", GOOD_AUTH), ("authorization", GOOD_AUTH)], "Only one Authorization"),
    ],
)
def test_rejects_missing_or_malformed_dates(headers: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(IncompleteSignatureException, match=message):
        parse_authorization(SignedRequest("GET", "/", "", headers, b""))


@pytest.mark.parametrize("service", ["supplychain", "s3"])
def test_rejects_a_request_signed_for_another_service(service: str) -> None:
    req = sign("GET", ENDPOINT + "/api/instance", service=service)
    with pytest.raises(InvalidSignatureException, match="scoped to correct service: 'scn'"):
        parse_authorization(req)


def test_rejects_a_wrong_secret_without_revealing_the_expected_signature() -> None:
    req = sign("POST", ENDPOINT + ARN_PATH, JSON_BODY)
    auth = parse_authorization(req)
    with pytest.raises(InvalidSignatureException) as caught:
        verify(req, auth, "not-the-secret", auth.signed_at)
    assert caught.value.message == SIGNATURE_MISMATCH
    with pytest.raises(InvalidSignatureException) as caught:
        check(req, secret=SECRET + "x")
    assert SECRET not in str(caught.value) and auth.signature not in str(caught.value)


def tampered(req: SignedRequest, **changes: Any) -> SignedRequest:
    fields = {
        "method": req.method,
        "raw_path": req.raw_path,
        "query_string": req.query_string,
        "headers": req.headers,
        "body": req.body,
    }
    return SignedRequest(**(fields | changes))


@pytest.mark.parametrize(
    "change",
    [
        {"body": JSON_BODY.replace(b"Zo", b"Jo")},
        {"body": JSON_BODY + b" "},
        {"body": b""},
        {"method": "PUT"},
        {"raw_path": ARN_PATH.replace("%2F", "/")},
        {"raw_path": ARN_PATH.replace("%3A", ":")},
        {"raw_path": ARN_PATH + "/"},
        {"query_string": "tagKeys=x&tagKeys=y"},
        {"query_string": "tagKeys=X"},
        {"query_string": ""},
    ],
)
def test_rejects_tampered_requests(change: dict[str, Any]) -> None:
    req = sign(
        "POST", ENDPOINT + ARN_PATH + "?tagKeys=x", JSON_BODY, {"Content-Type": "application/json"}
    )
    check(req)
    with pytest.raises(InvalidSignatureException, match="does not match the signature"):
        check(tampered(req, **change))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Content-Type", "text/plain"),
        ("Host", "localhost:8081"),
        ("X-Amz-Date", "20300101T000000Z"),
    ],
)
def test_rejects_tampered_signed_headers(name: str, value: str) -> None:
    req = sign("POST", ENDPOINT + ARN_PATH, JSON_BODY, {"Content-Type": "application/json"})
    with pytest.raises((InvalidSignatureException, IncompleteSignatureException)):
        check(with_header(req, name, value))


def test_rejects_a_signed_header_that_is_missing() -> None:
    req = sign("POST", ENDPOINT + ARN_PATH, JSON_BODY, {"Content-Type": "application/json"})
    stripped = tampered(
        req, headers=[(k, v) for k, v in req.headers if k.lower() != "content-type"]
    )
    with pytest.raises(InvalidSignatureException, match="does not match the signature"):
        check(stripped)


@pytest.mark.parametrize("minutes", [-15, -14, 0, 14, 15])
def test_accepts_clock_skew_up_to_15_minutes(minutes: int) -> None:
    check(sign("GET", ENDPOINT + "/api/instance"), skew=timedelta(minutes=minutes))


def test_rejects_a_request_signed_16_minutes_ago() -> None:
    req = sign("GET", ENDPOINT + "/api/instance")
    amz_date = header(req, "X-Amz-Date")
    with pytest.raises(InvalidSignatureException) as caught:
        check(req, skew=timedelta(minutes=16))
    assert caught.value.message.startswith(f"Signature expired: {amz_date} is now earlier than ")
    assert caught.value.message.endswith(" - 15 min.)")


def test_rejects_a_request_signed_16_minutes_ahead() -> None:
    req = sign("GET", ENDPOINT + "/api/instance")
    with pytest.raises(InvalidSignatureException, match=r"not yet current: .* is still later than"):
        check(req, skew=timedelta(minutes=-16))


def test_compares_a_naive_now_as_utc() -> None:
    req = sign("GET", ENDPOINT + "/api/instance")
    auth = parse_authorization(req)
    verify(req, auth, SECRET, auth.signed_at.replace(tzinfo=None))


def test_rejects_an_expired_presigned_url() -> None:
    req = sign("GET", ENDPOINT + "/api/instance", presign_expires=60)
    with pytest.raises(AccessDeniedException, match="Request has expired") as caught:
        check(req, skew=timedelta(seconds=61))
    assert caught.value.status == 403


def test_accepts_a_presigned_url_longer_than_the_skew_window() -> None:
    check(sign("GET", ENDPOINT + "/api/instance", presign_expires=3600), skew=timedelta(minutes=59))


def test_rejects_a_presigned_url_from_the_future() -> None:
    req = sign("GET", ENDPOINT + "/api/instance", presign_expires=3600)
    with pytest.raises(InvalidSignatureException, match="not yet current"):
        check(req, skew=timedelta(minutes=-16))


@pytest.mark.parametrize(
    ("replace", "error", "message"),
    [
        (
            ("X-Amz-Expires=60", "X-Amz-Expires=604801"),
            IncompleteSignatureException,
            "less than a week",
        ),
        (("X-Amz-Expires=60", "X-Amz-Expires=-1"), IncompleteSignatureException, "non-negative"),
        (("X-Amz-Expires=60&", ""), IncompleteSignatureException, "Missing: X-Amz-Expires"),
        (("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"), IncompleteSignatureException, "algorithm"),
        (("%2Fscn%2F", "%2Fs3%2F"), InvalidSignatureException, "correct service"),
        (("host%3B", ""), InvalidSignatureException, "'Host' must be"),
    ],
)
def test_rejects_malformed_presigned_urls(
    replace: tuple[str, str], error: type[ServiceError], message: str
) -> None:
    req = sign("GET", ENDPOINT + "/api/instance", headers={"X-Extra": "1"}, presign_expires=60)
    assert replace[0] in req.query_string
    with pytest.raises(error, match=message):
        parse_authorization(tampered(req, query_string=req.query_string.replace(*replace)))


def test_rejects_presigned_query_together_with_an_authorization_header() -> None:
    req = sign("GET", ENDPOINT + "/api/instance", presign_expires=60)
    with pytest.raises(IncompleteSignatureException, match="Only one auth mechanism"):
        parse_authorization(with_header(req, "Authorization", GOOD_AUTH))


def test_rejects_a_body_that_disagrees_with_x_amz_content_sha256() -> None:
    # botocore signs the header's value rather than the body: the signature is right, the body not.
    wrong = hashlib.sha256(b"something else").hexdigest()
    req = sign("POST", ENDPOINT + ARN_PATH, JSON_BODY, {"X-Amz-Content-SHA256": wrong})
    with pytest.raises(InvalidSignatureException, match="x-amz-content-sha256"):
        check(req)


def test_rejects_an_unsigned_payload() -> None:
    req = sign(
        "POST",
        "https://localhost:8443" + ARN_PATH,
        JSON_BODY,
        context={"payload_signing_enabled": False},
    )
    assert header(req, "X-Amz-Content-SHA256") == "UNSIGNED-PAYLOAD"
    with pytest.raises(InvalidSignatureException, match="x-amz-content-sha256"):
        check(req)


def test_accepts_a_matching_x_amz_content_sha256() -> None:
    digest = hashlib.sha256(JSON_BODY).hexdigest()
    check(sign("POST", ENDPOINT + ARN_PATH, JSON_BODY, {"X-Amz-Content-SHA256": digest}))


# --- from_scope ------------------------------------------------------------------------


def test_from_scope_falls_back_to_the_decoded_path() -> None:
    scope = {"method": "GET", "path": "/api/instance/a b", "headers": [(b"host", b"h")]}
    req = SignedRequest.from_scope(scope, b"")
    assert (req.raw_path, req.query_string, req.headers) == (
        "/api/instance/a%20b",
        "",
        [("host", "h")],
    )


# --- properties --------------------------------------------------------------------------

_labels = st.text(min_size=1, max_size=20)
_pairs = st.lists(st.tuples(st.text(max_size=10), st.text(max_size=20)), max_size=5)
_header_values = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
)


@settings(max_examples=150, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PATCH", "PUT", "DELETE"]),
    labels=st.lists(_labels, min_size=1, max_size=3),
    pairs=_pairs,
    body=st.binary(max_size=2048),
    extra=_header_values,
    flip=st.integers(min_value=0),
    xor=st.integers(min_value=1, max_value=255),
)
def test_any_botocore_signed_request_verifies_and_any_body_byte_change_fails(
    method: str,
    labels: list[str],
    pairs: list[tuple[str, str]],
    body: bytes,
    extra: str,
    flip: int,
    xor: int,
) -> None:
    # The URL is built the way botocore's rest-json serializer builds it.
    url = ENDPOINT + "/api/" + "/".join(percent_encode(label) for label in labels)
    if pairs:
        url += "?" + percent_encode_sequence(pairs)
    req = sign(method, url, body, {"X-Extra": extra, "Content-Type": "application/json"})
    check(req)
    if body:
        changed = bytearray(body)
        changed[flip % len(changed)] ^= xor
        with pytest.raises(InvalidSignatureException):
            check(tampered(req, body=bytes(changed)))


@settings(max_examples=100, deadline=None)
@given(pairs=_pairs)
def test_any_query_from_awsrequest_params_verifies(pairs: list[tuple[str, str]]) -> None:
    # AWSRequest(params=...) sends spaces as '+' yet signs them as %20.
    check(sign("GET", ENDPOINT + "/api/instance", params=pairs))


def test_caches_signing_keys() -> None:
    sigv4._signing_key.cache_clear()
    req = sign("GET", ENDPOINT + "/api/instance")
    check(req)
    check(req)
    info = sigv4._signing_key.cache_info()
    assert (info.hits, info.misses) == (1, 1)


def test_signature_compare_tolerates_non_ascii_signatures() -> None:
    req = sign("GET", ENDPOINT + "/api/instance")
    auth = parse_authorization(req)
    with pytest.raises(InvalidSignatureException):
        verify(req, auth._replace(signature="é" * 64), SECRET, auth.signed_at)
