"""DuckDB reads each dataset's current Parquet files itself: deletes applied, types as before,
and user SQL still reaches nothing but the tables it names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from supplylake.lake import Change, Lake
from supplylake.query import QueryError, run_query
from supplylake.query.names import quote_dotted_keywords
from supplylake.query.views import View
from supplylake.schema.types import DatasetSchema, Field, FieldType, Operation

from .datasets import EVERY_TYPE, INSTANCE, OTHER, apply, rows


def as_before(lake: Lake, sql: str) -> pa.Table:
    """How queries ran before: the table read whole by pyiceberg, handed to DuckDB as Arrow."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute('CREATE SCHEMA "default"')
    con.register("whole", lake.scan(INSTANCE, "default", "every_type"))
    con.execute('CREATE VIEW "default".every_type AS SELECT * FROM whole')
    result: pa.Table = con.sql(quote_dotted_keywords(sql)).to_arrow_table()
    con.close()
    return result


def test_the_view_reads_the_parquet_files_with_their_deletes(mixed: Lake) -> None:
    files = mixed.current_files(INSTANCE, "default", "every_type")
    assert files.clean and files.deleted_from and files.deletes
    con = duckdb.connect()
    con.execute('CREATE SCHEMA "default"')
    view = View("default", "every_type", files)
    assert sorted(view.local_paths or ()) == sorted(p.removeprefix("file://") for p in files.paths)
    con.execute(view.create(con, mixed, INSTANCE))
    ((definition,),) = con.sql(
        "SELECT sql FROM duckdb_views() WHERE view_name = 'every_type'"
    ).fetchall()
    assert "read_parquet" in definition and "ANTI JOIN" in definition


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM default.every_type ORDER BY k",
        "SELECT site, count(*) AS n, sum(i) AS i, min(placed) AS placed FROM default.every_type "
        "GROUP BY site ORDER BY site",
        "SELECT k, x FROM default.every_type WHERE site = 'deleted' AND n > 2 ORDER BY k",
        "SELECT k FROM default.every_type WHERE placed IS NULL OR i IS NULL ORDER BY k",
    ],
)
def test_answers_and_types_are_those_of_the_whole_table_read_by_pyiceberg(
    mixed: Lake, sql: str
) -> None:
    got = run_query(mixed, INSTANCE, sql)
    expected = as_before(mixed, sql)
    assert got.schema == expected.schema
    assert got.to_pylist() == expected.to_pylist()


def test_deleted_and_replaced_rows_are_gone(mixed: Lake) -> None:
    got = run_query(
        mixed,
        INSTANCE,
        "SELECT site, count(*) AS n, sum(i) AS i FROM default.every_type GROUP BY site ORDER BY site",
    )
    kept = [i for i in range(60, 90) if i % 3]
    assert got.to_pylist() == [
        {"n": 30, "site": "clean", "i": sum(i for i in range(30) if i % 7)},
        {"n": len(kept), "site": "deleted", "i": sum(i for i in kept if i % 7)},
        {
            "n": 30,
            "site": "upserted",
            "i": sum(i * (2 if 35 <= i < 45 else 1) for i in range(30, 60) if i % 7),
        },
    ]


def test_the_column_types_are_the_datasets(mixed: Lake) -> None:
    schema = run_query(mixed, INSTANCE, "SELECT * FROM default.every_type").schema
    assert [(f.name, f.type) for f in schema] == [
        ("k", pa.string()),
        ("site", pa.string()),
        ("i", pa.int32()),
        ("n", pa.int64()),
        ("x", pa.float64()),
        ("placed", pa.timestamp("us", tz="UTC")),
    ]


def test_a_table_without_rows_has_its_columns(lake: Lake) -> None:
    lake.create_table(INSTANCE, "default", EVERY_TYPE)
    got = run_query(lake, INSTANCE, "SELECT * FROM default.every_type")
    assert got.num_rows == 0
    assert got.schema == as_before(lake, "SELECT * FROM default.every_type").schema


@pytest.fixture
def two_instances(mixed: Lake) -> tuple[Lake, list[str], list[str]]:
    """`mixed` and the same dataset in another instance; the local files of each."""
    mixed.create_table(OTHER, "default", EVERY_TYPE)
    mixed.apply_batch(
        OTHER, "default", EVERY_TYPE, [Change(Operation.APPEND, rows(range(5), "other", 1))], 1
    )
    ours, theirs = (
        [p.removeprefix("file://") for p in mixed.current_files(i, "default", "every_type").paths]
        for i in (INSTANCE, OTHER)
    )
    return mixed, ours, theirs


@pytest.mark.parametrize(
    "template",
    [
        "SELECT * FROM read_parquet('{theirs}') -- default.every_type",
        "SELECT count(*) FROM default.every_type, read_parquet('{theirs}')",
        "SELECT * FROM glob('{folder}/*') WHERE EXISTS (FROM default.every_type)",
        "SELECT * FROM read_blob('{db}') WHERE EXISTS (FROM default.every_type)",
        "COPY (SELECT * FROM default.every_type) TO '{folder}/leak.parquet'",
        "ATTACH '{db}' AS catalog",
        "SELECT * FROM read_csv('/etc/passwd')",
    ],
)
def test_sql_reaches_no_other_file(
    two_instances: tuple[Lake, list[str], list[str]], tmp_path: Path, template: str
) -> None:
    lake, _ours, theirs = two_instances
    sql = template.format(
        theirs=theirs[0], folder=Path(theirs[0]).parent, db=tmp_path / "supplylake.db"
    )
    with pytest.raises(QueryError, match="disabled"):
        run_query(lake, INSTANCE, sql)
    assert not (Path(theirs[0]).parent / "leak.parquet").exists()


