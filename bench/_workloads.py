"""What the load generator sends: signed, ready-to-write HTTP/1.1 requests, one new one per call.

Each workload is a factory that returns the buffers of one request (head and body parts). Every
request is signed in full (body hash, canonical request, HMAC), /health included, so the client
spends about the same per request whatever the workload.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from _sigv4 import Signer

#: The model's limit on ``data``, in characters.
MAX_DATA_CHARS = 1_048_576
EVENT_TYPE = "scn.data.inboundorderline"
JSON = "application/json"

Request = tuple[bytes, ...]
Factory = Callable[[], Request]


@dataclass(frozen=True)
class Target:
    """A supplylake server on loopback and the key to sign with."""

    host: str
    port: int
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"

    @property
    def host_header(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Workload:
    """``health`` (GET /health), ``event`` (one ~1 KB record) or ``bulk`` (a 1 MiB array)."""

    kind: str
    instance_id: str = ""
    #: Distinguishes eventGroupId values between runs and phases.
    tag: str = "bench"


def events_path(instance_id: str) -> str:
    return f"/api-data/data-integration/instance/{instance_id}/data-integration-events"


def _head(method: str, path: str, headers: list[tuple[str, str]], length: int | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# ---- inbound_order_line records -------------------------------------------------------------

_BASE = datetime(2025, 1, 1, tzinfo=UTC)
_STATUSES = ["OPEN", "CONFIRMED", "SHIPPED", "PARTIALLY_RECEIVED", "RECEIVED", "CANCELLED"]
_SITES = ["DC-ATL-01", "DC-DFW-02", "DC-RNO-03", "PLANT-MEX-01", "PLANT-SZX-02", "DC-ROT-04"]
_INCOTERMS = ["FOB", "CIF", "DAP", "DDP", "EXW", "FCA"]
_UOMS = ["EA", "CS", "PAL", "KG", "LB"]
_PORTS = ["Shanghai", "Rotterdam", "Long Beach", "Savannah", "Hamburg", "Singapore"]


def _stamp(rng: random.Random, days: int = 0) -> str:
    moment = _BASE + timedelta(days=days, seconds=rng.randrange(86_400 * 300))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _template(rng: random.Random) -> dict[str, Any]:
    """A filled-in inbound_order_line record (about 1 KB as JSON) without its ids."""
    qty = float(rng.randrange(1, 5000))
    cost = round(rng.uniform(0.5, 900), 2)
    return {
        "company_id": rng.choice(["ACME-US", "ACME-EU", "ACME-APAC"]),
        "tpartner_id": f"SUP-{rng.randrange(10_000):05d}",
        "line_creation_date": _stamp(rng),
        "product_id": f"SKU-{rng.randrange(1_000_000):07d}",
        "supplier_product_id": f"VND-{rng.randrange(10**8):08d}-{rng.choice('ABCDEFGH')}",
        "order_type": rng.choice(["PO", "STO", "RETURN"]),
        "status": rng.choice(_STATUSES),
        "from_site_id": rng.choice(_SITES),
        "to_site_id": rng.choice(_SITES),
        "vendor_status": rng.choice(["ACKNOWLEDGED", "PENDING", "ACCEPTED"]),
        "cost": cost,
        "cost_uom": "USD",
        "shipping_cost": round(rng.uniform(0, 120), 2),
        "tax_cost": round(cost * 0.07, 2),
        "quantity_submitted": qty,
        "quantity_confirmed": qty,
        "quantity_received": float(rng.randrange(0, int(qty) + 1)),
        "quantity_uom": rng.choice(_UOMS),
        "submitted_date": _stamp(rng),
        "expected_delivery_date": _stamp(rng, 30),
        "earliest_ship_date": _stamp(rng, 10),
        "latest_ship_date": _stamp(rng, 14),
        "incoterm": rng.choice(_INCOTERMS),
        "incoterm_location_1": f"Port of {rng.choice(_PORTS)}",
        "requisition_number": f"REQ-{rng.randrange(10**7):07d}",
        "source_update_dttm": _stamp(rng, 1),
        "source": "SAP-S4HANA",
    }


class _Records:
    """Fresh records from a pool of templates: only the ids change, so each is cheap to make."""

    def __init__(self, seed: int, pool: int = 64) -> None:
        rng = random.Random(seed)
        self._templates = [_template(rng) for _ in range(pool)]
        self._prefix = f"w{seed}"

    def record(self, n: int) -> dict[str, Any]:
        rec = dict(self._templates[n % len(self._templates)])
        order = f"PO-{self._prefix}-{n // 8:09d}"
        rec["id"] = f"{order}-{n % 8 + 1:03d}"
        rec["order_id"] = order
        rec["external_line_number"] = str(n % 8 + 1)
        rec["source_event_id"] = f"evt-{self._prefix}-{n:012d}"
        rec["inbound_order_line_url"] = f"https://erp.example.com/po/{order}/lines/{n % 8 + 1}"
        return rec

    def array(self, first: int, max_chars: int = MAX_DATA_CHARS) -> tuple[str, int]:
        """As many records as fit in ``max_chars`` characters of JSON, and their count."""
        parts: list[bytes] = []
        size = 2  # the brackets
        while True:
            item = orjson.dumps(self.record(first + len(parts)))
            if size + len(item) + (1 if parts else 0) > max_chars:
                break
            size += len(item) + (1 if parts else 0)
            parts.append(item)
        return (b"[" + b",".join(parts) + b"]").decode(), len(parts)


# ---- request factories ----------------------------------------------------------------------


def health_factory(target: Target) -> Factory:
    signer = Signer(target.access_key_id, target.secret_access_key, target.region)
    host = target.host_header

    def make() -> Request:
        payload_hash = hashlib.sha256(b"").hexdigest()
        return (
            _head("GET", "/health", signer.headers("GET", "/health", host, payload_hash), None),
        )

    return make


def event_factory(target: Target, workload: Workload, worker: int) -> Factory:
    """A new single-record event per call, with its own eventGroupId and no clientToken."""
    signer = Signer(target.access_key_id, target.secret_access_key, target.region)
    host = target.host_header
    path = events_path(workload.instance_id)
    records = _Records(seed=worker)
    seq = 0

    def make() -> Request:
        nonlocal seq
        seq += 1
        data = orjson.dumps(records.record(seq)).decode()
        body = orjson.dumps(
            {
                "eventType": EVENT_TYPE,
                "data": data,
                "eventGroupId": f"{workload.tag}-{worker}-{seq}",
            }
        )
        headers = signer.headers("POST", path, host, hashlib.sha256(body).hexdigest(), JSON)
        return _head("POST", path, headers, len(body)), body

    return make


def bulk_factory(target: Target, workload: Workload, worker: int) -> tuple[Factory, int]:
    """1 MiB arrays of records, and the records in each array.

    The ``data`` arrays are built once (two per worker, alternating); each request still gets
    its own eventGroupId, placed last in the body so the hash of the 1 MiB prefix is reused.
    Their records come from 4,096 templates, not 64: so an array compresses about as much as
    an ERP extract does (LZ4: ~4 times, zstd level 1: ~8; with 64 templates ~40), which matters
    since the stores keep large payloads packed.
    """
    signer = Signer(target.access_key_id, target.secret_access_key, target.region)
    host = target.host_header
    path = events_path(workload.instance_id)
    records = _Records(seed=1000 + worker, pool=4096)
    bodies = []
    count = 0
    for i in range(2):
        data, count = records.array(first=i * 10_000)
        prefix = orjson.dumps({"eventType": EVENT_TYPE, "data": data})[:-1]
        bodies.append((prefix, hashlib.sha256(prefix)))
    seq = 0

    def make() -> Request:
        nonlocal seq
        seq += 1
        prefix, prefix_hash = bodies[seq % len(bodies)]
        suffix = f',"eventGroupId":"{workload.tag}-{worker}-{seq}"}}'.encode()
        digest = prefix_hash.copy()
        digest.update(suffix)
        headers = signer.headers("POST", path, host, digest.hexdigest(), JSON)
        return _head("POST", path, headers, len(prefix) + len(suffix)), prefix, suffix

    return make, count


def factory(target: Target, workload: Workload, worker: int) -> tuple[Factory, int]:
    """The request factory for ``workload`` and how many records each request carries."""
    if workload.kind == "health":
        return health_factory(target), 0
    if workload.kind == "event":
        return event_factory(target, workload, worker), 1
    if workload.kind == "bulk":
        return bulk_factory(target, workload, worker)
    raise ValueError(f"unknown workload {workload.kind!r}: use health, event or bulk")
