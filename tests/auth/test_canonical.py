"""Canonical request forms, checked against botocore's own."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from botocore.utils import normalize_url_path
from hypothesis import given
from hypothesis import strategies as st

from supplylake.auth.canonical import (
    canonical_headers,
    canonical_queries,
    canonical_uri,
    remove_dot_segments,
)
from supplylake.auth.sigv4 import SignedRequest


@pytest.mark.parametrize(
    ("raw_path", "canonical"),
    [
        ("", "/"),
        ("/", "/"),
        ("/api/tags/arn%3Aaws%3Ascn%2Fx", "/api/tags/arn%253Aaws%253Ascn%252Fx"),
        ("/api//instance/./a/../b/", "/api/instance/b/"),
        ("/a b/é", "/a%20b/%C3%A9"),
        ("/~user/x-y_z.json", "/~user/x-y_z.json"),
    ],
)
def test_double_encodes_the_raw_path_like_botocore(raw_path: str, canonical: str) -> None:
    assert canonical_uri(raw_path) == canonical


@given(st.text(st.sampled_from("/.a%~:é +"), max_size=20))
def test_path_canonicalization_matches_botocore(path: str) -> None:
    assert canonical_uri(path) == quote(normalize_url_path(path), safe="/~")
    assert remove_dot_segments(path) == (normalize_url_path(path) if path else "")


def test_keeps_undecodable_path_bytes() -> None:
    scope = {"method": "GET", "raw_path": b"/a/\xff", "query_string": b"", "headers": []}
    assert canonical_uri(SignedRequest.from_scope(scope, b"").raw_path) == "/a/%FF"


@pytest.mark.parametrize(
    ("query", "presigned", "expected"),
    [
        ("", False, [""]),
        ("b=2&a=3&a=1&flag", False, ["a=1&a=3&b=2&flag="]),
        ("k=%7e%2b%41", False, ["k=~%2BA"]),
        ("k=a+b", False, ["k=a%2Bb", "k=a%20b", "k=a+b"]),
        ("k=a+%C3%A9&X-Amz-Signature=s", True, ["k=a%2B%C3%A9", "k=a%20%C3%A9", "k=a+%C3%A9"]),
        ("X-Amz-Signature=abc&x=1", True, ["x=1"]),
        ("X-Amz-Signature=abc&x=1", False, ["X-Amz-Signature=abc&x=1"]),
        ("k=%FF", False, ["k=%FF"]),
    ],
)
def test_normalizes_sorts_and_reads_plus_both_ways(
    query: str, presigned: bool, expected: list[str]
) -> None:
    assert canonical_queries(query, presigned=presigned) == expected


def test_trims_lowercases_and_joins_signed_headers() -> None:
    headers = [("Host", "h"), ("X-A", "  one   two "), ("x-a", "three"), ("X-B", "unsigned")]
    assert canonical_headers(headers, ("host", "x-a", "x-c")) == "host:h\nx-a:one two,three\nx-c:"
