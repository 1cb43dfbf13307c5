"""Spark SQL from AWS's examples, run by DuckDB over Arrow streams, and how it fails."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from supplylake.flows.definition import Transformation, TransformationType
from supplylake.flows.errors import FileFormatError, SqlError
from supplylake.flows.sql import run_sql, run_transformation, translate

ORDERS = pa.table(
    {
        "id": ["o1", "o2", "o3"],
        "Site": ["s1", None, "s3"],
        "qty": ["5", "7", None],
        "order_date": ["2024-01-02 03:04:05", None, "2024-05-06 07:08:09"],
        "langu": ["E", "D", "E"],
    }
)


def _run(query: str, **sources: pa.Table) -> list[dict[str, object]]:
    streams = {name: t.to_reader() for name, t in (sources or {"orders": ORDERS}).items()}
    rows: list[dict[str, object]] = run_sql(query, streams).read_all().to_pylist()
    return rows


def _fails(query: str, **sources: pa.Table) -> str:
    with pytest.raises(SqlError) as caught:
        _run(query, **sources)
    return caught.value.message


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("concat_ws('-', id, Site)", ["o1-s1", "o2", "o3-s3"]),
        ("coalesce(Site, 'none')", ["s1", "none", "s3"]),
        ("nvl(Site, 'none')", ["s1", "none", "s3"]),
        ("cast(qty as int) + 1", [6, 8, None]),
        ("cast(cast(qty as int) as string)", ["5", "7", None]),
        ("`Site`", ["s1", None, "s3"]),
        ("upper(langu)", ["E", "D", "E"]),
        ("if(langu = 'E', 'en', 'other')", ["en", "other", "en"]),
        ("substring(id, 2, 1)", ["1", "2", "3"]),
        (
            "date_format(to_timestamp(order_date, 'yyyy-MM-dd HH:mm:ss'), 'yyyy/MM/dd')",
            ["2024/01/02", None, "2024/05/06"],
        ),
        (
            "to_timestamp(order_date)",
            [dt.datetime(2024, 1, 2, 3, 4, 5), None, dt.datetime(2024, 5, 6, 7, 8, 9)],
        ),
        ("to_date(order_date)", [dt.date(2024, 1, 2), None, dt.date(2024, 5, 6)]),
        ("year(order_date)", [2024, None, 2024]),
    ],
)
def test_spark_functions_users_copy_from_aws_examples(
    expression: str, expected: list[object]
) -> None:
    rows = _run(f"SELECT {expression} AS v FROM orders ORDER BY id")
    assert [r["v"] for r in rows] == expected


def test_current_timestamp_is_now_in_utc() -> None:
    before = dt.datetime.now(dt.UTC)
    (row, *_) = _run("SELECT current_timestamp() AS now, current_date() AS today FROM orders")
    now = row["now"]
    assert isinstance(now, dt.datetime) and now.utcoffset() == dt.timedelta(0)
    assert (
        before - dt.timedelta(seconds=5) <= now <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    )


def test_aws_update_example_selects_connection_id_with_a_filter() -> None:
    sap = pa.table(
        {
            "connection_id": ["c", "c"],
            "bukrs": ["1000", "2000"],
            "txtmd": ["A", "B"],
            "langu": ["E", "D"],
        }
    )
    rows = _run(
        "SELECT connection_id, bukrs AS id, txtmd AS description FROM src WHERE langu = 'E'",
        src=sap,
    )
    assert rows == [{"connection_id": "c", "id": "1000", "description": "A"}]


def test_aws_trading_partner_example_joins_two_sources() -> None:
    one = pa.table({"id": ["p1", "p2"], "poc_org_unit_description": ["North", "South"]})
    two = pa.table({"id": ["p1"], "tpartner_type": ["SCN_VENDOR"]})
    rows = _run(
        "SELECT S1.id AS id, S1.poc_org_unit_description AS description, "
        "S2.tpartner_type AS tpartner_type FROM testSourceName1 AS S1 "
        "LEFT JOIN testSourceName2 as S2 ON S1.id=S2.id ORDER BY id",
        testSourceName1=one,
        testSourceName2=two,
    )
    assert rows == [
        {"id": "p1", "description": "North", "tpartner_type": "SCN_VENDOR"},
        {"id": "p2", "description": "South", "tpartner_type": None},
    ]


def test_source_names_resolve_case_insensitively_and_streams_can_self_join() -> None:
    rows = _run(
        "SELECT a.id FROM ORDERS a JOIN orders b ON a.id = b.id WHERE a.langu = 'E' ORDER BY 1"
    )
    assert rows == [{"id": "o1"}, {"id": "o3"}]


def test_with_clauses_are_tables_too() -> None:
    rows = _run("WITH e AS (SELECT * FROM orders WHERE langu = 'E') SELECT count(*) AS n FROM e")
    assert rows == [{"n": 2}]


def test_result_streams_in_batches() -> None:
    big = pa.table({"n": [str(i) for i in range(200_000)]})
    reader = run_sql("SELECT cast(n as bigint) * 2 AS d FROM big", {"big": big.to_reader()})
    sizes = [b.num_rows for b in reader]
    assert sum(sizes) == 200_000 and len(sizes) > 1


@pytest.mark.parametrize(
    ("query", "wording"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "reads from a function"),
        ("SELECT * FROM secrets", "table secrets, which is not a source"),
        ("SELECT * FROM main.orders", "not a source"),
        ("DROP TABLE orders", "must be a query"),
        ("INSERT INTO orders SELECT * FROM orders", "must be a query"),
        ("SELECT 1 FROM orders; SELECT 2 FROM orders", "one query; it has 2 statements"),
    ],
)
def test_user_sql_reaches_only_the_sources(query: str, wording: str) -> None:
    assert wording in _fails(query)


def test_the_engine_cannot_touch_files_even_through_a_source(tmp_path: Path) -> None:
    # Everything past the table check still runs with file access disabled.
    target = tmp_path / "out.csv"
    _fails(f"SELECT * FROM orders WHERE id IN (SELECT id FROM read_parquet('{target}'))")
    assert not target.exists()


def test_parse_errors_give_a_position_and_never_the_query() -> None:
    message = _fails("SELECT id, FROM orders WHERE hidden_marker = 1 AND")
    assert message.startswith("The SQL does not parse") and "line 1" in message
    assert "hidden_marker" not in message
    message = _fails("SELECT 'hidden_marker FROM orders")
    assert "not closed" in message and "hidden_marker" not in message


def test_engine_errors_give_the_reason_and_never_the_query() -> None:
    message = _fails("SELECT no_such_column, 'hidden_marker' FROM orders")
    assert "no_such_column" in message and "not found" in message
    assert "hidden_marker" not in message and "LINE" not in message
    message = _fails("SELECT strptime(id, 'hidden_marker %Y') FROM orders")
    assert "hidden_marker" not in message


def test_a_source_failure_is_reported_as_itself() -> None:
    def broken() -> Iterator[pa.RecordBatch]:
        yield from ORDERS.to_batches()
        raise FileFormatError("orders.csv, line 9: 2 fields where the header names 5.")

    reader = pa.RecordBatchReader.from_batches(ORDERS.schema, broken())
    with pytest.raises(FileFormatError, match="line 9"):
        run_sql("SELECT * FROM orders", {"orders": reader}).read_all()


def test_none_passes_the_single_source_through() -> None:
    out = run_transformation(
        Transformation(TransformationType.NONE), {"orders": ORDERS.to_reader()}
    )
    assert out.read_all() == ORDERS
    sql = Transformation(TransformationType.SQL, "SELECT id FROM orders")
    assert run_transformation(sql, {"orders": ORDERS}).read_all().column_names == ["id"]


def test_translate_shows_the_duckdb_form() -> None:
    assert (
        translate("SELECT `a b`, nvl(x, 1) FROM t", ["t"]) == 'SELECT "a b", COALESCE(x, 1) FROM t'
    )


def _csv_reader(data: bytes, name: str = "orders.csv") -> pa.RecordBatchReader:
    import io

    from supplylake.flows.files import open_source_file

    return open_source_file(io.BytesIO(data), name, None).reader(lines=True)


CSV = b'id,qty,note\no1,5,x\n\no2,seven,"two\nlines"\no3,9,y\n'


def test_lines_follow_rows_through_a_query_over_one_source() -> None:
    from supplylake.flows.files import LINE_COLUMN

    out = run_sql(
        "SELECT *, upper(id) AS big FROM orders WHERE id <> 'o1' ORDER BY id DESC",
        {"orders": _csv_reader(CSV)},
    ).read_all()
    assert out.column_names == ["id", "qty", "note", "big", LINE_COLUMN]
    assert out.to_pylist() == [
        {"id": "o3", "qty": "9", "note": "y", "big": "O3", LINE_COLUMN: 6},
        {"id": "o2", "qty": "seven", "note": "two\nlines", "big": "O2", LINE_COLUMN: 4},
    ]
    aliased = run_sql("SELECT o.qty AS q FROM orders o", {"orders": _csv_reader(CSV)}).read_all()
    assert aliased.to_pylist() == [
        {"q": "5", LINE_COLUMN: 2},
        {"q": "seven", LINE_COLUMN: 4},
        {"q": "9", LINE_COLUMN: 6},
    ]


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM orders a JOIN orders b ON a.id = b.id",
        "SELECT count(*) AS n FROM orders",
        "SELECT DISTINCT qty FROM orders",
        "SELECT id, row_number() OVER (ORDER BY id) AS r FROM orders",
        "WITH w AS (SELECT * FROM orders) SELECT * FROM w",
        "SELECT * FROM orders UNION ALL SELECT * FROM orders",
    ],
)
def test_lines_are_left_out_where_a_row_is_not_one_source_row(query: str) -> None:
    from supplylake.flows.files import LINE_COLUMN

    out = run_sql(query, {"orders": _csv_reader(CSV)}).read_all()
    assert out.num_rows > 0
    assert not any(LINE_COLUMN in name for name in out.column_names)


def test_select_star_of_one_source_answers_it_unchanged() -> None:
    reader = ORDERS.to_reader()
    assert run_sql("SELECT * FROM Orders o", {"orders": reader}) is reader
    assert run_sql("select * from orders", {"orders": ORDERS}).read_all() == ORDERS
    # Anything more goes through the engine.
    assert run_sql("SELECT * FROM orders LIMIT 1", {"orders": ORDERS}).read_all().num_rows == 1
    assert (
        run_sql("SELECT * FROM orders TABLESAMPLE (0 ROWS)", {"orders": ORDERS}).read_all().num_rows
        == 0
    )
