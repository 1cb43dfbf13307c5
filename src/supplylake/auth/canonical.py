"""SigV4 canonical request forms, rebuilt from a request as received to match botocore's.

Inputs are raw: the path and query still percent-encoded, exactly as sent on the wire.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote, quote_from_bytes, unquote_to_bytes

_PLAIN_PATH = re.compile(r"[A-Za-z0-9\-_.~/%]*")
_UNRESERVED = re.compile(r"[A-Za-z0-9\-_.~]*")


def canonical_uri(raw_path: str) -> str:
    """The canonical URI of a raw path: dot segments removed, then percent-encoded again."""
    # botocore quotes the already-encoded path again for every service but S3: '%3A' is
    # signed as '%253A'.
    if not raw_path:
        return "/"
    if "//" in raw_path or "/." in raw_path or raw_path[0] == ".":
        raw_path = remove_dot_segments(raw_path)
    if _PLAIN_PATH.fullmatch(raw_path):  # urllib's quote() is slow; this is its result here
        return raw_path.replace("%", "%25")
    return quote(raw_path, safe="/~", errors="surrogateescape")


def remove_dot_segments(path: str) -> str:
    """botocore's ``remove_dot_segments``: RFC 3986 5.2.4 plus collapsing empty segments."""
    if not path:
        return ""
    out: list[str] = []
    for segment in path.split("/"):
        if not segment or segment == ".":
            continue
        if segment == "..":
            if out:
                out.pop()
        else:
            out.append(segment)
    first = "/" if path[0] == "/" else ""
    last = "/" if path[-1] == "/" and out else ""
    return first + "/".join(out) + last


def canonical_queries(query: str, *, presigned: bool) -> list[str]:
    """The canonical query strings a signer may have meant by this raw query, likeliest first."""
    # Conforming signers send a literal '+' as %2B, yet botocore's ``AWSRequest(params=...)``
    # and many form encoders send a space as '+' while signing %20. Try the RFC 3986 reading
    # first, the form reading only when it could differ.
    candidates = [_canonical_query(query, presigned, plus_is_space=False)]
    if "+" in query:
        candidates.append(_canonical_query(query, presigned, plus_is_space=True))
        # botocore's SigV4Auth given a URL that already holds '+' (from a form encoder, as in
        # ``requests``) signs the query verbatim, '+' and all.
        candidates.append(_verbatim_query(query, presigned))
    return candidates


def _verbatim_query(query: str, presigned: bool) -> str:
    pairs = [part.partition("=") for part in query.split("&")]
    kept = sorted(
        (key, value) for key, _, value in pairs if not (presigned and key == "X-Amz-Signature")
    )
    return "&".join(f"{key}={value}" for key, value in kept)


def _canonical_query(query: str, presigned: bool, *, plus_is_space: bool) -> str:
    if not query:
        return ""
    # botocore signs its URL's query verbatim, but it wrote that query with RFC 3986 encoding;
    # decoding and re-encoding recovers it, and also the form other SDKs sign.
    pairs = []
    for part in query.split("&"):
        key, _, value = part.partition("=")
        key = _normalize_component(key, plus_is_space)
        if presigned and key == "X-Amz-Signature":
            continue
        pairs.append((key, _normalize_component(value, plus_is_space)))
    pairs.sort()
    return "&".join(f"{key}={value}" for key, value in pairs)


def _normalize_component(text: str, plus_is_space: bool) -> str:
    if _UNRESERVED.fullmatch(text):
        return text
    if plus_is_space:
        text = text.replace("+", " ")
    raw = unquote_to_bytes(text.encode("utf-8", "surrogateescape"))
    return quote_from_bytes(raw, safe="-_.~")


def canonical_headers(headers: Sequence[tuple[str, str]], signed: tuple[str, ...]) -> str:
    """The canonical header block for the ``signed`` (lowercase, sorted) header names."""
    found: dict[str, str] = {}
    for name, value in headers:
        name = name.lower()
        if name in signed:
            value = " ".join(value.split())
            prior = found.get(name)
            found[name] = value if prior is None else f"{prior},{value}"
    return "\n".join([f"{name}:{found.get(name, '')}" for name in signed])
