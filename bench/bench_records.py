"""Records per second for a 1 MiB event of inbound_order_line records: parse + validate, to_arrow.

Run: ``uv run python bench/bench_records.py``. Prints figures; it never fails a build.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from supplylake.schema.arrow import records_to_arrow
from supplylake.schema.asc import ASC_INTERNAL_FIELDS, CONNECTION_ID, asc_datasets
from supplylake.schema.records import parse_records
from supplylake.schema.types import Operation
from supplylake.schema.validate import validate_records

MIB = 1 << 20
_STRINGS = [
    "company_id", "order_type", "status", "from_site_id", "to_site_id", "cost_uom",
    "quantity_uom", "incoterm", "reservation_id", "source", "source_event_id",
    "external_line_number", "vendor_status",
]  # fmt: skip
_DOUBLES = ["cost", "quantity_confirmed", "quantity_received", "shipping_cost", "tax_cost"]
_TIMESTAMPS = [
    "line_creation_date", "submitted_date", "expected_delivery_date", "confirmation_date",
    "earliest_ship_date", "latest_ship_date", "source_update_dttm", "order_receive_date",
]  # fmt: skip


def _record(rng: random.Random, i: int) -> dict[str, Any]:
    """A 30-field inbound_order_line record: 4 keys, 13 strings, 6 numbers, 8 timestamps."""
    base = datetime(2025, 1, 1, tzinfo=UTC)
    record: dict[str, Any] = {
        "id": f"line-{i:08d}",
        "order_id": f"PO-{i // 10:07d}",
        "tpartner_id": f"supplier-{rng.randrange(500)}",
        "product_id": f"SKU-{rng.randrange(100_000):06d}",
        "quantity_submitted": rng.randrange(1, 1000),
    }
    for name in _STRINGS:
        record[name] = f"{name}-{rng.randrange(1000)}"
    for name in _DOUBLES:
        record[name] = round(rng.uniform(0, 10_000), 2)
    for j, name in enumerate(_TIMESTAMPS):
        moment = base + timedelta(seconds=rng.randrange(86_400 * 365))
        # The accepted spellings: Z, offset, fraction, naive, date only.
        record[name] = [
            moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            moment.isoformat(),
            moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            moment.strftime("%Y-%m-%d %H:%M:%S"),
            moment.strftime("%Y-%m-%d"),
        ][j % 5]  # one spelling per field, as a client would send
    return record


def _payload(size: int = MIB) -> str:
    rng = random.Random(42)
    records: list[dict[str, Any]] = []
    length = 2
    while True:
        record = _record(rng, len(records))
        length += len(orjson.dumps(record)) + 1
        if length > size:
            return orjson.dumps(records).decode()
        records.append(record)


def _rate(label: str, count: int, run: Callable[[], object], repeat: int = 15) -> None:
    best = min(_timed(run) for _ in range(repeat))
    print(f"{label:<28} {count / best:>12,.0f} records/s  ({best * 1000:.1f} ms per MiB)")


def _timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    schema = asc_datasets()["inbound_order_line"]
    data = _payload()
    records = parse_records(data)
    count = len(records)
    print(f"{count} records, {len(data):,} characters, {len(records[0])} fields each")

    def validate() -> None:
        validate_records(records, schema, Operation.UPSERT, internal_fields=ASC_INTERNAL_FIELDS)

    def parse_and_validate() -> None:
        parsed = parse_records(data)
        validate_records(parsed, schema, Operation.UPSERT, internal_fields=ASC_INTERNAL_FIELDS)

    def to_arrow() -> None:
        records_to_arrow(records, schema, fill={CONNECTION_ID: "api"})

    validate()
    _rate("parse", count, lambda: parse_records(data))
    _rate("validate", count, validate)
    _rate("parse + validate", count, parse_and_validate)
    _rate("records_to_arrow", count, to_arrow)


if __name__ == "__main__":
    main()
