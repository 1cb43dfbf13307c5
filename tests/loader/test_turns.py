"""The order in which loaders take pending datasets: the one waiting longest first."""

from __future__ import annotations

import time
from pathlib import Path

from supplylake.loader.loop import Loader, Turns
from supplylake.store.base import DatasetRef
from supplylake.store.sqlite import SqliteStore

A, B, C = (DatasetRef("4f1c2e0a-9b7d-4c3e-8f6a-5b4c3d2e1f0a", "asc", n) for n in "abc")


def test_datasets_seen_pending_first_go_first_whatever_order_the_store_lists() -> None:
    turns = Turns()
    assert turns.order([B]) == [B]
    time.sleep(0.01)
    assert turns.order([C, A, B]) == [B, C, A]  # C and A, seen together, as listed


def test_a_dataset_read_goes_behind_those_still_waiting() -> None:
    turns = Turns()
    turns.order([A, B])
    time.sleep(0.01)
    turns.order([A, B, C])
    turns.read(A, time.time())
    assert turns.order([A, B, C]) == [B, C, A]


def test_a_batch_that_left_events_behind_keeps_the_dataset_early() -> None:
    turns = Turns()
    turns.order([A])
    time.sleep(0.01)
    turns.order([A, B])
    oldest_left = turns.waiting_since(A) + 0.001
    turns.read(A, oldest_left)
    assert turns.order([A, B]) == [A, B]


def test_datasets_no_longer_pending_are_forgotten() -> None:
    turns = Turns()
    turns.order([A, B])
    turns.order([B])
    assert turns.waiting_since(A) == 0.0
    assert turns.waiting_since(B) > 0.0


def test_a_loader_applies_datasets_it_sees_pending_for_the_first_time(tmp_path: Path) -> None:
    """A dataset first seen in this pass is not mistaken for one another loader just read."""
    store = SqliteStore(tmp_path / "supplylake.db")
    seen: list[DatasetRef] = []

    class Listing(Loader):
        def _apply(self, ref: DatasetRef, name: str) -> tuple[int, float]:
            seen.append(ref)
            return 1, 0.0

    loader = Listing(store, None, batch_events=10)  # type: ignore[arg-type]
    try:
        loader.store.pending_datasets = lambda: [A, B]  # type: ignore[method-assign]
        assert loader.run_once() == 2
        assert seen == [A, B]
    finally:
        loader.close()
        store.close()
