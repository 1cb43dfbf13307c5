"""apply_batch against real Iceberg tables."""

from __future__ import annotations

from typing import Any

import pytest

from supplylake.lake import Change, Lake
from supplylake.schema.types import (
    DatasetSchema,
    Field,
    FieldType,
    Operation,
    PartitionField,
    Transform,
)
from tests.schemas import DAILY, KV

from .conftest import INSTANCE
from .rows import canonical, table, ts


def apply(
    lake: Lake, schema: DatasetSchema, position: int, *changes: tuple[Operation, list[Any]]
) -> Any:
    return lake.apply_batch(
        INSTANCE,
        "default",
        schema,
        [Change(op, table(schema, rows)) for op, rows in changes],
        position,
    )


def rows_of(lake: Lake, schema: DatasetSchema) -> list[tuple[Any, ...]]:
    return canonical(lake.scan(INSTANCE, "default", schema.name))


@pytest.fixture
def kv(lake: Lake) -> Lake:
    lake.create_table(INSTANCE, "default", KV)
    return lake


def test_append_keeps_duplicates_and_records_the_position(kv: Lake) -> None:
    result = apply(kv, KV, 7, (Operation.APPEND, [{"k": "a", "v": 1}, {"k": "a", "v": 1}]))

    assert rows_of(kv, KV) == canonical([{"k": "a", "v": 1}, {"k": "a", "v": 1}])
    assert (result.rows_added, result.rows_removed, result.position) == (2, 0, 7)
    assert kv.last_position(INSTANCE, "default", "kv") == 7
    assert kv.row_count(INSTANCE, "default", "kv") == 2


def test_last_position_is_zero_for_a_new_table(kv: Lake) -> None:
    assert kv.last_position(INSTANCE, "default", "kv") == 0


def test_a_batch_is_one_snapshot(kv: Lake) -> None:
    apply(kv, KV, 1, (Operation.APPEND, [{"k": "a", "v": 1}, {"k": "b", "v": 1}]))
    result = apply(
        kv,
        KV,
        2,
        (Operation.UPSERT, [{"k": "a", "v": 2}]),
        (Operation.APPEND, [{"k": "c", "v": 3}]),
        (Operation.DELETE, [{"k": "b"}]),
    )
    tbl = kv.table(INSTANCE, "default", "kv")
    assert len(tbl.snapshots()) == 2
    assert tbl.current_snapshot().snapshot_id == result.snapshot_id
    assert tbl.current_snapshot().summary["supplylake.position"] == "2"
    assert rows_of(kv, KV) == canonical([{"k": "a", "v": 2}, {"k": "c", "v": 3}])


def test_upsert_collapses_existing_duplicates_to_one_row(kv: Lake) -> None:
    apply(
        kv, KV, 1, (Operation.APPEND, [{"k": "a", "v": 1}, {"k": "a", "v": 2}, {"k": "b", "v": 3}])
    )
    apply(kv, KV, 2, (Operation.APPEND, [{"k": "a", "v": 4}]))  # a duplicate in another file

    result = apply(kv, KV, 3, (Operation.UPSERT, [{"k": "a", "v": 5}]))

    assert rows_of(kv, KV) == canonical([{"k": "a", "v": 5}, {"k": "b", "v": 3}])
    assert result.rows_removed == 3
    assert result.files_touched == 2


def test_upsert_of_a_new_key_inserts_it(kv: Lake) -> None:
    apply(kv, KV, 1, (Operation.APPEND, [{"k": "a", "v": 1}]))
    result = apply(kv, KV, 2, (Operation.UPSERT, [{"k": "b", "v": 2}]))
    assert rows_of(kv, KV) == canonical([{"k": "a", "v": 1}, {"k": "b", "v": 2}])
    assert (result.rows_removed, result.files_touched) == (0, 0)


def test_upsert_then_delete_in_one_batch_leaves_no_row(kv: Lake) -> None:
    apply(kv, KV, 1, (Operation.APPEND, [{"k": "a", "v": 1}]))
    apply(
        kv,
        KV,
        2,
        (Operation.UPSERT, [{"k": "a", "v": 2}, {"k": "n", "v": 3}]),
        (Operation.DELETE, [{"k": "a"}, {"k": "n"}]),
    )
    assert rows_of(kv, KV) == []
    assert kv.last_position(INSTANCE, "default", "kv") == 2


