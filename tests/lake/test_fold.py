"""The fold alone: pure Arrow, no Iceberg."""

from __future__ import annotations

import pyarrow as pa
import pytest

from supplylake.lake.fold import Change, fold
from supplylake.lake.keys import encode_keys
from supplylake.schema.types import DatasetSchema, Field, FieldType, Operation
from tests.schemas import DAILY, KV

from .rows import table, ts


def change(op: Operation, schema: DatasetSchema, *rows: dict[str, object]) -> Change:
    return Change(op, table(schema, list(rows)))


def test_appends_only_keep_every_row_in_order() -> None:
    folded = fold(
        [
            change(Operation.APPEND, KV, {"k": "a", "v": 1}, {"k": "a", "v": 2}),
            change(Operation.APPEND, KV, {"k": "b", "v": 3}),
        ],
        KV,
    )
    assert folded.added.to_pylist() == [
        {"k": "a", "v": 1},
        {"k": "a", "v": 2},
        {"k": "b", "v": 3},
    ]
    assert not folded.removes
    assert folded.added.schema.field("k").nullable is False


def test_upsert_collapses_duplicates_to_the_last_and_removes_the_key() -> None:
    folded = fold(
        [
            change(Operation.APPEND, KV, {"k": "a", "v": 1}, {"k": "b", "v": 2}),
            change(Operation.UPSERT, KV, {"k": "a", "v": 10}, {"k": "a", "v": 11}),
        ],
        KV,
    )
    assert folded.added.to_pylist() == [{"k": "b", "v": 2}, {"k": "a", "v": 11}]
    assert folded.removed_keys.to_pylist() == encode_keys(table(KV, [{"k": "a"}]), KV).to_pylist()


def test_upsert_then_delete_leaves_nothing_and_append_after_delete_stays() -> None:
    folded = fold(
        [
            change(Operation.UPSERT, KV, {"k": "a", "v": 1}),
            change(Operation.DELETE, KV, {"k": "a"}),
            change(Operation.APPEND, KV, {"k": "a", "v": 3}, {"k": "a", "v": 4}),
            change(Operation.UPSERT, KV, {"k": "b", "v": 5}),
            change(Operation.DELETE, KV, {"k": "b"}),
        ],
        KV,
    )
    assert folded.added.to_pylist() == [{"k": "a", "v": 3}, {"k": "a", "v": 4}]
    assert len(folded.removed_keys) == 2


def test_delete_rows_need_only_the_key_columns() -> None:
    strict = DatasetSchema(
        "strict",
        (Field("k", FieldType.STRING, required=True), Field("v", FieldType.LONG, required=True)),
        primary_keys=("k",),
    )
    folded = fold([Change(Operation.DELETE, pa.table({"k": ["a"]}))], strict)
    assert folded.added.num_rows == 0
    assert folded.removes


def test_a_required_field_missing_in_written_rows_is_an_error() -> None:
    with pytest.raises(ValueError, match="required field 'k'"):
        fold([change(Operation.APPEND, KV, {"v": 1})], KV)


def test_upsert_needs_primary_keys() -> None:
    keyless = DatasetSchema("log", (Field("v", FieldType.LONG),))
    with pytest.raises(ValueError, match="primary keys"):
        fold([change(Operation.UPSERT, keyless, {"v": 1})], keyless)


def test_unknown_columns_are_rejected() -> None:
    with pytest.raises(ValueError, match="not in the dataset schema"):
        fold([Change(Operation.APPEND, pa.table({"k": ["a"], "zzz": [1]}))], KV)


def test_upsert_matches_within_the_partition_only() -> None:
    folded = fold(
        [
            change(
                Operation.APPEND,
                DAILY,
                {"k": 1, "at": ts("2024-01-01T08:00"), "v": 1},
                {"k": 1, "at": ts("2024-01-02T08:00"), "v": 2},
                {"k": 1, "at": None, "v": 3},
            ),
            # Same day as the first row (another hour): replaces it; other days stay.
            change(Operation.UPSERT, DAILY, {"k": 1, "at": ts("2024-01-01T23:00"), "v": 4}),
            change(Operation.DELETE, DAILY, {"k": 1, "at": None}),
        ],
        DAILY,
    )
    assert [r["v"] for r in folded.added.to_pylist()] == [2, 4]


def test_keys_frame_their_parts_so_concatenations_cannot_collide() -> None:
    pair = DatasetSchema(
        "pair",
        (Field("a", FieldType.STRING), Field("b", FieldType.STRING)),
        primary_keys=("a", "b"),
    )
    rows = table(
        pair,
        [
            {"a": "ab", "b": "c"},
            {"a": "a", "b": "bc"},
            {"a": None, "b": "x"},
            {"a": "~", "b": "x"},
            {"a": "", "b": "x"},
        ],
    )
    keys = encode_keys(rows, pair).to_pylist()
    assert len(set(keys)) == len(keys)
