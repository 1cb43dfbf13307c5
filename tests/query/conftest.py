from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from supplylake.lake import Lake
from supplylake.query import databases
from supplylake.schema.types import Operation

from .datasets import EVERY_TYPE, INSTANCE, apply, rows


@pytest.fixture(autouse=True)
def _no_kept_databases() -> Iterator[None]:
    """Each test starts without DuckDB databases kept by an earlier one."""
    databases.close_all()
    yield
    databases.close_all()


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Lake]:
    lake = Lake(f"sqlite:///{tmp_path / 'supplylake.db'}", str(tmp_path / "warehouse"))
    yield lake
    lake.close()


@pytest.fixture
def mixed(lake: Lake) -> Lake:
    """Three partitions: one clean, one with rows upserted, one with rows deleted."""
    lake.create_table(INSTANCE, "default", EVERY_TYPE)
    apply(lake, 1, Operation.APPEND, rows(range(0, 30), "clean", 1))
    apply(lake, 2, Operation.APPEND, rows(range(30, 60), "upserted", 1))
    apply(lake, 3, Operation.APPEND, rows(range(60, 90), "deleted", 1))
    apply(lake, 4, Operation.UPSERT, rows(range(35, 45), "upserted", 2))
    apply(lake, 5, Operation.DELETE, rows(range(60, 90, 3), "deleted", 1).select(["k", "site"]))
    return lake