def test_delete_removes_every_duplicate_and_ignores_unknown_keys(kv: Lake) -> None:
    apply(
        kv, KV, 1, (Operation.APPEND, [{"k": "a", "v": 1}, {"k": "a", "v": 2}, {"k": "b", "v": 3}])
    )
    apply(kv, KV, 2, (Operation.APPEND, [{"k": "a", "v": 4}]))
    apply(kv, KV, 3, (Operation.DELETE, [{"k": "a"}, {"k": "zz"}]))
    assert rows_of(kv, KV) == canonical([{"k": "b", "v": 3}])


def test_a_batch_that_changes_nothing_still_records_its_position(kv: Lake) -> None:
    apply(kv, KV, 1, (Operation.APPEND, [{"k": "a", "v": 1}]))
    apply(kv, KV, 2, (Operation.DELETE, [{"k": "missing"}]))
    apply(kv, KV, 3, (Operation.APPEND, []))
    assert kv.last_position(INSTANCE, "default", "kv") == 3
    assert rows_of(kv, KV) == canonical([{"k": "a", "v": 1}])


def test_keys_match_across_batches_and_files(kv: Lake) -> None:
    for position in range(1, 6):
        apply(kv, KV, position, (Operation.APPEND, [{"k": f"k{position}", "v": position}]))
    apply(kv, KV, 6, (Operation.UPSERT, [{"k": "k2", "v": 20}, {"k": "k4", "v": 40}]))
    apply(kv, KV, 7, (Operation.DELETE, [{"k": "k1"}]))
    assert rows_of(kv, KV) == canonical(
        [{"k": "k2", "v": 20}, {"k": "k3", "v": 3}, {"k": "k4", "v": 40}, {"k": "k5", "v": 5}]
    )


def test_only_the_files_holding_a_key_get_deletes(kv: Lake) -> None:
    apply(kv, KV, 1, (Operation.APPEND, [{"k": "a", "v": 1}]))
    apply(kv, KV, 2, (Operation.APPEND, [{"k": "b", "v": 2}]))
    result = apply(kv, KV, 3, (Operation.UPSERT, [{"k": "b", "v": 3}]))
    assert result.files_touched == 1  # the key index finds "b" in its own file only


def test_upsert_and_delete_match_within_the_partition(lake: Lake) -> None:
    lake.create_table(INSTANCE, "default", DAILY)
    day1, day1_late, day2 = ts("2024-01-01T08:00"), ts("2024-01-01T22:00"), ts("2024-01-02T08:00")
    apply(
        lake,
        DAILY,
        1,
        (
            Operation.APPEND,
            [
                {"k": 1, "at": day1, "v": 1},
                {"k": 1, "at": day2, "v": 2},
                {"k": 1, "at": None, "v": 3},
                {"k": 2, "at": None, "v": 4},
            ],
        ),
    )
    apply(lake, DAILY, 2, (Operation.UPSERT, [{"k": 1, "at": day1_late, "v": 5}]))
    assert rows_of(lake, DAILY) == canonical(
        [
            {"k": 1, "at": day1_late, "v": 5},
            {"k": 1, "at": day2, "v": 2},
            {"k": 1, "at": None, "v": 3},
            {"k": 2, "at": None, "v": 4},
        ]
    )
    apply(lake, DAILY, 3, (Operation.DELETE, [{"k": 1, "at": None}]))
    assert rows_of(lake, DAILY) == canonical(
        [
            {"k": 1, "at": day1_late, "v": 5},
            {"k": 1, "at": day2, "v": 2},
            {"k": 2, "at": None, "v": 4},
        ]
    )


