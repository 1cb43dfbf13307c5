"""The order in which loaders take pending datasets: the store's, oldest pending event first."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from supplylake.loader import loop
from supplylake.loader.loop import Loader, Turns
from supplylake.store.base import DatasetRef
from supplylake.store.sqlite import SqliteStore

A, B, C = (DatasetRef("4f1c2e0a-9b7d-4c3e-8f6a-5b4c3d2e1f0a", "asc", n) for n in "abc")


def test_datasets_go_in_the_order_the_store_lists(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "supplylake.db")
    seen: list[DatasetRef] = []

    class Listing(Loader):
        def _apply(self, ref: DatasetRef, name: str) -> tuple[int, float]:
            seen.append(ref)
            return 1, 0.0

    loader = Listing(store, None, batch_events=10)  # type: ignore[arg-type]
    try:
        loader.store.pending_datasets = lambda: [B]  # type: ignore[method-assign]
        loader.run_once()
        assert seen == [B]
        loader.store.pending_datasets = lambda: [C, A, B]  # type: ignore[method-assign]
        loader.run_once()
        assert seen == [B, C, A, B]
    finally:
        loader.close()
        store.close()


def test_a_dataset_read_during_a_pass_is_not_read_again_by_another_thread(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "supplylake.db")
    turns = Turns()
    seen: list[DatasetRef] = []

    class Sibling(Loader):
        def _apply(self, ref: DatasetRef, name: str) -> tuple[int, float]:
            seen.append(ref)
            if ref == A:  # meanwhile the other thread of this process reads B
                turns.read(B, time.time() + 1)
            return 1, 0.0

    loader = Sibling(store, None, batch_events=10, turns=turns)  # type: ignore[arg-type]
    try:
        loader.store.pending_datasets = lambda: [A, B, C]  # type: ignore[method-assign]
        assert loader.run_once() == 2
        assert seen == [A, C]
    finally:
        loader.close()
        store.close()


def test_a_pass_ends_after_its_time_and_the_next_lists_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteStore(tmp_path / "supplylake.db")
    seen: list[DatasetRef] = []
    monkeypatch.setattr(loop, "PASS_SECONDS", 0.05)

    class Slow(Loader):
        def _apply(self, ref: DatasetRef, name: str) -> tuple[int, float]:
            seen.append(ref)
            time.sleep(0.06)
            return 1, 0.0

    loader = Slow(store, None, batch_events=10)  # type: ignore[arg-type]
    try:
        loader.store.pending_datasets = lambda: [A, B, C]  # type: ignore[method-assign]
        assert loader.run_once() == 1
        assert seen == [A]
    finally:
        loader.close()
        store.close()


def test_datasets_no_longer_pending_are_forgotten() -> None:
    turns = Turns()
    turns.listed([A, B])
    turns.listed([B])
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
