"""Which faults the loader retries instead of failing the events of a batch."""

from __future__ import annotations

import sqlite3

import pyarrow as pa
import pytest
import sqlalchemy
from sqlalchemy.exc import IntegrityError, OperationalError

from supplylake.lake.errors import CommitConflictError
from supplylake.loader.apply import is_transient


def _raised_by(engine: sqlalchemy.Engine, *statements: str) -> BaseException:
    with pytest.raises(sqlalchemy.exc.DBAPIError) as caught, engine.begin() as conn:
        for statement in statements:
            conn.execute(sqlalchemy.text(statement))
    return caught.value


def test_catalog_races_locks_and_conflicts_are_retried() -> None:
    engine = sqlalchemy.create_engine("sqlite://")
    race = _raised_by(
        engine,
        "CREATE TABLE ns (name TEXT PRIMARY KEY)",
        "INSERT INTO ns VALUES ('asc')",
        "INSERT INTO ns VALUES ('asc')",
    )
    assert isinstance(race, IntegrityError)
    missing = _raised_by(engine, "SELECT * FROM no_such_table")
    assert isinstance(missing, OperationalError)
    for fault in (race, missing, CommitConflictError("moved"), OSError(28, "No space left")):
        assert is_transient(fault), fault


def test_faults_of_the_data_are_not_retried() -> None:
    with pytest.raises(pa.ArrowInvalid) as caught:
        pa.array(["x"], type=pa.int64())
    for fault in (caught.value, ValueError("bad"), sqlite3.DataError("bad")):
        assert not is_transient(fault), fault
