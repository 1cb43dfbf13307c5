"""When the loader looks at a table for maintenance: after enough commits, or after long enough."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from supplylake.lake import Change, Lake
from supplylake.loader import maintenance
from supplylake.loader.leases import lease_name
from supplylake.loader.maintenance import LONGEST_WAIT, LOOK_AFTER_COMMITS, DueTables, Maintainer
from supplylake.schema.types import DatasetSchema, Field, FieldType, Operation
from supplylake.store.base import DatasetRef
from supplylake.store.sqlite import SqliteStore
from tests.clock import ManualClock
from tests.lake.rows import table

INSTANCE = "4f1c2e0a-9b7d-4c3e-8f6a-5b4c3d2e1f0a"
A, B = (DatasetRef(INSTANCE, "default", n) for n in "ab")
EVERY = 10.0


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    """The monotonic clock of the maintenance module, moved by hand."""
    clock = ManualClock(1000.0)
    monkeypatch.setattr(maintenance, "time", SimpleNamespace(monotonic=clock))
    return clock


def looked_at(due: DueTables, ref: DatasetRef) -> None:
    """``ref`` was ready and has just been maintained."""
    assert due.ready() == [ref]
    due.maintained(ref)


def looked_at_once(ref: DatasetRef) -> DueTables:
    """Due tables where ``ref`` had a commit and has just been maintained."""
    due = DueTables(EVERY)
    due.committed(ref)
    looked_at(due, ref)
    return due


def test_a_table_never_looked_at_is_ready_at_its_first_commit(clock: ManualClock) -> None:
    due = DueTables(EVERY)
    assert due.ready() == []
    due.committed(A)
    assert due.ready() == [A]


def test_a_table_without_commits_is_never_ready(clock: ManualClock) -> None:
    due = looked_at_once(A)
    clock.now += 100 * EVERY
    assert due.ready() == []


def test_a_table_is_ready_an_interval_after_its_last_look_once_it_had_enough_commits(
    clock: ManualClock,
) -> None:
    due = looked_at_once(A)
    for _ in range(LOOK_AFTER_COMMITS - 1):
        due.committed(A)
    clock.now += EVERY
    assert due.ready() == []  # one commit short
    due.committed(A)
    assert due.ready() == [A]


def test_enough_commits_wait_for_the_interval_after_the_last_look(clock: ManualClock) -> None:
    due = looked_at_once(A)
    due.committed(A, commits=10 * LOOK_AFTER_COMMITS)
    clock.now += EVERY - 0.1
    assert due.ready() == []
    clock.now += 0.1
    assert due.ready() == [A]


def test_a_table_with_few_commits_is_ready_after_the_longest_wait(clock: ManualClock) -> None:
    due = looked_at_once(A)
    due.committed(A)
    clock.now += LONGEST_WAIT * EVERY - 0.1
    assert due.ready() == []
    clock.now += 0.1
    assert due.ready() == [A]


def test_commits_may_be_counted_at_once(clock: ManualClock) -> None:
    due = looked_at_once(A)
    due.committed(A, commits=LOOK_AFTER_COMMITS)
    clock.now += EVERY
    assert due.ready() == [A]


def test_ready_forgets_the_commits_of_the_tables_it_returns(clock: ManualClock) -> None:
    due = looked_at_once(A)
    due.committed(A, commits=LOOK_AFTER_COMMITS)
    clock.now += EVERY
    assert due.ready() == [A]
    assert due.ready() == []  # its commits are gone, though it was not maintained since
    due.maintained(A)
    for _ in range(LOOK_AFTER_COMMITS - 1):
        due.committed(A)
    clock.now += EVERY
    assert due.ready() == []  # the commits counted before the look no longer count


def test_the_interval_runs_from_when_the_table_was_maintained(clock: ManualClock) -> None:
    due = DueTables(EVERY)
    due.committed(A)
    assert due.ready() == [A]
    clock.now += 3 * EVERY  # maintenance took a while
    due.maintained(A)
    due.committed(A, commits=LOOK_AFTER_COMMITS)
    clock.now += EVERY - 0.1
    assert due.ready() == []
    clock.now += 0.1
    assert due.ready() == [A]


def test_tables_are_counted_apart(clock: ManualClock) -> None:
    due = DueTables(EVERY)
    due.committed(A)
    due.committed(B)
    assert sorted(due.ready(), key=lambda r: r.name) == [A, B]
    due.maintained(A)
    due.maintained(B)
    for _ in range(LOOK_AFTER_COMMITS):
        due.committed(A)
    due.committed(B)
    clock.now += EVERY
    assert due.ready() == [A]


SMALL = DatasetSchema(
    "small",
    (Field("k", FieldType.STRING, required=True), Field("v", FieldType.LONG)),
    primary_keys=("k",),
)
SMALL_REF = DatasetRef(INSTANCE, "default", SMALL.name)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "supplylake.db")
    yield store
    store.close()


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Lake]:
    lake = Lake(f"sqlite:///{tmp_path / 'supplylake.db'}", str(tmp_path / "warehouse"))
    yield lake
    lake.close()


def data_files(lake: Lake) -> int:
    return len(list(lake.table(INSTANCE, "default", SMALL.name).scan().plan_files()))


def test_a_table_of_many_small_commits_is_compacted_once_it_is_ready(
    store: SqliteStore, lake: Lake, clock: ManualClock
) -> None:
    started = time.perf_counter()
    lake.create_table(INSTANCE, "default", SMALL)
    due = DueTables(EVERY)
    maintainer = Maintainer(store, lake, due)
    try:
        for i in range(1, 41):
            change = Change(Operation.APPEND, table(SMALL, [{"k": f"k{i}", "v": i}]))
            lake.apply_batch(INSTANCE, "default", SMALL, [change], i)
            due.committed(SMALL_REF)
        if time.perf_counter() - started > 10:
            pytest.skip("40 commits took over 10 s on this machine")
        assert data_files(lake) == 40

        assert maintainer.run_once() == 1

        assert data_files(lake) <= 2
        assert lake.row_count(INSTANCE, "default", SMALL.name) == 40
        assert lake.last_position(INSTANCE, "default", SMALL.name) == 40
        assert maintainer.run_once() == 0  # just looked at, and no commits since
    finally:
        maintainer.close()


def test_a_table_another_loader_maintains_is_maintained_once_that_loader_is_done(
    store: SqliteStore, lake: Lake, clock: ManualClock
) -> None:
    lake.create_table(INSTANCE, "default", SMALL)
    due = DueTables(EVERY)
    maintainer = Maintainer(store, lake, due)
    other = store.open_leases("another loader")
    try:
        assert other.try_acquire("maintain:" + lease_name(SMALL_REF))
        due.committed(SMALL_REF)

        assert maintainer.run_once() == 0

        other.release("maintain:" + lease_name(SMALL_REF))
        assert maintainer.run_once() == 1  # its one commit was not forgotten
        assert maintainer.run_once() == 0
    finally:
        other.close()
        maintainer.close()
