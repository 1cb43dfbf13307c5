"""What only SqliteStore does: its batched append, its migrations of old files, its WAL."""

from __future__ import annotations

import base64
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from supplylake.store import open_store
from supplylake.store.base import DatasetRef
from supplylake.store.sql import migrations
from supplylake.store.sql.dialect import SQLITE
from supplylake.store.sqlite import SqliteStore
from supplylake.store.sqlite.append import SqliteAppend

from .support import (
    ARN,
    INST,
    batch_sizes,
    idem_key,
    make_instance,
    new_event,
    payload_count,
    writer_paused,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.db")
    yield s
    s.close()


def test_open_store_picks_sqlite_by_url_or_path(tmp_path: Path) -> None:
    for url in (f"sqlite:///{tmp_path / 'a.db'}", str(tmp_path / "b.db")):
        s = open_store(url)
        try:
            assert isinstance(s, SqliteStore)
        finally:
            s.close()


def test_batched_appends_commit_in_few_statements(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create_instance(make_instance(), {}, ARN, None)
    sizes = batch_sizes(monkeypatch, SqliteAppend)
    with writer_paused(store):
        futures = [
            store.append_event(new_event(n), idem_key(f"t{n % 150}"), 1000) for n in range(200)
        ]
    results = [f.result(timeout=30) for f in futures]
    assert sizes == [200]
    first = [r.position for r in results[:150]]
    assert first == list(range(first[0], first[0] + 150))
    # A token repeated in the same batch answers the first append's event.
    assert results[150:] == [replace(r, replayed=True) for r in results[:50]]


def test_a_failing_batch_runs_again_one_append_at_a_time(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create_instance(make_instance(), {}, ARN, None)

    def broken(self: SqliteAppend, conn: Any, items: Any) -> list[Any]:
        conn.execute("INSERT INTO sl_tokens VALUES ('s', 't', 'h', 'r', 0)")
        raise sqlite3.OperationalError("injected")

    monkeypatch.setattr(SqliteAppend, "run_many", broken)
    with writer_paused(store):
        futures = [store.append_event(new_event(n), idem_key(f"tok{n}"), 2) for n in range(4)]
    results = [f.exception() or f.result() for f in futures]
    assert [type(r).__name__ for r in results] == ["AppendResult"] * 2 + [
        "PendingQuotaExceeded"
    ] * 2
    assert store._read(
        lambda c: c.execute("SELECT count(*) FROM sl_tokens WHERE scope = 's'").fetchone()
    ) == (0,)
    assert payload_count(store) == 2


def test_migrating_moves_payloads_to_their_own_table(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE sl_schema_version (version INTEGER NOT NULL)")
    for version, ddl in enumerate(migrations.MIGRATIONS[:2], 1):
        for statement in SQLITE.render(ddl).split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("INSERT INTO sl_schema_version VALUES (?)", (version,))
    conn.execute(
        "INSERT INTO sl_instances (instance_id, account_id, region, state, version,"
        " created_at, updated_at) VALUES (?, '000000000000', 'us-east-1', 'Active', 1, 0, 0)",
        (INST,),
    )
    conn.execute(
        "INSERT INTO sl_events (event_id, instance_id, event_type, event_group_id,"
        " event_timestamp, namespace, dataset, operation, data, status, received_at)"
        " VALUES ('e1', ?, 'scn.data.dataset', 'g', 0, 'default', 'orders', 'UPSERT',"
        " '{\"id\": \"old\"}', 'IN_PROGRESS', 0)",
        (INST,),
    )
    conn.close()
    s = SqliteStore(path)
    try:
        old = s.get_event(INST, "e1", with_data=True)
        assert old is not None and old.data == '{"id": "old"}'
        new = s.append_event(new_event(1), None, 10).result()
        assert new.position > old.position
        pending = s.pending_events(DatasetRef(INST, "default", "orders"), 10)
        assert [e.data for e in pending] == ['{"id": "old"}', '{"id": "1"}']
    finally:
        s.close()


def test_the_writer_copies_the_wal_into_the_database_between_transactions(tmp_path: Path) -> None:
    # SQLite alone would checkpoint only past 64 MB of WAL, inside a commit.
    s = SqliteStore(tmp_path / "store.db")
    try:
        s.create_instance(make_instance(), {}, ARN, None)
        # Random text: stored packed (see store.codec), it still takes ~790 KB.
        payload = '{"id": "' + base64.b64encode(os.urandom(3 << 18)).decode() + '"}'
        for n in range(3):
            s.append_event(replace(new_event(n), data=payload), None, 100).result()
            time.sleep(0.3)
        s.append_event(new_event(9), None, 100).result()  # the next commit checkpoints
        deadline = time.monotonic() + 10
        while (tmp_path / "store.db").stat().st_size < 2 << 20:
            assert time.monotonic() < deadline, "the WAL was not checkpointed"
            time.sleep(0.05)
    finally:
        s.close()


def test_wal_mode(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "store.db")
    s.close()
    mode = sqlite3.connect(tmp_path / "store.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
