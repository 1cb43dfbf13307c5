"""Shared parts of the loader benchmarks: schemas, records, signed event requests, figures.

Requests are signed with the load generator's ``Signer`` (``_sigv4.py``); the clients here also
read the answer's body, which the load generator drops, because the benchmarks need each
event's ``eventId``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from _sigv4 import Signer
from _workloads import MAX_DATA_CHARS, Target, events_path
from supplylake.schema.asc import asc_datasets
from supplylake.schema.types import DatasetSchema, Field, FieldType, Operation

JSON = "application/json"
DATASET_EVENT = "scn.data.dataset"

_ORDER_LINE_FIELDS = 31
_KEY = ("id", "order_id", "tpartner_id", "product_id")


def order_lines_schema(name: str) -> DatasetSchema:
    """A custom dataset shaped like asc ``inbound_order_line``: its first 31 fields and its key."""
    fields = asc_datasets()["inbound_order_line"].fields[:_ORDER_LINE_FIELDS]
    return DatasetSchema(name=name, fields=tuple(fields), primary_keys=_KEY)


def small_schema(name: str) -> DatasetSchema:
    """A narrow custom dataset (7 fields, key ``id``)."""
    return DatasetSchema(
        name=name,
        fields=(
            Field("id", FieldType.STRING, required=True),
            Field("grp", FieldType.STRING),
            Field("seq", FieldType.LONG),
            Field("qty", FieldType.INT),
            Field("price", FieldType.DOUBLE),
            Field("site", FieldType.STRING),
            Field("at", FieldType.TIMESTAMP),
        ),
        primary_keys=("id",),
    )


def api_schema(schema: DatasetSchema) -> dict[str, Any]:
    """CreateDataLakeDataset's ``schema`` parameter for ``schema``."""
    out: dict[str, Any] = {
        "name": "".join(part.capitalize() for part in schema.name.split("_")),
        "fields": [
            {"name": f.name, "type": f.type.value, "isRequired": f.required} for f in schema.fields
        ],
    }
    if schema.primary_keys:
        out["primaryKeys"] = [{"name": k} for k in schema.primary_keys]
    return out


# ---- records --------------------------------------------------------------------------------

_BASE = datetime(2026, 1, 1, tzinfo=UTC)
_WORDS = ["OPEN", "CONFIRMED", "SHIPPED", "RECEIVED", "CANCELLED", "DC-ATL-01", "PLANT-MEX-02"]


def record(schema: DatasetSchema, n: int, key: int | None = None) -> dict[str, Any]:
    """Record ``n`` of ``schema`` with every field set; key fields come from ``key`` (default n).

    Values are derived from ``n`` (strings of 8-24 characters, as ERP extracts have), so the
    same ``n`` always gives the same record.
    """
    k = n if key is None else key
    out: dict[str, Any] = {}
    for i, f in enumerate(schema.fields):
        if f.name in schema.primary_keys:
            out[f.name] = f"{f.name[:3].upper()}-{k:010d}"
        elif f.type is FieldType.STRING:
            out[f.name] = f"{_WORDS[(n + i) % len(_WORDS)]}-{(n * 31 + i) % 100_000:05d}"
        elif f.type is FieldType.INT:
            out[f.name] = (n * 7 + i) % 100_000
        elif f.type is FieldType.LONG:
            out[f.name] = n
        elif f.type is FieldType.DOUBLE:
            out[f.name] = round(((n * 13 + i) % 1_000_000) / 100, 2)
        else:
            moment = _BASE + timedelta(seconds=(n * 97 + i * 3_600) % (86_400 * 365))
            out[f.name] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def records_json(schema: DatasetSchema, first: int, count: int) -> str:
    """``data`` holding records ``first`` .. ``first + count - 1`` as a JSON array."""
    data = orjson.dumps([record(schema, n) for n in range(first, first + count)]).decode()
    if len(data) > MAX_DATA_CHARS:
        raise ValueError(f"{count} records take {len(data):,} characters: over the 1 MiB limit")
    return data


# ---- signed requests ------------------------------------------------------------------------


def event_body(
    event_type: str,
    data: str,
    group: str,
    dataset_arn: str | None = None,
    operation: Operation = Operation.APPEND,
) -> bytes:
    body: dict[str, Any] = {"eventType": event_type, "data": data, "eventGroupId": group}
    if dataset_arn is not None:
        body["datasetTarget"] = {"datasetIdentifier": dataset_arn, "operationType": operation}
    return orjson.dumps(body)


def signed_post(signer: Signer, target: Target, path: str, body: bytes) -> bytes:
    """The bytes of a signed HTTP/1.1 POST of ``body`` (keep-alive)."""
    headers = signer.headers(
        "POST", path, target.host_header, hashlib.sha256(body).hexdigest(), JSON
    )
    lines = [f"POST {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers)]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def signer_for(target: Target) -> Signer:
    return Signer(target.access_key_id, target.secret_access_key, target.region)


class EventClient:
    """SendDataIntegrationEvent over one keep-alive connection, one request at a time."""

    def __init__(self, target: Target, instance_id: str) -> None:
        self.target = target
        self.path = events_path(instance_id)
        self.signer = signer_for(target)
        self.conn = http.client.HTTPConnection(target.host, target.port, timeout=120)

    def send(self, body: bytes) -> str:
        """Send one event; its eventId (raises on any answer but 200)."""
        headers = dict(
            self.signer.headers(
                "POST", self.path, self.target.host_header, hashlib.sha256(body).hexdigest(), JSON
            )
        )
        self.conn.request("POST", self.path, body=body, headers=headers)
        response = self.conn.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"SendDataIntegrationEvent: {response.status} {payload[:300]!r}")
        return str(orjson.loads(payload)["eventId"])

    def close(self) -> None:
        self.conn.close()


# ---- set-up and figures ---------------------------------------------------------------------


def active_instance(client: Any, name: str) -> str:
    """Create an instance and wait until it is Active."""
    instance_id: str = client.create_instance(instanceName=name)["instance"]["instanceId"]
    deadline = time.monotonic() + 30
    while client.get_instance(instanceId=instance_id)["instance"]["state"] != "Active":
        if time.monotonic() > deadline:
            raise RuntimeError(f"instance {instance_id} did not become Active")
        time.sleep(0.05)
    return instance_id


def percentile(sorted_values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of already sorted values."""
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (Linux)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def files_under(path: str) -> int:
    return sum(len(names) for _, _, names in os.walk(path))


class Busy:
    """Cores kept busy between construction and ``stop()``: by this machine, by given processes."""

    def __init__(self, *pids: int) -> None:
        self.pids = pids or (os.getpid(),)
        self._wall = time.perf_counter()
        self._machine = machine_busy_seconds()
        self._own = [process_cpu_seconds(pid) for pid in self.pids]
        self.machine = self.ours = self.seconds = 0.0
        self.each: list[float] = []  # cores kept busy by each of ``pids``, in their order

    def stop(self) -> Busy:
        wall = self.seconds = time.perf_counter() - self._wall
        self.machine = (machine_busy_seconds() - self._machine) / wall
        ended = [process_cpu_seconds(pid) for pid in self.pids]
        self.each = [(b - a) / wall for a, b in zip(self._own, ended, strict=True)]
        self.ours = sum(self.each)
        return self

    def warning(self, also_ours: float = 0.0) -> str:
        """A warning line when other processes kept more than a quarter core busy, else ''."""
        others = self.machine - self.ours - also_ours
        if others <= 0.25:
            return ""
        return (
            f"WARNING: other processes on this machine kept {others:.2f} cores busy during the "
            "run; figures are low, rerun on a quiet machine"
        )
