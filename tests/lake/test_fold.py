"""The fold alone: pure Arrow, no Iceberg."""

from __future__ import annotations

import itertools

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supplylake.lake.fold import Change, fold
from supplylake.lake.keys import encode_keys, match_columns
from supplylake.lake.layout import arrow_schema
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


@st.composite
def upsert_batches(draw: st.DrawFn) -> list[list[dict[str, object]]]:
    """Events of UPSERT records of `KV`: keys of a few (repeating) or all distinct."""
    distinct = draw(st.booleans())
    alphabet = "abcdefghijklmnopqrstuvwxyz" if distinct else "abc"
    keys = draw(st.lists(st.sampled_from(alphabet), max_size=12, unique=distinct))
    values = draw(st.lists(st.none() | st.integers(-5, 5), min_size=len(keys), max_size=len(keys)))
    records: list[dict[str, object]] = [{"k": k, "v": v} for k, v in zip(keys, values, strict=True)]
    cuts = sorted(draw(st.lists(st.integers(0, len(records)), max_size=4)))
    bounds = [0, *cuts, len(records)]
    return [records[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=50, deadline=None)
@given(upsert_batches())
def test_upserts_fold_as_applied_one_after_another(events: list[list[dict[str, object]]]) -> None:
    folded = fold([change(Operation.UPSERT, KV, *rows) for rows in events], KV)

    records = [r for rows in events for r in rows]
    keys = encode_keys(table(KV, records), KV).to_pylist()
    last = {key: n for n, key in enumerate(keys)}  # the last row of each key wins
    assert folded.added.to_pylist() == [r for n, r in enumerate(records) if last[keys[n]] == n]
    assert folded.added.schema == arrow_schema(KV)
    assert sorted(folded.removed_keys.to_pylist()) == sorted(set(keys))  # each key once
    assert folded.removed_rows.to_pylist() == [
        {c: r[c] for c in match_columns(KV)} for r in records
    ]
