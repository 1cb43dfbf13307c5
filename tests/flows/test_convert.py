"""Result rows into the target's types: text by the events' rules, typed columns kept."""

from __future__ import annotations

import datetime

import pyarrow as pa
import pytest

from supplylake.flows.convert import ConversionError, to_target
from supplylake.schema.types import DatasetSchema, Field, FieldType

SCHEMA = DatasetSchema(
    "t",
    (
        Field("id", FieldType.STRING, True),
        Field("qty", FieldType.INT),
        Field("at", FieldType.TIMESTAMP),
    ),
)


def test_timestamps_of_any_unit_are_taken_as_utc() -> None:
    rows = pa.table(
        {
            "id": ["a"],
            "qty": pa.array([3], pa.int64()),
            "at": pa.array([datetime.datetime(2024, 1, 2, 3, 4, 5)], pa.timestamp("ns")),
        }
    )
    out = to_target(rows, SCHEMA, source="f").to_pylist()
    assert out[0]["qty"] == 3
    assert out[0]["at"] == datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


def test_failures_name_the_line_of_the_file_or_the_result_row() -> None:
    rows = pa.table({"id": ["a", None], "qty": ["1", "x"]})
    with pytest.raises(ConversionError) as e:
        to_target(rows, SCHEMA, source="s3://b/k.csv", lines=pa.array([4, 9]))
    assert "s3://b/k.csv: line 9, column 'id'" in e.value.message
    assert "line 9, column 'qty'" in e.value.message
    assert e.value.rows == [1]
    with pytest.raises(ConversionError) as e:
        to_target(rows, SCHEMA, source="The result", first_row=10)
    assert "row 12 of the transformation's result" in e.value.message


def test_fill_overrides_a_column_and_load_times_fill_nulls() -> None:
    schema = DatasetSchema(
        "t",
        (
            Field("id", FieldType.STRING, True),
            Field("connection_id", FieldType.STRING, True),
            Field("db_creation_dttm", FieldType.TIMESTAMP),
        ),
    )
    at = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    out = to_target(
        pa.table({"id": ["a"], "connection_id": ["spoof"]}),
        schema,
        source="f",
        fill={"connection_id": "flow"},
        loaded_at=at,
        load_time_fields=("db_creation_dttm",),
    ).to_pylist()
    assert out == [{"id": "a", "connection_id": "flow", "db_creation_dttm": at}]
