"""The write gate of a SQLite database: one writer at a time, across processes, never left shut."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from supplylake.lake import Change, Lake
from supplylake.schema.types import DatasetSchema, Field, FieldType, Operation
from supplylake.store.sqlite import SqliteStore
from supplylake.store.writegate import WriteGate, gate_for

INSTANCE = str(uuid.uuid4())
STOCK = DatasetSchema(
    "stock",
    (Field("sku", FieldType.STRING, required=True), Field("qty", FieldType.LONG)),
    primary_keys=("sku",),
)


def _is_open(gate: WriteGate) -> bool:
    """Whether another process could take the gate now (a descriptor of our own, not blocking)."""
    fd = os.open(gate.path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # also drops the lock, if it was taken
    return True


def _hold(database: str, holding: Any, go: Any) -> None:
    with gate_for(database):
        holding.set()
        go.wait(30)


def test_one_process_at_a_time_and_the_waiter_goes_on_when_let_go(tmp_path: Path) -> None:
    database = str(tmp_path / "supplylake.db")
    ctx = multiprocessing.get_context("spawn")
    holding, go = ctx.Event(), ctx.Event()
    other = ctx.Process(target=_hold, args=(database, holding, go))
    other.start()
    try:
        assert holding.wait(30)
        gate = gate_for(database)
        assert not _is_open(gate)
        entered = threading.Event()

        def enter() -> None:
            with gate:
                entered.set()

        waiter = threading.Thread(target=enter)
        waiter.start()
        assert not entered.wait(0.3)  # the other process holds it
        go.set()
        assert entered.wait(30)
        waiter.join()
        assert _is_open(gate)
    finally:
        go.set()
        other.join(30)


def test_threads_of_one_process_take_turns(tmp_path: Path) -> None:
    gate = gate_for(tmp_path / "supplylake.db")
    inside = 0
    most = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal inside, most
        for _ in range(200):
            with gate:
                with lock:
                    inside += 1
                    most = max(most, inside)
                with lock:
                    inside -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 1 and _is_open(gate)


def test_one_gate_per_file_and_letting_go_twice_is_harmless(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    gate = gate_for(tmp_path / "supplylake.db")
    assert gate_for(str(tmp_path / "sub" / ".." / "supplylake.db")) is gate
    gate.acquire()
    assert gate.held and not _is_open(gate)
    done = threading.Event()
    # Another thread letting go of a gate it does not hold changes nothing.
    threading.Thread(target=lambda: (gate.release(), done.set())).start()
    assert done.wait(5) and gate.held
    gate.release()
    gate.release()
    assert not gate.held and _is_open(gate)


def test_store_writes_that_fail_leave_the_gate_open(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "supplylake.db")
    try:
        gate = gate_for(store.path)

        def broken(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO no_such_table VALUES (1)")

        with pytest.raises(sqlite3.OperationalError):
            store._committer.run(broken)
        assert _is_open(gate)
        assert store._committer.run(lambda conn: conn.execute("SELECT 1").fetchone()) == (1,)
        assert _is_open(gate)
    finally:
        store.close()


def test_catalog_commits_take_the_gate_and_let_it_go(tmp_path: Path) -> None:
    database = tmp_path / "supplylake.db"
    lake = Lake(f"sqlite:///{database}", str(tmp_path / "warehouse"))
    try:
        lake.create_table(INSTANCE, "default", STOCK)
        gate = gate_for(database)
        rows = pa.table({"sku": ["a"], "qty": [1]})
        # Held by this thread already: the commit goes on inside it, and does not let it go.
        with gate:
            lake.apply_batch(INSTANCE, "default", STOCK, [Change(Operation.UPSERT, rows)], 1)
            assert not _is_open(gate)
        assert _is_open(gate)
        # Held by another thread: the commit waits for it.
        gate.acquire()
        committed = threading.Event()

        def commit() -> None:
            lake.apply_batch(INSTANCE, "default", STOCK, [Change(Operation.UPSERT, rows)], 2)
            committed.set()

        committer = threading.Thread(target=commit)
        committer.start()
        assert not committed.wait(0.5)
        gate.release()
        assert committed.wait(30)
        committer.join()
        assert _is_open(gate) and lake.last_position(INSTANCE, "default", "stock") == 2
    finally:
        lake.close()
