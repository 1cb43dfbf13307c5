"""The preview's filters become pyiceberg row filters only from fields and typed values."""

from __future__ import annotations

import pytest

from supplylake.console.preview import Condition, FilterError, row_filter
from supplylake.schema.types import DatasetSchema, Field, FieldType

SCHEMA = DatasetSchema(
    name="orders",
    fields=(
        Field("id", FieldType.STRING, True),
        Field("qty", FieldType.INT, False),
        Field("price", FieldType.DOUBLE, False),
        Field("at", FieldType.TIMESTAMP, False),
        Field("9lives", FieldType.STRING, False),
    ),
    primary_keys=("id",),
)


def test_no_condition_is_no_filter() -> None:
    assert row_filter(SCHEMA, ()) is None


def test_conditions_are_anded_with_typed_literals() -> None:
    conditions = (
        Condition("id", "starts", "PO-"),
        Condition("qty", "ge", " 10 "),
        Condition("price", "lt", "2.5"),
        Condition("at", "gt", "2025-01-02"),
        Condition("id", "notnull"),
    )
    assert row_filter(SCHEMA, conditions) == (
        "id LIKE 'PO-%' AND qty >= 10 AND price < 2.5 "
        "AND at > '2025-01-02T00:00:00+00:00' AND id IS NOT NULL"
    )


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (Condition("nope", "eq", "x"), "not a field"),
        (Condition("id", "drop", "x"), "Unknown comparison"),
        (Condition("qty", "eq", "1.5"), "whole numbers"),
        (Condition("price", "eq", "nan"), "finite"),
        (Condition("at", "eq", "yesterday"), "timestamps"),
        (Condition("id", "eq", "x' OR id IS NOT NULL OR id = 'y"), "cannot contain"),
        (Condition("id", "eq", "back\\slash"), "cannot contain"),
        (Condition("qty", "starts", "1"), "text field"),
        (Condition("id", "starts", "50%"), "cannot contain %"),
        (Condition("9lives", "eq", "x"), "SQL box"),
    ],
)
def test_unusable_conditions_are_refused(condition: Condition, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        row_filter(SCHEMA, (condition,))