@pytest.mark.parametrize(
    "sql",
    [
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "RESET allowed_paths",
        "INSTALL httpfs",
        "LOAD httpfs",
    ],
)
def test_the_guard_cannot_be_undone(mixed: Lake, sql: str) -> None:
    with pytest.raises(QueryError):
        run_query(mixed, INSTANCE, f"{sql}; SELECT count(*) FROM default.every_type")


def test_each_query_sees_the_last_committed_snapshot(mixed: Lake) -> None:
    sql = "SELECT count(*) AS n FROM default.every_type"
    before: Any = run_query(mixed, INSTANCE, sql).to_pylist()
    apply(mixed, 6, Operation.DELETE, rows(range(0, 10), "clean", 1).select(["k", "site"]))
    after: Any = run_query(mixed, INSTANCE, sql).to_pylist()
    assert before[0]["n"] - after[0]["n"] == 10


def test_columns_named_like_duckdbs_virtual_columns(lake: Lake) -> None:
    schema = DatasetSchema(
        "odd",
        (
            Field("file_row_number", FieldType.LONG, required=True),
            Field("pos", FieldType.LONG),
            Field("path", FieldType.STRING),
        ),
        primary_keys=("file_row_number",),
    )
    lake.create_table(INSTANCE, "default", schema)
    first = pa.table({"file_row_number": [5, 6, 7], "pos": [0, 1, 2], "path": ["a", "b", "c"]})
    lake.apply_batch(INSTANCE, "default", schema, [Change(Operation.APPEND, first)], 1)
    gone = pa.table({"file_row_number": [6]})
    lake.apply_batch(INSTANCE, "default", schema, [Change(Operation.DELETE, gone)], 2)
    got = run_query(lake, INSTANCE, "SELECT * FROM default.odd ORDER BY 1")
    assert got.to_pylist() == [
        {"file_row_number": 5, "pos": 0, "path": "a"},
        {"file_row_number": 7, "pos": 2, "path": "c"},
    ]


def test_partition_values_escaped_in_paths(lake: Lake) -> None:
    lake.create_table(INSTANCE, "default", EVERY_TYPE)
    sites = ["o'brien x/y", "50% off", "é ü", "a=b&c?d#e"]
    for n, site in enumerate(sites, start=1):
        apply(lake, n, Operation.APPEND, rows(range(n * 10, n * 10 + 10), site, 1))
    gone = pa.table(
        {"k": [f"k{i}" for i in range(10, 50, 2)], "site": [s for s in sites for _ in range(5)]}
    )
    apply(lake, 9, Operation.DELETE, gone)
    sql = "SELECT site, count(*) AS n FROM default.every_type GROUP BY site ORDER BY site"
    got = run_query(lake, INSTANCE, sql)
    assert got.to_pylist() == [{"site": s, "n": 5} for s in sorted(sites)]
    assert got == as_before(lake, sql)


@pytest.mark.parametrize(
    "template",
    [
        "COPY (SELECT 1 AS k) TO '{ours}' (FORMAT parquet, USE_TMP_FILE false)",
        "EXPLAIN ANALYZE COPY (SELECT 1 AS k) TO '{ours}' (FORMAT csv, USE_TMP_FILE false)",
        "CREATE TABLE t AS FROM default.every_type; COPY t TO '{ours}' (USE_TMP_FILE false)",
        "ATTACH '{ours}' AS db",
        "SELECT * FROM read_parquet('{ours}') -- default.every_type",
        "SELECT * FROM \"read_blob\"('{ours}') WHERE EXISTS (FROM default.every_type)",
        "SELECT * FROM default.every_type, '{ours}'",
        "SELECT * FROM query('SELECT * FROM read_parquet(''{ours}'')'), default.every_type",
        "PREPARE p AS SELECT 1; EXECUTE p; FROM default.every_type",
        "EXPLAIN (ANALYZE, FORMAT json) COPY (FROM default.every_type) TO '{ours}' (USE_TMP_FILE 0)",
        "SUMMARIZE '{ours}'; FROM default.every_type",
    ],
)
def test_the_files_of_the_tables_it_reads_are_off_limits_but_through_the_views(
    two_instances: tuple[Lake, list[str], list[str]], template: str
) -> None:
    lake, ours, _theirs = two_instances
    data = [p for p in ours if not p.endswith("-deletes.parquet")]
    before = {p: Path(p).read_bytes() for p in ours}
    with pytest.raises(QueryError, match="disabled"):
        run_query(lake, INSTANCE, template.format(ours=data[0]))
    assert {p: Path(p).read_bytes() for p in ours} == before


def test_in_memory_work_and_harmless_table_functions_still_run(mixed: Lake) -> None:
    got = run_query(
        mixed,
        INSTANCE,
        "CREATE TABLE kept AS SELECT k FROM default.every_type WHERE site = 'clean'; "
        "SELECT count(*) AS n, (SELECT count(*) FROM range(3)) AS r, "
        "(SELECT count(*) FROM duckdb_views()) > 0 AS v, 'a.parquet' AS s FROM kept "
        "WHERE k IN ('k1', 'x.csv') OR k NOT IN (SELECT 'y.json')",
    )
    assert got.to_pylist() == [{"n": 30, "r": 3, "v": True, "s": "a.parquet"}]
