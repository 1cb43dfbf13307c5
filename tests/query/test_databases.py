"""A DuckDB database is kept for the next query on the same files, and leaks nothing into it."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from supplylake.lake import Change, Lake
from supplylake.query import QueryError, databases, run_query
from supplylake.schema.types import Operation

from .datasets import EVERY_TYPE, INSTANCE, OTHER, apply, rows

COUNT = "SELECT count(*) AS n FROM default.every_type"


def test_a_select_gives_its_database_back_and_the_next_one_borrows_it(mixed: Lake) -> None:
    first = run_query(mixed, INSTANCE, COUNT)
    assert databases.kept() == 1
    # A statement other than SELECT borrows the kept database and closes it after.
    again = run_query(mixed, INSTANCE, f"CREATE TABLE t AS {COUNT}; FROM t")
    assert databases.kept() == 0
    assert again == first


def test_a_commit_is_seen_although_a_database_was_kept(mixed: Lake) -> None:
    before: Any = run_query(mixed, INSTANCE, COUNT).to_pylist()
    apply(mixed, 6, Operation.UPSERT, rows(range(100, 105), "clean", 1))
    after: Any = run_query(mixed, INSTANCE, COUNT).to_pylist()
    assert after[0]["n"] - before[0]["n"] == 5
    assert databases.kept() == 2  # one per set of files; the older one is never lent again


#: A query that reads the dataset, so that it gets the same database as the probes.
READS = "FROM default.every_type LIMIT 1"


@pytest.mark.parametrize(
    ("leaving", "probe", "expected"),
    [
        (
            f"CREATE TABLE kept AS {COUNT}; FROM kept",
            "SELECT * FROM kept, default.every_type",
            QueryError,
        ),
        (f"CREATE MACRO m() AS 1; SELECT m() AS n {READS}", f"SELECT m() AS n {READS}", QueryError),
        (
            f'CREATE OR REPLACE VIEW "default".every_type AS SELECT 0 AS n; {COUNT}',
            COUNT,
            [{"n": 80}],
        ),
        (
            f"SET VARIABLE v = 7; SELECT getvariable('v') AS n {READS}",
            f"SELECT getvariable('v') AS n {READS}",
            [{"n": None}],
        ),
        (
            'USE "default"; SELECT count(*) AS n FROM default.every_type',
            f"SELECT current_schema() AS n {READS}",
            [{"n": "main"}],
        ),
    ],
)
def test_nothing_a_query_leaves_reaches_the_next(
    mixed: Lake, leaving: str, probe: str, expected: Any
) -> None:
    run_query(mixed, INSTANCE, COUNT)  # a database is kept
    assert run_query(mixed, INSTANCE, leaving).num_rows == 1  # on the kept database
    run_query(mixed, INSTANCE, COUNT)
    assert databases.kept() == 1
    if expected is QueryError:
        with pytest.raises(QueryError):
            run_query(mixed, INSTANCE, probe)
    else:
        assert run_query(mixed, INSTANCE, probe).to_pylist() == expected


def test_the_guard_holds_on_a_kept_database(mixed: Lake) -> None:
    run_query(mixed, INSTANCE, COUNT)
    assert databases.kept() == 1
    for sql in ("SET enable_external_access = true", "SELECT * FROM read_csv('/etc/passwd')"):
        with pytest.raises(QueryError):
            run_query(mixed, INSTANCE, f"{sql}; {COUNT}")


def test_each_instance_gets_a_database_of_its_own(mixed: Lake) -> None:
    mixed.create_table(OTHER, "default", EVERY_TYPE)
    mixed.apply_batch(
        OTHER, "default", EVERY_TYPE, [Change(Operation.APPEND, rows(range(3), "other", 1))], 1
    )
    ours = run_query(mixed, INSTANCE, COUNT).to_pylist()
    theirs = run_query(mixed, OTHER, COUNT).to_pylist()
    assert (ours, theirs) == ([{"n": 80}], [{"n": 3}])
    assert run_query(mixed, INSTANCE, COUNT).to_pylist() == ours
    assert databases.kept() == 2


def test_at_most_kept_databases_wait(lake: Lake) -> None:
    lake.create_table(INSTANCE, "default", EVERY_TYPE)
    for position in range(1, databases.KEPT + 3):
        apply(lake, position, Operation.APPEND, rows(range(position, position + 1), "s", 1))
        assert run_query(lake, INSTANCE, COUNT).to_pylist() == [{"n": position}]
    assert databases.kept() == databases.KEPT


def test_concurrent_queries_on_the_same_files(mixed: Lake) -> None:
    results: list[Any] = []
    errors: list[BaseException] = []

    def query() -> None:
        try:
            for _ in range(5):
                results.append(run_query(mixed, INSTANCE, COUNT).to_pylist())
        except BaseException as e:  # reported by the assert below
            errors.append(e)

    threads = [threading.Thread(target=query) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == [[{"n": 80}]] * 15
    assert 1 <= databases.kept() <= databases.KEPT
