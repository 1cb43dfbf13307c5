"""Assembling ``serve``: how many API processes, and whether they share their rate limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from supplylake.config import Settings
from supplylake.server import assemble, check_workers, shares_buckets
from supplylake.service.limits import RateLimiter, SharedRateLimiter


def test_several_workers_are_allowed_on_sqlite_but_not_none(tmp_path: Path) -> None:
    check_workers(Settings(data_dir=tmp_path, workers=2))
    with pytest.raises(ValueError, match="at least 1"):
        check_workers(Settings(data_dir=tmp_path, workers=0))


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
