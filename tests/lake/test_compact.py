"""Compaction folds position deletes into data files, and rebases over commits made meanwhile."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from pyiceberg.manifest import DataFileContent

from supplylake.lake import Change, Lake, compact
from supplylake.query.engine import run_query
from supplylake.schema.types import Operation
from tests.schemas import KV

from .conftest import INSTANCE
from .rows import canonical, table


def apply(lake: Lake, position: int, op: Operation, rows: list[dict[str, Any]]) -> Any:
    return lake.apply_batch(INSTANCE, "default", KV, [Change(op, table(KV, rows))], position)


def files(lake: Lake) -> tuple[int, int]:
    """(data files, delete files) of the current snapshot."""
    tbl = lake.table(INSTANCE, "default", "kv")
    counts = [0, 0]
    for manifest in tbl.current_snapshot().manifests(tbl.io):
        for entry in manifest.fetch_manifest_entry(tbl.io, discard_deleted=True):
            counts[entry.data_file.content != DataFileContent.DATA] += 1
    return counts[0], counts[1]


def rows(lake: Lake) -> list[tuple[Any, ...]]:
    scanned = canonical(lake.scan(INSTANCE, "default", "kv"))
    assert canonical(run_query(lake, INSTANCE, "SELECT * FROM default.kv")) == scanned
    return scanned


@pytest.fixture
def kv(lake: Lake) -> Lake:
    lake.create_table(INSTANCE, "default", KV)
    apply(lake, 1, Operation.APPEND, [{"k": f"k{i:03d}", "v": 0} for i in range(100)])
    apply(lake, 2, Operation.UPSERT, [{"k": "k001", "v": 1}, {"k": "new", "v": 1}])
    apply(lake, 3, Operation.DELETE, [{"k": "k002"}, {"k": "k050"}])
    return lake


def test_compaction_folds_the_deletes_into_new_data_files(kv: Lake) -> None:
    before = rows(kv)
    assert files(kv) == (2, 2)

    result = kv.compact(INSTANCE, "default", "kv")

    assert (result.files_before, result.files_after, result.delete_files_removed) == (2, 1, 2)
    assert files(kv) == (1, 0)
    assert rows(kv) == before
    assert kv.last_position(INSTANCE, "default", "kv") == 3
    assert kv.compact(INSTANCE, "default", "kv").snapshot_id is None


def test_large_files_keep_few_deletes_merged_into_one_file(
    kv: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compact, "SMALL_FILE_BYTES", 0)  # every file counts as large
    before = rows(kv)

    result = kv.compact(INSTANCE, "default", "kv")

    assert (result.files_before, result.delete_files_removed) == (0, 2)
    assert files(kv) == (2, 1)
    assert rows(kv) == before
    result = kv.compact(INSTANCE, "default", "kv", min_deleted_share=0.0)
    assert (result.files_before, result.files_after) == (1, 1)  # the file that lost rows
    assert files(kv) == (2, 0)
    assert rows(kv) == before


def test_deletes_committed_during_a_compaction_move_to_the_new_files(kv: Lake) -> None:
    """An upsert lands after compaction planned: its deletes are translated, nothing reappears."""
    calls = 0

    def load() -> Any:
        nonlocal calls
        calls += 1
        loaded = kv.table(INSTANCE, "default", "kv")
        if calls == 1:  # the compaction has its snapshot; another writer commits now
            apply(kv, 4, Operation.UPSERT, [{"k": "k003", "v": 4}, {"k": "k001", "v": 4}])
            apply(kv, 5, Operation.DELETE, [{"k": "k004"}])
        return loaded

    result = compact.compact(load, ["k"], min_deleted_share=0.0)

    assert calls >= 2 and result.snapshot_id is not None
    expected = canonical(
        [{"k": f"k{i:03d}", "v": 0} for i in range(100) if i not in {1, 2, 3, 4, 50}]
        + [{"k": "k001", "v": 4}, {"k": "k003", "v": 4}, {"k": "new", "v": 1}]
    )
    assert rows(kv) == expected
    assert kv.last_position(INSTANCE, "default", "kv") == 5
    # The translated deletes point at the new file; the ones made meanwhile at old files only
    # are gone with them.
    data_files, delete_files = files(kv)
    assert data_files == 2 and delete_files == 1
    kv.compact(INSTANCE, "default", "kv", min_deleted_share=0.0)
    assert files(kv) == (1, 0)
    assert rows(kv) == expected


def test_two_compactions_at_once_leave_one_rewrite(kv: Lake) -> None:
    before = rows(kv)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            kv.compact(INSTANCE, "default", "kv", min_deleted_share=0.0)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert files(kv) == (1, 0)
    assert rows(kv) == before


def test_one_pass_rewrites_a_bounded_share_and_later_passes_the_rest(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compaction reads what it rewrites into memory: past REWRITE_BYTES it takes part of it,
    the files losing most first, and the next passes take the rest; rows never change."""
    lake.create_table(INSTANCE, "default", KV)
    for n in range(1, 9):
        apply(lake, n, Operation.APPEND, [{"k": f"k{n}-{i:03d}", "v": n} for i in range(50)])
    apply(lake, 9, Operation.DELETE, [{"k": "k8-000"}, {"k": "k8-001"}])
    before = rows(lake)
    assert files(lake) == (8, 1)
    sizes = [
        e.data_file.file_size_in_bytes
        for m in lake.table(INSTANCE, "default", "kv")
        .current_snapshot()
        .manifests(lake.table(INSTANCE, "default", "kv").io)
        for e in m.fetch_manifest_entry(lake.table(INSTANCE, "default", "kv").io)
        if e.data_file.content == DataFileContent.DATA
    ]
    monkeypatch.setattr(compact, "REWRITE_BYTES", 3 * max(sizes))

    first = lake.compact(INSTANCE, "default", "kv")
    assert first.files_before == 3  # three files' worth, the one losing rows among them
    assert files(lake) == (6, 0)  # its deletes were folded in
    assert rows(lake) == before

    passes = 1
    while lake.compact(INSTANCE, "default", "kv").snapshot_id is not None:
        passes += 1
        assert rows(lake) == before
        assert passes < 10
    assert files(lake)[0] < 6
