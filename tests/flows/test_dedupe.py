"""Dedupe by primary key: last occurrence, or FIELD_PRIORITY; duplicates kept for diagnostics."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from supplylake.flows.dedupe import dedupe
from supplylake.flows.definition import DedupeField, SortOrder

ROWS = pa.table(
    {
        "id": ["a", "b", "a", "a", "b", "c"],
        "site": ["s", "s", "s", "s", "s", "s"],
        "eff_start_date": [
            dt.datetime(2024, 1, 1),
            dt.datetime(2024, 3, 1),
            dt.datetime(2024, 2, 1),
            None,
            dt.datetime(2024, 3, 1),
            dt.datetime(2024, 1, 1),
        ],
        "rank": [1, 1, 2, 2, 0, 5],
        "v": ["a1", "b1", "a2", "a3", "b2", "c1"],
    }
)


def _v(table: pa.Table) -> list[str]:
    return list(table.column("v").to_pylist())


def test_without_strategy_the_last_occurrence_is_kept_in_file_order() -> None:
    result = dedupe(ROWS, ["id"])
    assert _v(result.kept) == ["a3", "b2", "c1"]
    assert _v(result.dropped) == ["a1", "b1", "a2"]
    assert result.kept.schema == ROWS.schema


def test_composite_key() -> None:
    rows = pa.table({"id": ["a", "a", "a"], "site": ["x", "y", "x"], "v": ["1", "2", "3"]})
    result = dedupe(rows, ["id", "site"])
    assert _v(result.kept) == ["2", "3"] and _v(result.dropped) == ["1"]


def test_field_priority_desc_keeps_the_largest_and_nulls_lose() -> None:
    result = dedupe(ROWS, ["id"], [DedupeField("eff_start_date", SortOrder.DESC)])
    # a: Feb beats Jan and null; b: a tie on the date goes to the last occurrence.
    assert _v(result.kept) == ["a2", "b2", "c1"]
    assert sorted(_v(result.dropped)) == ["a1", "a3", "b1"]


def test_field_priority_asc_keeps_the_smallest() -> None:
    result = dedupe(ROWS, ["id"], [DedupeField("eff_start_date", SortOrder.ASC)])
    assert _v(result.kept) == ["a1", "b2", "c1"]


def test_later_fields_break_ties_of_earlier_ones() -> None:
    fields = [DedupeField("eff_start_date", SortOrder.DESC), DedupeField("rank", SortOrder.DESC)]
    assert _v(dedupe(ROWS, ["id"], fields).kept) == ["b1", "a2", "c1"]


def test_no_duplicates_and_no_rows() -> None:
    unique = ROWS.slice(4, 2)
    result = dedupe(unique, ["id"])
    assert result.kept == unique and result.dropped.num_rows == 0
    empty = dedupe(ROWS.slice(0, 0), ["id"])
    assert empty.kept.num_rows == 0 and empty.dropped.num_rows == 0
    with pytest.raises(ValueError):
        dedupe(ROWS, [])