def test_a_composite_key_with_an_identity_partition(lake: Lake) -> None:
    schema = DatasetSchema(
        "lines",
        (
            Field("order_id", FieldType.STRING, required=True),
            Field("line", FieldType.INT, required=True),
            Field("site", FieldType.STRING),
            Field("qty", FieldType.DOUBLE),
        ),
        primary_keys=("order_id", "line"),
        partition_spec=(PartitionField("site", Transform.IDENTITY),),
    )
    lake.create_table(INSTANCE, "default", schema)
    apply(
        lake,
        schema,
        1,
        (
            Operation.APPEND,
            [
                {"order_id": "o1", "line": 1, "site": "x", "qty": 1.0},
                {"order_id": "o1", "line": 2, "site": "x", "qty": 2.0},
                {"order_id": "o1", "line": 1, "site": "y", "qty": 3.0},
            ],
        ),
    )
    apply(
        lake,
        schema,
        2,
        (Operation.UPSERT, [{"order_id": "o1", "line": 1, "site": "x", "qty": 9.5}]),
    )
    assert rows_of(lake, schema) == canonical(
        [
            {"order_id": "o1", "line": 1, "site": "x", "qty": 9.5},
            {"order_id": "o1", "line": 2, "site": "x", "qty": 2.0},
            {"order_id": "o1", "line": 1, "site": "y", "qty": 3.0},
        ]
    )


def test_an_upsert_touching_many_files_indexes_them_all(kv: Lake) -> None:
    """More files than pyiceberg's worker threads (a nested use of its pool deadlocked)."""
    for position in range(1, 13):
        apply(kv, KV, position, (Operation.APPEND, [{"k": "same", "v": position}]))
    result = apply(kv, KV, 13, (Operation.UPSERT, [{"k": "same", "v": 0}]))
    assert result.files_touched == 12
    assert rows_of(kv, KV) == canonical([{"k": "same", "v": 0}])


def test_only_files_of_the_touched_partitions_get_deletes(lake: Lake) -> None:
    lake.create_table(INSTANCE, "default", DAILY)
    days = [ts("2024-01-01T08:00"), ts("2024-01-02T08:00"), ts("2024-01-03T08:00"), None]
    apply(lake, DAILY, 1, (Operation.APPEND, [{"k": 1, "at": d, "v": 0} for d in days]))

    result = apply(
        lake, DAILY, 2, (Operation.UPSERT, [{"k": 1, "at": ts("2024-01-02T20:00"), "v": 1}])
    )

    assert (result.files_touched, result.rows_removed) == (1, 1)
    result = apply(lake, DAILY, 3, (Operation.DELETE, [{"k": 1, "at": None}]))
    assert (result.files_touched, result.rows_removed) == (1, 1)
    assert sorted(r["v"] for r in lake.scan(INSTANCE, "default", "daily").to_pylist()) == [0, 0, 1]


def test_a_null_in_an_optional_key_column_is_a_key_value(lake: Lake) -> None:
    schema = DatasetSchema(
        "loose", (Field("k", FieldType.STRING), Field("v", FieldType.LONG)), primary_keys=("k",)
    )
    lake.create_table(INSTANCE, "default", schema)
    apply(lake, schema, 1, (Operation.APPEND, [{"k": None, "v": 1}, {"k": "a", "v": 2}]))
    apply(lake, schema, 2, (Operation.APPEND, [{"k": "b", "v": 3}]))

    result = apply(lake, schema, 3, (Operation.UPSERT, [{"k": None, "v": 4}]))

    assert result.files_touched == 1  # the file of "b" has no nulls in k
    assert rows_of(lake, schema) == canonical(
        [{"k": None, "v": 4}, {"k": "a", "v": 2}, {"k": "b", "v": 3}]
    )


def test_upserts_do_not_pile_up_manifests(kv: Lake) -> None:
    """Each upsert adds a data and a delete manifest; both are merged at 16 (table property)."""
    apply(kv, KV, 1, (Operation.APPEND, [{"k": "a", "v": 0}, {"k": "b", "v": 0}]))
    for position in range(2, 26):
        apply(kv, KV, position, (Operation.UPSERT, [{"k": "a", "v": position}]))
    tbl = kv.table(INSTANCE, "default", "kv")
    assert len(tbl.current_snapshot().manifests(tbl.io)) <= 20
    assert rows_of(kv, KV) == canonical([{"k": "a", "v": 25}, {"k": "b", "v": 0}])


def test_scan_filters_limits_and_selects(kv: Lake) -> None:
    apply(kv, KV, 1, (Operation.APPEND, [{"k": c, "v": i} for i, c in enumerate("abcde")]))
    assert kv.scan(INSTANCE, "default", "kv", row_filter="v >= 3", columns=["k"]).to_pylist() == [
        {"k": "d"},
        {"k": "e"},
    ]
    assert kv.scan(INSTANCE, "default", "kv", limit=2).num_rows == 2
