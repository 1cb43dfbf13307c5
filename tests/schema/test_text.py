"""Text tables (CSV cells) convert by the rules JSON records follow."""

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supplylake.schema.arrow import records_to_arrow
from supplylake.schema.arrow_types import arrow_schema
from supplylake.schema.errors import RecordError, TableError
from supplylake.schema.text import convert_text_column, convert_text_table
from supplylake.schema.types import DatasetSchema, Field, FieldType

from .strategies import decimal_texts, timestamps, values

#: One field of each type but STRING's, as (name, type, required).
_FIELDS = [
    ("id", FieldType.STRING, True),
    ("line", FieldType.INT, False),
    ("qty", FieldType.DOUBLE, True),
    ("seq", FieldType.LONG, False),
    ("at", FieldType.TIMESTAMP, False),
]
SCHEMA = DatasetSchema("orders", tuple(Field(*f) for f in _FIELDS))


def text_table(rows: list[dict[str, str | None]]) -> pa.Table:
    names = list(rows[0]) if rows else []
    return pa.table({n: pa.array([r[n] for r in rows], pa.string()) for n in names})


def test_cells_convert_to_the_datasets_types():
    table = text_table(
        [
            {"id": "a", "line": "1", "qty": "100.0", "seq": "7", "at": "1672470400000"},
            {"id": "b", "line": "", "qty": "2.5e1", "seq": "", "at": "2024-01-02T03:04:05Z"},
        ]
    )
    out = convert_text_table(table, SCHEMA)
    assert out.schema == arrow_schema(SCHEMA)
    rows = out.to_pylist()
    assert [(r["id"], r["line"], r["qty"], r["seq"]) for r in rows] == [
        ("a", 1, 100.0, 7),
        ("b", None, 25.0, None),
    ]
    assert [r["at"].isoformat() for r in rows] == [
        "2022-12-31T07:06:40+00:00",
        "2024-01-02T03:04:05+00:00",
    ]


def test_a_missing_optional_column_is_null_and_fill_sets_a_column():
    table = text_table([{"id": "a", "qty": "1"}])
    schema = DatasetSchema(
        "t", (*SCHEMA.fields, Field("connection_id", FieldType.STRING, required=True))
    )
    out = convert_text_table(table, schema, fill={"connection_id": "csv"})
    assert out.to_pylist()[0] | {"at": None} == {
        "id": "a",
        "line": None,
        "qty": 1.0,
        "seq": None,
        "at": None,
        "connection_id": "csv",
    }


def test_failures_name_line_column_and_rule_in_order():
    table = text_table(
        [
            {"id": "a", "line": "2.5", "qty": "1", "seq": "1", "at": "yesterday"},
            {"id": "", "line": "1", "qty": "NaN", "seq": "9223372036854775808", "at": ""},
        ]
    )
    with pytest.raises(TableError) as info:
        convert_text_table(table, SCHEMA, first_line=2)
    assert [(f.line, f.column, f.rule) for f in info.value.failures] == [
        (2, "line", "type"),
        (2, "at", "type"),
        (3, "id", "null"),
        (3, "qty", "type"),
        (3, "seq", "type"),
    ]
    assert info.value.message.startswith(
        "Invalid data: line 2, column 'line': expected an INT (an integer in "
        "-2147483648..2147483647, as a number or a string), got '2.5'; line 2, column 'at': "
    )


def test_unknown_columns_and_missing_required_ones_are_named():
    table = text_table([{"id": "a", "colour": "red"}])
    with pytest.raises(TableError) as info:
        convert_text_table(table, SCHEMA)
    assert [(f.line, f.column, f.rule) for f in info.value.failures] == [
        (None, "colour", "unknown"),
        (None, "qty", "missing"),
    ]
    assert info.value.message == (
        "Invalid data: column 'colour': no such field in the dataset; "
        "column 'qty': required field is missing"
    )


def test_the_message_counts_failures_beyond_those_it_shows():
    rows = [{"id": "a", "qty": "x"} for _ in range(12)]
    with pytest.raises(TableError) as info:
        convert_text_table(text_table(rows), SCHEMA)
    assert info.value.count == 12
    assert info.value.message.endswith("(and 7 more errors)")
    assert [f.line for f in info.value.failures] == [2, 3, 4, 5, 6]


def test_a_large_table_converts_in_columns():
    n = 50_000
    table = pa.table(
        {
            "id": pa.array([f"id{i}" for i in range(n)]),
            "qty": pa.array([f"{i}.5" for i in range(n)]),
            "at": pa.array([str(1_700_000_000_000 + i) for i in range(n)]),
        }
    )
    out = convert_text_table(table, SCHEMA)
    assert out.num_rows == n
    assert out.column("qty")[n - 1].as_py() == n - 1 + 0.5


# The same value as a JSON string and as CSV text converts the same.

WRONG_TEXT = st.sampled_from(
    ["", " 1", "+1", "1_0", "0x10", "NaN", "inf", "1e400", "2.5", "true", "yesterday", "-1"]
)


def _text_values(field_type: FieldType) -> st.SearchStrategy[str]:
    encoded = values(field_type).map(lambda p: p[0] if isinstance(p[0], str) else repr(p[0]))
    extra = decimal_texts() | timestamps().map(lambda t: t[0]) | st.integers().map(str)
    return encoded | extra | WRONG_TEXT | st.text(max_size=12)


def _json_outcome(schema: DatasetSchema, text: str) -> Any:
    try:
        return records_to_arrow([{"v": text}], schema).column("v").to_pylist()
    except RecordError:
        return "refused"


def _csv_outcome(schema: DatasetSchema, text: str) -> Any:
    try:
        return convert_text_table(text_table([{"v": text}]), schema).column("v").to_pylist()
    except TableError:
        return "refused"


@settings(deadline=None, max_examples=300)
@given(st.sampled_from([t for t in FieldType if t is not FieldType.STRING]), st.data())
def test_a_value_as_a_json_string_and_as_csv_text_converts_the_same(field_type, data):
    text = data.draw(_text_values(field_type))
    schema = DatasetSchema("t", (Field("v", field_type),))
    csv = _csv_outcome(schema, text)
    if text == "":
        assert csv == [None]  # an empty cell is null; an empty JSON string is no number
    else:
        assert csv == _json_outcome(schema, text)


@settings(deadline=None, max_examples=200)
@given(st.sampled_from(list(FieldType)), st.data())
def test_a_column_converts_as_its_cells_do_one_by_one(field_type, data):
    texts = data.draw(st.lists(_text_values(field_type) | st.none(), min_size=1, max_size=20))
    column = convert_text_column(pa.array(texts, pa.string()), field_type, empty_is_null=True)
    one_by_one = [
        convert_text_column(pa.array([t], pa.string()), field_type, empty_is_null=True)
        for t in texts
    ]
    assert column.values.to_pylist() == [c.values[0].as_py() for c in one_by_one]
    assert column.bad_rows() == [i for i, c in enumerate(one_by_one) if c.bad_rows()]
