"""A small, fast SigV4 header signer for the load generator, built as botocore signs rest-json.

botocore's ``SigV4Auth`` for a non-S3 service signs every header it was given except a short
deny-list; for a rest-json POST that is ``content-type``, ``host`` and ``x-amz-date``. The payload
hash is the SHA-256 of the body, never sent as a header (only S3 sends ``x-amz-content-sha256``).
The path is quoted again with ``safe="/~"``, and the query string is empty here.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from functools import lru_cache
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@lru_cache(maxsize=64)
def _canonical_uri(path: str) -> str:
    return quote(path, safe="/~")


class Signer:
    """Signs requests with one key; the derived signing key is cached per day."""

    def __init__(
        self,
        access_key_id: str,
        secret_access_key: str,
        region: str = "us-east-1",
        service: str = "scn",
    ) -> None:
        self.access_key_id = access_key_id
        self._secret = secret_access_key
        self.region = region
        self.service = service
        self._day = ""
        self._key = b""
        self._second = -1
        self._amz_date = ""

    def _signing_key(self, day: str) -> bytes:
        if day != self._day:
            key = hmac.digest(f"AWS4{self._secret}".encode(), day.encode(), "sha256")
            for part in (self.region, self.service, "aws4_request"):
                key = hmac.digest(key, part.encode(), "sha256")
            self._day, self._key = day, key
        return self._key

    def _now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
        return self._amz_date

    def headers(
        self,
        method: str,
        path: str,
        host: str,
        payload_hash: str,
        content_type: str | None = None,
        amz_date: str | None = None,
    ) -> list[tuple[str, str]]:
        """The headers to send (signed ones plus Authorization) for a request without a query."""
        amz_date = amz_date or self._now()
        day = amz_date[:8]
        if content_type is None:
            canonical_headers = f"host:{host}\nx-amz-date:{amz_date}\n"
            signed = "host;x-amz-date"
        else:
            canonical_headers = f"content-type:{content_type}\nhost:{host}\nx-amz-date:{amz_date}\n"
            signed = "content-type;host;x-amz-date"
        canonical = (
            f"{method}\n{_canonical_uri(path)}\n\n{canonical_headers}\n{signed}\n{payload_hash}"
        )
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = (
            f"{ALGORITHM}\n{amz_date}\n{scope}\n"
            + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        )
        signature = hmac.digest(self._signing_key(day), to_sign.encode("utf-8"), "sha256").hex()
        authorization = (
            f"{ALGORITHM} Credential={self.access_key_id}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}"
        )
        out = [("Host", host), ("X-Amz-Date", amz_date), ("Authorization", authorization)]
        if content_type is not None:
            out.append(("Content-Type", content_type))
        return out
