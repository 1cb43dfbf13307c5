"""Compaction, snapshot expiry and the conflicts between writers."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from supplylake.lake import Change, Lake
from supplylake.schema.types import (
    DatasetSchema,
    Field,
    FieldType,
    Operation,
    PartitionField,
    Transform,
)
from tests.schemas import KV

from .conftest import INSTANCE
from .rows import canonical, table

BY_SITE = DatasetSchema(
    "by_site",
    (Field("k", FieldType.LONG, required=True), Field("site", FieldType.STRING)),
    primary_keys=("k",),
    partition_spec=(PartitionField("site", Transform.IDENTITY),),
)


def append(lake: Lake, schema: DatasetSchema, position: int, rows: list[dict[str, object]]) -> None:
    change = Change(Operation.APPEND, table(schema, rows))
    lake.apply_batch(INSTANCE, "default", schema, [change], position)


def data_files(lake: Lake, name: str) -> int:
    return len(list(lake.table(INSTANCE, "default", name).scan().plan_files()))


def parquet_on_disk(tmp_path: Path) -> int:
    return len(list((tmp_path / "warehouse").rglob("*.parquet")))


def test_compaction_keeps_the_rows_and_the_position(lake: Lake) -> None:
    lake.create_table(INSTANCE, "default", KV)
    for i in range(1, 6):
        append(lake, KV, i, [{"k": f"k{i}", "v": i}, {"k": "dup", "v": i}])
    before = canonical(lake.scan(INSTANCE, "default", "kv"))

    result = lake.compact(INSTANCE, "default", "kv")

    assert (result.files_before, result.files_after) == (5, 1)
    assert canonical(lake.scan(INSTANCE, "default", "kv")) == before
    assert lake.last_position(INSTANCE, "default", "kv") == 5
    assert lake.compact(INSTANCE, "default", "kv").snapshot_id is None  # nothing left to do


def test_compaction_rewrites_only_fragmented_partitions(lake: Lake) -> None:
    lake.create_table(INSTANCE, "default", BY_SITE)
    append(lake, BY_SITE, 1, [{"k": 1, "site": "a"}, {"k": 2, "site": "b"}, {"k": 3, "site": None}])
    append(lake, BY_SITE, 2, [{"k": 4, "site": "a"}])

    result = lake.compact(INSTANCE, "default", "by_site")

    assert (result.files_before, result.files_after) == (2, 1)
    assert data_files(lake, "by_site") == 3
    assert sorted(r["k"] for r in lake.scan(INSTANCE, "default", "by_site").to_pylist()) == [
        1,
        2,
        3,
        4,
    ]


def test_expiry_drops_old_snapshots_and_the_files_only_they_used(
    lake: Lake, tmp_path: Path
) -> None:
    lake.create_table(INSTANCE, "default", KV)
    for i in range(1, 5):
        append(lake, KV, i, [{"k": f"k{i}", "v": i}])
    lake.compact(INSTANCE, "default", "kv")
    assert parquet_on_disk(tmp_path) == 5

    expired = lake.expire_snapshots(INSTANCE, "default", "kv")

    assert expired == 4
    assert len(lake.table(INSTANCE, "default", "kv").snapshots()) == 1
    assert parquet_on_disk(tmp_path) == 1
    assert lake.row_count(INSTANCE, "default", "kv") == 4
    assert lake.last_position(INSTANCE, "default", "kv") == 4


def test_maybe_maintain_acts_only_past_its_thresholds(lake: Lake) -> None:
    lake.create_table(INSTANCE, "default", KV)
    for i in range(1, 5):
        append(lake, KV, i, [{"k": f"k{i}", "v": i}])

    idle = lake.maybe_maintain(INSTANCE, "default", "kv", max_data_files=4, max_snapshots=4)
    assert (idle.compacted, idle.snapshots_expired) == (None, 0)

    append(lake, KV, 5, [{"k": "k5", "v": 5}])
    done = lake.maybe_maintain(
        INSTANCE,
        "default",
        "kv",
        max_data_files=4,
        max_snapshots=4,
        retain_last=2,
        min_snapshot_age=timedelta(0),
    )
    assert done.compacted is not None and done.compacted.files_after == 1
    assert done.snapshots_expired == 4  # 6 snapshots with the compaction; the newest 2 stay
    assert lake.row_count(INSTANCE, "default", "kv") == 5


def test_concurrent_writers_to_one_table_all_land_without_duplicate_keys(lake: Lake) -> None:
    """Two loaders upsert the same keys while a third compacts: conflicts are redone."""
    lake.create_table(INSTANCE, "default", KV)
    append(lake, KV, 1, [{"k": f"k{i}", "v": 0} for i in range(10)])
    errors: list[BaseException] = []

    def upserts(writer: int) -> None:
        try:
            for n in range(6):
                rows = table(KV, [{"k": f"k{i}", "v": writer * 100 + n} for i in range(10)])
                lake.apply_batch(INSTANCE, "default", KV, [Change(Operation.UPSERT, rows)], 2)
        except BaseException as e:  # surfaced below
            errors.append(e)

    def compactions() -> None:
        try:
            for _ in range(3):
                lake.compact(INSTANCE, "default", "kv")
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=upserts, args=(w,)) for w in (1, 2)]
    threads.append(threading.Thread(target=compactions))
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    keys = [r["k"] for r in lake.scan(INSTANCE, "default", "kv").to_pylist()]
    assert sorted(keys) == sorted(f"k{i}" for i in range(10))


class _StaleOnce(Lake):
    """Hands out the table, then lets another writer commit before the caller does."""

    interloper: Lake
    raced = 0

    def table(self, instance_id: str, namespace: str, name: str) -> Any:
        loaded = super().table(instance_id, namespace, name)
        if not self.raced:
            self.raced += 1
            append(self.interloper, KV, 2, [{"k": "a", "v": 99}])
        return loaded


def test_an_upsert_raced_by_an_append_of_its_key_is_redone(lake: Lake, tmp_path: Path) -> None:
    lake.create_table(INSTANCE, "default", KV)
    append(lake, KV, 1, [{"k": "a", "v": 1}])
    racing = _StaleOnce(f"sqlite:///{tmp_path / 'supplylake.db'}", str(tmp_path / "warehouse"))
    racing.interloper = lake

    rows = table(KV, [{"k": "a", "v": 2}])
    racing.apply_batch(INSTANCE, "default", KV, [Change(Operation.UPSERT, rows)], 3)
    racing.close()

    assert racing.raced == 1
    assert lake.scan(INSTANCE, "default", "kv").to_pylist() == [{"k": "a", "v": 2}]
    assert lake.last_position(INSTANCE, "default", "kv") == 3


def test_maintenance_lands_beside_a_writer_committing_back_to_back(lake: Lake) -> None:
    """With `exclusive`, compaction and expiry commit even when a writer never pauses."""
    lake.create_table(INSTANCE, "default", KV)
    for i in range(1, 41):
        append(lake, KV, i, [{"k": f"k{i}", "v": i}])
    writers = threading.Lock()  # what the loader's dataset lease is to maintenance
    stop = threading.Event()
    position = [40]
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            while not stop.is_set():
                with writers:
                    position[0] += 1
                    n = position[0]
                    append(lake, KV, n, [{"k": f"k{n}", "v": n}])
        except BaseException as exc:
            errors.append(exc)

    held: list[int] = []  # the table's snapshot when maintenance let the writer in again

    @contextlib.contextmanager
    def exclusive() -> Iterator[None]:
        with writers:
            yield
            held.append(lake.table(INSTANCE, "default", "kv").current_snapshot().snapshot_id)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        done = lake.maybe_maintain(
            INSTANCE,
            "default",
            "kv",
            max_data_files=8,
            max_snapshots=8,
            retain_last=2,
            min_snapshot_age=timedelta(0),
            exclusive=exclusive,
        )
    finally:
        stop.set()
        thread.join()
    assert not errors
    assert done.compacted is not None and done.compacted.snapshot_id is not None
    assert done.snapshots_expired > 0
    # Compaction committed while it held the writer off, and so did expiry.
    assert len(held) == 2 and held[0] == done.compacted.snapshot_id
    keys = lake.scan(INSTANCE, "default", "kv").column("k").to_pylist()
    assert sorted(keys) == sorted(f"k{i}" for i in range(1, position[0] + 1))
    assert lake.last_position(INSTANCE, "default", "kv") == position[0]
