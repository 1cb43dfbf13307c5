"""How much a loader reads per batch: events, and bytes of event data."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from supplylake.lake import Change
from supplylake.loader import apply
from supplylake.loader.loop import Loader
from supplylake.schema.arrow import json_to_arrow
from supplylake.schema.types import Operation
from supplylake.store.base import DatasetRef, Event
from supplylake.store.sqlite import SqliteStore
from tests.schemas import DAILY

REF = DatasetRef("4f1c2e0a-9b7d-4c3e-8f6a-5b4c3d2e1f0a", "default", "rows")
AT = datetime(2026, 1, 1, tzinfo=UTC)


def _event(position: int, size: int) -> Event:
    return Event(
        position=position,
        event_id=f"e{position}",
        instance_id=REF.instance_id,
        event_type="scn.data.dataset",
        event_group_id="g",
        event_timestamp=AT,
        namespace=REF.namespace,
        dataset=REF.name,
        operation=Operation.APPEND,
        status="IN_PROGRESS",
        received_at=AT,
        data="x" * size,
    )


@pytest.fixture
def loader(tmp_path: Path) -> Iterator[Loader]:
    store = SqliteStore(tmp_path / "supplylake.db")
    lake: Any = None  # batches are sized before the lake is touched
    loader = Loader(store, lake, batch_events=1000, batch_bytes=1000)
    yield loader
    loader.leases.close()
    store.close()


def test_small_events_fill_a_batch_by_count(loader: Loader) -> None:
    events = [_event(n, 1) for n in range(1, 11)]
    assert loader._within_bytes(REF, events) == events
    assert loader._limit(REF) == 1000


def test_a_batch_stops_at_its_bytes_and_the_next_read_is_sized_by_them(loader: Loader) -> None:
    events = [_event(n, 300) for n in range(1, 11)]
    kept = loader._within_bytes(REF, events)
    assert [e.position for e in kept] == [1, 2, 3]  # 900 bytes; the fourth would pass 1,000
    assert loader._limit(REF) == 3  # 1,000 bytes / 300 per event


def test_one_event_larger_than_the_cap_still_loads_alone(loader: Loader) -> None:
    events = [_event(1, 5000), _event(2, 10)]
    assert [e.position for e in loader._within_bytes(REF, events)] == [1]
    assert loader._limit(REF) == 1
    # Small events again: the limit grows back.
    loader._within_bytes(REF, [_event(3, 10)])
    assert loader._limit(REF) == 100


def _data_event(position: int, data: str) -> Event:
    return dataclasses.replace(_event(position, 0), operation=Operation.UPSERT, data=data)


def test_small_and_large_texts_convert_to_the_same_rows_by_their_own_readers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(apply, "_SMALL_CHARS", 200)
    read_by_pyarrow: list[int] = []

    def counting(texts: Sequence[str], *args: Any, **kwargs: Any) -> pa.Table | None:
        table = json_to_arrow(texts, *args, **kwargs)
        read_by_pyarrow.append(0 if table is None else table.num_rows)
        return table

    monkeypatch.setattr(apply, "json_to_arrow", counting)
    records = [
        {"k": 1, "at": "2026-01-01T08:00:00Z", "v": 5},
        {"k": 2, "at": None, "v": None},
        {"k": 3, "at": "2026-01-02T23:59:59.123456Z"},
    ]
    small = [_data_event(n, json.dumps(r)) for n, r in enumerate(records, 1)]
    large = [_data_event(n, json.dumps([r], indent=16)) for n, r in enumerate(records, 1)]
    assert sum(len(e.data or "") for e in small) <= 200 < sum(len(e.data or "") for e in large)

    parsed = apply._convert(small, DAILY, None, "default.daily", False)
    assert read_by_pyarrow == []
    read = apply._convert(large, DAILY, None, "default.daily", False)
    assert read_by_pyarrow == [3]

    assert isinstance(parsed, Change) and isinstance(read, Change)
    assert parsed.operation is read.operation is Operation.UPSERT
    assert parsed.rows.equals(read.rows, check_metadata=True)
    assert parsed.rows.column("k").to_pylist() == [1, 2, 3]
