"""AWS Signature Version 4 verification, mirroring botocore's ``SigV4Auth`` and ``SigV4QueryAuth``.

Pure functions over a :class:`SignedRequest`: the caller looks up the secret for
``Authorization.access_key_id`` between :func:`parse_authorization` and :func:`verify`.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from hashlib import sha256
from typing import Any, NamedTuple
from urllib.parse import quote, unquote_to_bytes

from supplylake.auth.canonical import canonical_headers, canonical_queries, canonical_uri
from supplylake.aws.errors import (
    AccessDeniedException,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
)
from supplylake.aws.spec import SIGNING_NAME

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGNED_EXPIRES = 7 * 24 * 3600

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)

_PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)
# Any of these marks a presigned request; X-Amz-Security-Token alone does not.
_PRESIGN_MARKERS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature")
_BOTOCORE_HEADER = re.compile(
    ALGORITHM + r" Credential=([^\s,]+), SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})"
)


class SignedRequest(NamedTuple):
    """An HTTP request exactly as received: path and query still percent-encoded.

    A named tuple, not a dataclass: one is built per request, and a frozen dataclass's
    constructor sets each field through ``object.__setattr__``.
    """

    method: str
    raw_path: str
    query_string: str
    headers: Sequence[tuple[str, str]]
    body: bytes

    @classmethod
    def from_scope(
        cls,
        scope: Mapping[str, Any],
        body: bytes,
        headers: Sequence[tuple[str, str]] | None = None,
    ) -> SignedRequest:
        """Build from an ASGI HTTP scope and the fully read body (and its headers, if decoded
        already as below)."""
        raw_path: bytes | None = scope.get("raw_path")
        if raw_path is None:
            # The ASGI spec lets servers omit raw_path; re-encoding the decoded path is lossy
            # for labels holding %2F, but it is the best that is left.
            raw_path = quote(scope["path"]).encode("ascii")
        query: bytes = scope.get("query_string", b"")
        return cls(
            scope["method"],
            # surrogateescape keeps any non-UTF-8 bytes so they re-encode to the same bytes.
            raw_path.decode("utf-8", "surrogateescape"),
            query.decode("utf-8", "surrogateescape") if query else "",
            # HTTP header bytes are latin-1 by definition; http.client encodes botocore's str
            # headers the same way, so the canonical form matches.
            headers
            if headers is not None
            else [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
            body,
        )


class Authorization(NamedTuple):
    """The SigV4 claims of a request (header or presigned query), not yet verified."""

    access_key_id: str
    date: str  # the credential scope date, YYYYMMDD
    region: str
    service: str
    signed_headers: tuple[str, ...]  # lowercase, sorted
    signature: str
    amz_date: str  # the request time as signed, YYYYMMDDTHHMMSSZ
    signed_at: datetime
    presigned: bool = False
    expires: int | None = None  # seconds, presigned only
    security_token: str | None = None

    @property
    def credential_scope(self) -> str:
        """``date/region/service/aws4_request``, as in the string to sign."""
        return f"{self.date}/{self.region}/{self.service}/{TERMINATOR}"


def parse_authorization(req: SignedRequest) -> Authorization:
    """Read the SigV4 claims from the Authorization header or the presigned query."""
    header: str | None = None
    amz_date: str | None = None
    http_date: str | None = None
    token: str | None = None
    for name, value in req.headers:
        lname = name.lower()
        if lname == "authorization":
            if header is not None:
                raise IncompleteSignatureException("Only one Authorization header is allowed.")
            header = value
        elif lname == "x-amz-date" and amz_date is None:
            amz_date = value
        elif lname == "date" and http_date is None:
            http_date = value
        elif lname == "x-amz-security-token" and token is None:
            token = value
    query = _presign_params(req.query_string) if "X-Amz-" in req.query_string else {}
    if query and not any(name in query for name in _PRESIGN_MARKERS):
        query = {}
    if header is not None and query:
        raise IncompleteSignatureException(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter "
            "or the Authorization header should be specified."
        )
    if query:
        return _parse_presigned(query)
    if header is None or not header.strip():
        raise MissingAuthenticationTokenException("Missing Authentication Token")
    return _parse_header(header, amz_date, http_date, token)


def verify(req: SignedRequest, auth: Authorization, secret_access_key: str, now: datetime) -> None:
    """Raise unless ``req`` carries a valid, current signature made with ``secret_access_key``."""
    _check_clock(auth, now)
    payload_hash = sha256(req.body).hexdigest()
    for name, value in req.headers:
        # botocore signs this header's value instead of hashing the body, so a body that
        # disagrees with it would otherwise pass unauthenticated (e.g. UNSIGNED-PAYLOAD).
        if name.lower() == "x-amz-content-sha256" and value.strip() != payload_hash:
            raise InvalidSignatureException(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
            )
    key = _signing_key(secret_access_key, auth.date, auth.region, auth.service)
    provided = auth.signature.encode("utf-8", "replace")
    head = f"{req.method.upper()}\n{canonical_uri(req.raw_path)}\n"
    tail = (
        f"\n{canonical_headers(req.headers, auth.signed_headers)}\n\n"
        f"{_joined(auth.signed_headers)}\n{payload_hash}"
    )
    scope = f"{ALGORITHM}\n{auth.amz_date}\n{auth.date}/{auth.region}/{auth.service}/{TERMINATOR}\n"
    for query in canonical_queries(req.query_string, presigned=auth.presigned):
        canonical = (head + query + tail).encode("utf-8", "surrogateescape")
        to_sign = scope + sha256(canonical).hexdigest()
        expected = hmac.digest(key, to_sign.encode("utf-8"), "sha256").hex()
        if hmac.compare_digest(expected.encode("ascii"), provided):
            return
    raise InvalidSignatureException(SIGNATURE_MISMATCH)


def _parse_header(
    header: str, amz_date: str | None, http_date: str | None, token: str | None
) -> Authorization:
    match = _BOTOCORE_HEADER.fullmatch(header)
    if match is not None and amz_date is not None:
        # The shape every AWS SDK sends: everything but the signature repeats from one request
        # to the next (the date changes once a second), so its reading is cached as a whole.
        credential, signed_headers, signature = match.groups()
        key_id, date, region, names, signed_at = _scope_claims(credential, signed_headers, amz_date)
        return Authorization(
            key_id,
            date,
            region,
            SIGNING_NAME,
            names,
            signature,
            amz_date,
            signed_at,
            False,
            None,
            token,
        )
    params = _header_params(header)
    problems = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature")
        if not params.get(name)
    ]
    # An empty SignedHeaders is well formed; it then fails the 'Host' check.
    if "SignedHeaders" not in params:
        problems.append("Authorization header requires 'SignedHeaders' parameter.")
    if amz_date is None and http_date is None:
        problems.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if problems:
        raise IncompleteSignatureException(" ".join(problems))
    if amz_date is not None:
        signed_at = _parse_basic_date(amz_date)
    else:
        assert http_date is not None
        signed_at = _parse_http_date(http_date)
        amz_date = _basic(signed_at)
    return _claims(params, amz_date, signed_at, expires=None, token=token)


def _header_params(header: str) -> dict[str, str]:
    match = _BOTOCORE_HEADER.fullmatch(header)
    if match:  # the shape every AWS SDK sends, without the general parse below
        credential, signed_headers, signature = match.groups()
        return {"Credential": credential, "SignedHeaders": signed_headers, "Signature": signature}
    algorithm, _, rest = header.strip().partition(" ")
    _check_algorithm(algorithm)
    params: dict[str, str] = {}
    for item in rest.split(","):
        key, eq, value = item.strip().partition("=")
        if not key:
            continue
        if not eq:
            raise IncompleteSignatureException(
                f"'{key}' not a valid key=value pair (missing equal-sign) in Authorization header."
            )
        params[key] = value.strip()
    return params


def _parse_presigned(query: dict[str, str]) -> Authorization:
    missing = [name for name in _PRESIGN_PARAMS if name not in query]
    if missing:
        raise IncompleteSignatureException(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
            f"X-Amz-Expires parameters. Missing: {', '.join(missing)}."
        )
    _check_algorithm(query["X-Amz-Algorithm"])
    raw_expires = query["X-Amz-Expires"]
    if not (raw_expires.isascii() and raw_expires.isdigit()):
        raise IncompleteSignatureException("X-Amz-Expires should be a non-negative number.")
    expires = int(raw_expires)
    if expires > MAX_PRESIGNED_EXPIRES:
        raise IncompleteSignatureException(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800."
        )
    amz_date = query["X-Amz-Date"]
    params = {
        "Credential": query["X-Amz-Credential"],
        "SignedHeaders": query["X-Amz-SignedHeaders"],
        "Signature": query["X-Amz-Signature"],
    }
    token = query.get("X-Amz-Security-Token")
    return _claims(params, amz_date, _parse_basic_date(amz_date), expires=expires, token=token)


def _check_algorithm(algorithm: str) -> None:
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(
            f"Unsupported AWS 'algorithm': '{algorithm}' (only {ALGORITHM} for now)."
        )


def _claims(
    params: dict[str, str],
    amz_date: str,
    signed_at: datetime,
    *,
    expires: int | None,
    token: str | None,
) -> Authorization:
    signed_headers = _signed_headers(params["SignedHeaders"])
    key_id, date, region = _credential(params["Credential"], amz_date)
    return Authorization(
        access_key_id=key_id,
        date=date,
        region=region,
        service=SIGNING_NAME,
        signed_headers=signed_headers,
        signature=params["Signature"],
        amz_date=amz_date,
        signed_at=signed_at,
        presigned=expires is not None,
        expires=expires,
        security_token=token,
    )


# The parsers below are cached: clients repeat the same few strings on every request.


@lru_cache(maxsize=256)
def _scope_claims(
    credential: str, signed_headers: str, amz_date: str
) -> tuple[str, str, str, tuple[str, ...], datetime]:
    """Key id, date, region, signed header names and signing time of a well-formed header."""
    signed_at = _parse_basic_date(amz_date)
    names = _signed_headers(signed_headers)
    key_id, date, region = _credential(credential, amz_date)
    return key_id, date, region, names, signed_at


@lru_cache(maxsize=64)
def _joined(names: tuple[str, ...]) -> str:
    return ";".join(names)


@lru_cache(maxsize=256)
def _signed_headers(text: str) -> tuple[str, ...]:
    names = tuple(sorted({name.strip().lower() for name in text.split(";") if name.strip()}))
    if "host" not in names:
        # AWS answers InvalidSignatureException here, not IncompleteSignatureException.
        raise InvalidSignatureException("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    return names


@lru_cache(maxsize=256)
def _credential(credential: str, amz_date: str) -> tuple[str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5:
        raise IncompleteSignatureException(
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{credential}'"
        )
    key_id, date, region, service, terminator = parts
    # AWS reports every scope problem at once as InvalidSignatureException, before it looks
    # the key id up (recorded from DynamoDB; AWS JSON services share that front end).
    problems = []
    if service != SIGNING_NAME:
        problems.append(f"Credential should be scoped to correct service: '{SIGNING_NAME}'.")
    if terminator != TERMINATOR:
        problems.append(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', "
            f"not '{terminator}'."
        )
    if date != amz_date[:8]:
        problems.append(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{date}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    if problems:
        raise InvalidSignatureException(" ".join(problems))
    if not key_id or not region:
        raise IncompleteSignatureException(f"Credential has an empty element: '{credential}'")
    return key_id, date, region


@lru_cache(maxsize=64)
def _parse_basic_date(text: str) -> datetime:
    digits = text[:8] + text[9:15]
    well_formed = len(text) == 16 and text[8] == "T" and text[15] == "Z"
    if well_formed and digits.isascii() and digits.isdigit():
        try:
            return datetime(
                int(text[0:4]),
                int(text[4:6]),
                int(text[6:8]),
                int(text[9:11]),
                int(text[11:13]),
                int(text[13:15]),
                tzinfo=UTC,
            )
        except ValueError:
            pass
    raise IncompleteSignatureException(
        f"Date must be in ISO-8601 'basic format'. Got '{text}'. "
        "See http://en.wikipedia.org/wiki/ISO_8601"
    )


def _check_clock(auth: Authorization, now: datetime) -> None:
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if auth.signed_at - now > MAX_SKEW:
        raise InvalidSignatureException(
            f"Signature not yet current: {auth.amz_date} is still later than "
            f"{_basic(now + MAX_SKEW)} ({_basic(now)} + 15 min.)"
        )
    if auth.presigned:
        assert auth.expires is not None
        if now > auth.signed_at + timedelta(seconds=auth.expires):
            # S3, the AWS service where presigned URLs are common, answers AccessDenied.
            raise AccessDeniedException("Request has expired")
    elif now - auth.signed_at > MAX_SKEW:
        raise InvalidSignatureException(
            f"Signature expired: {auth.amz_date} is now earlier than "
            f"{_basic(now - MAX_SKEW)} ({_basic(now)} - 15 min.)"
        )


def _basic(moment: datetime) -> str:
    # Not strftime: glibc does not zero-pad years below 1000.
    m = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    return f"{m.year:04d}{m.month:02d}{m.day:02d}T{m.hour:02d}{m.minute:02d}{m.second:02d}Z"


def _parse_http_date(text: str) -> datetime:
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        raise IncompleteSignatureException(
            f"Date must be an RFC 1123 date or X-Amz-Date must be set. Got '{text}'."
        ) from None
    # botocore writes ``formatdate()``, whose "-0000" parses as a naive (UTC) datetime.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _presign_params(query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key.startswith("X-Amz-") and key not in params:
            params[key] = _unquote(value)
    return params


def _unquote(text: str) -> str:
    return unquote_to_bytes(text.encode("utf-8", "surrogateescape")).decode("utf-8", "replace")


@lru_cache(maxsize=256)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.digest(f"AWS4{secret}".encode(), date.encode(), "sha256")
    for part in (region, service, TERMINATOR):
        key = hmac.digest(key, part.encode(), "sha256")
    return key
