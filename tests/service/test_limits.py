"""Per-instance event rate limits: the in-memory bucket, the bucket shared through the store, and
which of the two ``serve``'s processes use."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from supplylake.config import Settings
from supplylake.server import assemble, shares_buckets
from supplylake.service.limits import RateLimiter, SharedRateLimiter, limiter_for
from supplylake.store import open_store
from supplylake.store.base import Store
from tests.clock import ManualClock


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        yield s
    finally:
        s.close()


def test_a_bucket_admits_its_burst_then_refills_at_its_rate() -> None:
    clock = ManualClock(1000.0)
    limiter = RateLimiter(rate=10.0, burst=3, clock=clock)
    assert [limiter.try_acquire("i") for _ in range(4)] == [True, True, True, False]
    clock.now += 0.1  # one token's worth
    assert limiter.try_acquire("i")
    assert not limiter.try_acquire("i")
    clock.now += 60  # never more than the burst, however long the wait
    assert sum(limiter.try_acquire("i") for _ in range(10)) == 3


def test_each_instance_has_a_bucket_of_its_own_and_a_forgotten_one_starts_full() -> None:
    limiter = RateLimiter(rate=0.0, burst=2, clock=ManualClock(1000.0))
    assert limiter.try_acquire("a") and limiter.try_acquire("a")
    assert not limiter.try_acquire("a")
    assert limiter.try_acquire("b")
    limiter.forget("a")
    assert limiter.try_acquire("a")


def test_limiters_sharing_a_store_admit_no_more_than_its_bucket_holds(store: Store) -> None:
    async def admitted() -> int:
        limiter = SharedRateLimiter(store, rate=0.0, burst=50, slice_seconds=0.1)
        answers = await asyncio.gather(*(limiter.acquire("i") for _ in range(40)))
        return sum(answers)

    async def both() -> list[int]:
        return list(await asyncio.gather(admitted(), admitted()))

    counts = asyncio.run(both())
    assert sum(counts) == 50, counts


def test_a_shared_limiter_spends_only_what_it_took_from_the_store(store: Store) -> None:
    limiter = SharedRateLimiter(store, rate=100.0, burst=50, slice_seconds=0.1)
    assert limiter.slice == 10
    assert not limiter.try_acquire("i")  # nothing taken yet: never waits for the store
    assert asyncio.run(limiter.acquire("i"))  # takes a slice, spends one token of it
    assert sum(limiter.try_acquire("i") for _ in range(20)) == 9


def test_limiter_for_shares_the_bucket_only_when_asked(store: Store) -> None:
    assert type(limiter_for(store, 10.0, 5, shared=False)) is RateLimiter
    assert type(limiter_for(store, 10.0, 5, shared=True)) is SharedRateLimiter


def test_buckets_are_shared_when_other_processes_may_serve(tmp_path: Path) -> None:
    assert not shares_buckets(Settings(data_dir=tmp_path))
    assert shares_buckets(Settings(data_dir=tmp_path, workers=2))
    assert shares_buckets(Settings(database_url="postgresql://u:p@127.0.0.1:5432/db"))


@pytest.mark.parametrize(("workers", "limiter"), [(1, RateLimiter), (2, SharedRateLimiter)])
def test_the_workers_of_serve_on_sqlite_take_from_the_stores_buckets(
    tmp_path: Path, workers: int, limiter: type[RateLimiter]
) -> None:
    assembled = assemble(Settings(data_dir=tmp_path, workers=workers, loader=False))
    try:
        assert type(assembled.services.limiter) is limiter
    finally:
        assembled.services.store.close()
