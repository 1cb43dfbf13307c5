from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from supplylake.lake import Change, Lake
from supplylake.query import QueryError, run_query
from supplylake.query.engine import quote_dotted_keywords
from supplylake.schema.types import DatasetSchema, Field, FieldType, Operation

from .datasets import INSTANCE, NOTES, ORDERS, OTHER


@pytest.fixture
def filled(lake: Lake) -> Lake:
    placed = pa.array(
        [datetime(2024, 1, 5, tzinfo=UTC), datetime(2024, 2, 5, tzinfo=UTC), None],
        pa.timestamp("us", tz="UTC"),
    )
    lake.create_table(INSTANCE, "asc", ORDERS)
    orders = pa.table({"id": ["o1", "o2", "o3"], "placed": placed, "qty": [1, 2, 3]})
    lake.apply_batch(INSTANCE, "asc", ORDERS, [Change(Operation.APPEND, orders)], 1)
    lake.create_table(INSTANCE, "default", NOTES)
    notes = pa.table({"id": ["o1", "o3"], "note": ["first", "third"]})
    lake.apply_batch(INSTANCE, "default", NOTES, [Change(Operation.APPEND, notes)], 1)
    lake.create_table(OTHER, "asc", ORDERS)
    return lake


def test_asc_and_default_can_be_written_bare_or_quoted(filled: Lake) -> None:
    bare = run_query(
        filled,
        INSTANCE,
        "SELECT o.id, n.note FROM asc.inbound_order o JOIN default.my_dataset n USING (id) "
        "ORDER BY o.id ASC",
    )
    quoted = run_query(
        filled,
        INSTANCE,
        'SELECT o.id, n.note FROM "asc".inbound_order o JOIN "default"."my_dataset" n '
        "USING (id) ORDER BY o.id",
    )
    assert (
        bare.to_pylist()
        == quoted.to_pylist()
        == [
            {"id": "o1", "note": "first"},
            {"id": "o3", "note": "third"},
        ]
    )


def test_duckdb_and_the_pyiceberg_scan_see_the_same_rows(filled: Lake) -> None:
    via_sql = run_query(filled, INSTANCE, "SELECT * FROM asc.inbound_order ORDER BY id")
    via_scan = filled.scan(INSTANCE, "asc", "inbound_order").sort_by("id")
    assert via_sql.to_pylist() == via_scan.to_pylist()
    assert via_sql.schema.field("placed").type == pa.timestamp("us", tz="UTC")


def test_aggregates_and_subqueries(filled: Lake) -> None:
    result = run_query(
        filled,
        INSTANCE,
        "SELECT count(*) AS n, sum(qty) AS total FROM asc.inbound_order "
        "WHERE id IN (SELECT id FROM default.my_dataset)",
    )
    assert result.to_pylist() == [{"n": 2, "total": 4}]


def test_only_the_instances_tables_are_visible(filled: Lake) -> None:
    empty = run_query(filled, OTHER, "SELECT count(*) AS n FROM asc.inbound_order")
    assert empty.to_pylist() == [{"n": 0}]
    with pytest.raises(QueryError, match="my_dataset"):
        run_query(filled, OTHER, "SELECT * FROM default.my_dataset")


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELEC 1", "syntax error"),
        ("SELECT * FROM asc.nope", "nope does not exist"),
        ("SELECT nope FROM asc.inbound_order", "nope"),
        ("SELECT * FROM read_csv('/etc/passwd')", "disabled"),
        ("COPY (SELECT 1) TO '/tmp/supplylake-leak.csv'", "disabled"),
    ],
)
def test_errors_carry_duckdbs_message(filled: Lake, sql: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        run_query(filled, INSTANCE, sql)


def test_a_dataset_named_like_a_keyword(lake: Lake) -> None:
    schema = DatasetSchema("order", (Field("id", FieldType.LONG),))
    lake.create_table(INSTANCE, "default", schema)
    rows = pa.table({"id": [1, 2]})
    lake.apply_batch(INSTANCE, "default", schema, [Change(Operation.APPEND, rows)], 1)
    result = run_query(lake, INSTANCE, "SELECT sum(o.id) AS s FROM default.order AS o")
    assert result.to_pylist() == [{"s": 3}]


def test_only_keywords_next_to_a_dot_are_quoted() -> None:
    sql = (
        "SELECT asc.t.a, t.order FROM asc.t JOIN default . u ON true "
        "WHERE s = 'asc.x' AND \"asc\".w = 1 -- default.c\nORDER BY a ASC, b DESC"
    )
    assert quote_dotted_keywords(sql) == (
        'SELECT "asc".t.a, t."order" FROM "asc".t JOIN "default" . u ON true '
        "WHERE s = 'asc.x' AND \"asc\".w = 1 -- default.c\nORDER BY a ASC, b DESC"
    )
