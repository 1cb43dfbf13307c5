"""Raw HTTP for the hardening tests: exact bytes on a socket, SigV4-signed or not, and checks of
the AWS error shape.

http.client and urllib refuse much of what these tests need to send (NUL in the target, duplicate
or oversized headers, bodies that arrive slowly), so requests are written to the socket by hand.
"""

from __future__ import annotations

import datetime as dt
import http.client
import re
import socket
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from unittest import mock

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from supplylake.testing import ServerHandle

SERVICE = "scn"
#: What uvicorn answers (400, plain text) to a request it cannot parse as HTTP/1.1, or whose request
#: line is longer than its parser takes (about 64 KiB): the application never sees it.
PROTOCOL_REFUSAL = b"Invalid HTTP request received."

Headers = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-cased names; the last of a repeated header wins
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def error_type(self) -> str:
        return self.headers.get("x-amzn-errortype", "")


def sign(
    server: ServerHandle,
    method: str,
    target: str,
    headers: Headers = (),
    body: bytes = b"",
    *,
    key: tuple[str, str] | None = None,
    region: str | None = None,
    when: dt.datetime | None = None,
) -> list[tuple[str, str]]:
    """``headers`` plus Host, X-Amz-Date and Authorization, the way botocore signs a request.

    ``target`` is the raw request target (path and query, percent-encoded as it will be sent).
    """
    access_key, secret = key or (server.access_key_id, server.secret_access_key)
    host = server.endpoint.split("://", 1)[1]
    request = AWSRequest(
        method=method, url=server.endpoint + target, data=body, headers=dict(headers)
    )
    request.headers["Host"] = host
    signer = SigV4Auth(Credentials(access_key, secret), SERVICE, region or server.region)
    if when is None:
        signer.add_auth(request)
    else:
        with mock.patch(
            "botocore.auth.get_current_datetime",
            return_value=when.astimezone(dt.UTC).replace(tzinfo=None),
        ):
            signer.add_auth(request)
    return list(request.headers.items())


def send(
    server: ServerHandle,
    method: str,
    target: str,
    headers: Headers = (),
    body: bytes | Iterable[bytes] = b"",
    *,
    chunked: bool = False,
    pause: float = 0.0,
    timeout: float = 30.0,
) -> Answer:
    """Write one request to the socket exactly as given and read the answer.

    A ``bytes`` body gets a Content-Length unless ``headers`` already has one or ``chunked`` is
    set; an iterable body is written piece by piece, ``pause`` seconds apart.
    """
    names = {name.lower() for name, _ in headers}
    lines = [f"{method} {target} HTTP/1.1".encode("latin-1")]
    all_headers = list(headers)
    if "host" not in names:
        all_headers.insert(0, ("Host", server.endpoint.split("://", 1)[1]))
    if chunked:
        all_headers.append(("Transfer-Encoding", "chunked"))
    elif isinstance(body, bytes) and "content-length" not in names:
        all_headers.append(("Content-Length", str(len(body))))
    all_headers.append(("Connection", "close"))
    lines += [f"{k}: {v}".encode("latin-1") for k, v in all_headers]
    pieces = [body] if isinstance(body, bytes) else body
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        try:
            for i, piece in enumerate(pieces):
                if i and pause:
                    time.sleep(pause)
                if chunked:
                    if piece:
                        sock.sendall(b"%x\r\n%b\r\n" % (len(piece), piece))
                else:
                    sock.sendall(piece)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer (and close) before the whole body is written
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        data = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)


def send_signed(
    server: ServerHandle,
    method: str,
    target: str,
    body: bytes = b"",
    headers: Headers = (("Content-Type", "application/json"),),
    **kwargs: Any,
) -> Answer:
    """A request signed with the root key (the signature covers ``body`` exactly)."""
    return send(server, method, target, sign(server, method, target, headers, body), body, **kwargs)


def aws_error(answer: Answer) -> tuple[str, str]:
    """(code, message) of an AWS-shaped JSON error; AssertionError if the answer is not one."""
    assert answer.headers.get("content-type", "").startswith("application/"), answer
    code = answer.error_type
    payload = orjson.loads(answer.body)
    assert isinstance(payload, dict), answer
    code = code or str(payload.get("__type", "")).rsplit("#", 1)[-1]
    message = payload.get("message", payload.get("Message"))
    assert code and isinstance(message, str), answer
    return code, message


def assert_refused(answer: Answer, status: int | None = None, code: str | None = None) -> str:
    """The answer is a 4xx AWS error; its code."""
    got, _ = aws_error(answer)
    assert 400 <= answer.status < 500, (answer.status, got, answer)
    if status is not None:
        assert answer.status == status, (answer.status, got, answer.body[:300])
    if code is not None:
        assert got == code, (answer.status, got, answer.body[:300])
    return got


def answered(server: ServerHandle) -> Counter[str]:
    """Requests the API answered so far, by ``"<status> <code>"``, from the server's /metrics."""
    text = send(server, "GET", "/metrics").body.decode()
    out: Counter[str] = Counter()
    for line in text.splitlines():
        if line.startswith("supplylake_requests_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            out[f"{labels['status']} {labels['code']}".strip()] += int(
                float(line.rsplit(" ", 1)[1])
            )
    return out


def healthy(server: ServerHandle) -> bool:
    """Whether the server process is alive and answers /health with 200."""
    if server.process is not None and server.process.poll() is not None:
        return False
    try:
        return send(server, "GET", "/health", timeout=10).status == 200
    except OSError:
        return False
