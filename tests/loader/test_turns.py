"""The order in which loaders take pending datasets: the store's, oldest pending event first."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from supplylake.loader import loop
from supplylake.loader.loop import Loader, Share, Turns
from supplylake.store.base import DatasetRef
from supplylake.store.sqlite import SqliteStore
from tests.clock import ManualClock

A, B, C = (DatasetRef("4f1c2e0a-9b7d-4c3e-8f6a-5b4c3d2e1f0a", "asc", n) for n in "abc")


class Listing(Loader):
    """A loader that notes the datasets it would apply, in order, and applies none."""

    def __init__(self, store: SqliteStore, turns: Turns | None = None) -> None:
        super().__init__(store, None, batch_events=10, turns=turns)  # type: ignore[arg-type]
        self.seen: list[DatasetRef] = []

    def _apply(self, ref: DatasetRef, name: str) -> tuple[int, float]:
        self.seen.append(ref)
        return 1, 0.0


def test_datasets_go_in_the_order_the_store_lists(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "supplylake.db")
    loader = Listing(store)
    try:
        loader.store.pending_datasets = lambda: [B]  # type: ignore[method-assign]
        loader.run_once()
        assert loader.seen == [B]
        loader.store.pending_datasets = lambda: [C, A, B]  # type: ignore[method-assign]
        loader.run_once()
        assert loader.seen == [B, C, A, B]
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
    loader = Listing(store)
    try:
        loader.store.pending_datasets = lambda: [A, B]  # type: ignore[method-assign]
        assert loader.run_once() == 2
        assert loader.seen == [A, B]
    finally:
        loader.close()
        store.close()


D, E = (DatasetRef("4f1c2e0a-9b7d-4c3e-8f6a-5b4c3d2e1f0a", "asc", n) for n in "de")
FIRST, SECOND = Share(0, 2), Share(1, 2)  # A, B and C are the first's, D and E the second's


@pytest.mark.parametrize(
    ("text", "share"), [("1/2", FIRST), ("2/2", SECOND), ("1/1", Share(0, 1)), ("3/8", Share(2, 8))]
)
def test_a_share_is_parsed_from_k_of_n_counting_from_one(text: str, share: Share) -> None:
    assert Share.parse(text) == share


@pytest.mark.parametrize("text", ["0/2", "3/2", "x", "1", "1/0", "1/x", "/2", ""])
def test_a_share_out_of_range_or_not_k_of_n_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="K/N"):
        Share.parse(text)


def test_shares_split_the_datasets_evenly_and_always_alike() -> None:
    refs = [DatasetRef(f"instance-{i % 7}", "asc", f"table_{i}") for i in range(400)]
    held = [[ref for ref in refs if share.holds(ref)] for share in (FIRST, SECOND)]
    assert sorted(held[0] + held[1], key=refs.index) == refs  # each ref in exactly one share
    assert all(160 <= len(h) <= 240 for h in held), [len(h) for h in held]
    assert held == [[ref for ref in refs if share.holds(ref)] for share in (FIRST, SECOND)]
    # The same in every process (a crc32 of the name, not Python's salted hash).
    assert [FIRST.holds(ref) for ref in (A, B, C, D, E)] == [True, True, True, False, False]
    assert all(Share(0, 1).holds(ref) for ref in refs)


def test_a_process_takes_its_own_share_first_in_the_store_s_order() -> None:
    turns = Turns(FIRST)
    pending = [D, A, E, B]
    turns.listed(pending)
    assert turns.in_turn(pending) == [A, B, D, E]
    other = Turns(SECOND)
    other.listed(pending)
    assert other.in_turn(pending) == [D, E, A, B]


@pytest.mark.parametrize("share", [None, Share(0, 1)])
def test_without_shares_the_store_s_order_stays(share: Share | None) -> None:
    turns = Turns(share)
    pending = [D, A, E, B]
    turns.listed(pending)
    assert turns.in_turn(pending) == pending


def test_another_share_s_dataset_waiting_too_long_goes_ahead_of_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = ManualClock(1000.0)
    monkeypatch.setattr(loop, "time", SimpleNamespace(time=clock))
    turns = Turns(FIRST)
    turns.listed([D])  # D has waited since 1000
    clock.now += loop.STEAL_SECONDS
    pending = [D, E, A, B]
    turns.listed(pending)  # the others since 1002
    assert turns.in_turn(pending) == [A, B, D, E]  # D waited STEAL_SECONDS longer: not more
    clock.now += 0.5
    turns.read(A, clock.now)
    assert turns.in_turn(pending) == [A, B, D, E]  # B's wait counts: the oldest of its own
    turns.read(B, clock.now)  # now D has waited more than STEAL_SECONDS longer than A and B
    assert turns.in_turn(pending) == [D, A, B, E]


def test_a_loader_with_a_share_applies_its_own_datasets_first(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "supplylake.db")
    loader = Listing(store, Turns(SECOND))
    try:
        loader.store.pending_datasets = lambda: [A, D, B, E]  # type: ignore[method-assign]
        assert loader.run_once() == 4
        assert loader.seen == [D, E, A, B]
    finally:
        loader.close()
        store.close()


@pytest.mark.parametrize("share", ["0/2", "2/1", "half"])
def test_the_loader_command_refuses_a_bad_share(tmp_path: Path, share: str) -> None:
    from typer.testing import CliRunner

    from supplylake.cli.main import app

    result = CliRunner().invoke(app, ["loader", "--share", share, "--data-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "--share" in result.output
    assert "K/N" in result.output
