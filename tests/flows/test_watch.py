"""New and rewritten objects under a prefix, each reported once, and only when complete."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from supplylake.flows.buckets import FolderBuckets, S3Buckets, s3_client
from supplylake.flows.watch import PrefixWatcher
from tests.clock import ManualClock
from tests.flows.wire import BUCKET


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[tuple[FolderBuckets, Path, ManualClock, PrefixWatcher]]:
    buckets = FolderBuckets(tmp_path / "buckets")
    buckets.ensure_bucket(BUCKET)
    clock = ManualClock(100.0)
    yield (
        buckets,
        tmp_path / "buckets" / BUCKET,
        clock,
        PrefixWatcher(buckets, BUCKET, "orders/", clock=clock),
    )


def _keys(watcher: PrefixWatcher) -> list[str]:
    return [o.key for o in watcher.poll().put]


def test_folder_file_is_taken_once_it_has_settled(
    folder: tuple[FolderBuckets, Path, ManualClock, PrefixWatcher],
) -> None:
    _, root, clock, watcher = folder
    (root / "orders").mkdir()
    (root / "orders" / "a.csv").write_bytes(b"id\n1\n")
    assert _keys(watcher) == [] and watcher.waiting
    clock.now += 0.2
    assert _keys(watcher) == []  # not settled yet
    clock.now += 0.4
    assert _keys(watcher) == ["orders/a.csv"] and not watcher.waiting
    clock.now += 1
    assert _keys(watcher) == []  # reported once


def test_a_file_still_growing_is_not_taken(
    folder: tuple[FolderBuckets, Path, ManualClock, PrefixWatcher],
) -> None:
    _, root, clock, watcher = folder
    (root / "orders").mkdir()
    path = root / "orders" / "big.csv"
    with open(path, "wb") as f:
        f.write(b"id\n1\n")
        f.flush()
        assert _keys(watcher) == []
        clock.now += 1
        f.write(b"2\n")  # cp still writing
        f.flush()
        assert _keys(watcher) == []
        clock.now += 1
        f.write(b"3\n")
        f.flush()
        assert _keys(watcher) == []
    clock.now += 1
    assert _keys(watcher) == ["orders/big.csv"]


def test_rename_into_place_and_partial_names(
    folder: tuple[FolderBuckets, Path, ManualClock, PrefixWatcher],
) -> None:
    _, root, clock, watcher = folder
    (root / "orders").mkdir()
    temp = root / "orders" / "b.csv.tmp"
    temp.write_bytes(b"id\n1\n")
    (root / "orders" / ".c.csv").write_bytes(b"id\n")
    assert _keys(watcher) == []
    clock.now += 1
    assert _keys(watcher) == []
    os.replace(temp, root / "orders" / "b.csv")
    assert _keys(watcher) == []
    clock.now += 0.5
    assert _keys(watcher) == ["orders/b.csv"]


def test_rewrite_is_reported_again_and_removal_is_reported(
    folder: tuple[FolderBuckets, Path, ManualClock, PrefixWatcher],
) -> None:
    buckets, root, clock, watcher = folder
    buckets.write_object(BUCKET, "orders/a.csv", b"id\n1\n")
    buckets.write_object(BUCKET, "orders/b.csv", b"id\n2\n")
    watcher.poll()
    clock.now += 1
    assert _keys(watcher) == ["orders/a.csv", "orders/b.csv"]
    buckets.write_object(BUCKET, "orders/a.csv", b"id\n1\n")  # the same bytes, written again
    (root / "orders" / "b.csv").unlink()
    changes = watcher.poll()
    assert changes.put == [] and changes.removed == ["orders/b.csv"]
    clock.now += 1
    assert _keys(watcher) == ["orders/a.csv"]


def test_known_objects_are_not_reported_again(tmp_path: Path) -> None:
    buckets = FolderBuckets(tmp_path)
    buckets.write_object(BUCKET, "orders/a.csv", b"id\n1\n")
    buckets.write_object(BUCKET, "orders/b.csv", b"id\n2\n")
    known = {
        o.key: o.version for o in buckets.list_objects(BUCKET, "orders/") if o.key.endswith("a.csv")
    }
    clock = ManualClock(100.0)
    watcher = PrefixWatcher(buckets, BUCKET, "orders/", known, clock=clock)
    watcher.poll()
    clock.now += 1
    assert _keys(watcher) == ["orders/b.csv"]


def test_files_are_reported_in_the_order_they_arrived(tmp_path: Path) -> None:
    buckets = FolderBuckets(tmp_path)
    for i, name in enumerate(["z.csv", "a.csv", "m.csv"]):
        buckets.write_object(BUCKET, f"orders/{name}", b"id\n")
        path = tmp_path / BUCKET / "orders" / name
        os.utime(path, ns=(1_000_000_000 * (i + 1), 1_000_000_000 * (i + 1)))
    clock = ManualClock(100.0)
    watcher = PrefixWatcher(buckets, BUCKET, "orders/", clock=clock)
    watcher.poll()
    clock.now += 1
    assert _keys(watcher) == ["orders/z.csv", "orders/a.csv", "orders/m.csv"]


def test_s3_objects_are_complete_when_listed(s3_env: dict[str, str]) -> None:
    buckets = S3Buckets(s3_client(s3_env))
    bucket = f"w{os.urandom(6).hex()}"
    buckets.ensure_bucket(bucket)
    watcher = PrefixWatcher(buckets, bucket, "orders/")
    buckets.write_object(bucket, "orders/a.csv", b"id\n1\n")
    buckets.write_object(bucket, "other/x.csv", b"id\n1\n")
    assert _keys(watcher) == ["orders/a.csv"]
    assert _keys(watcher) == []
    buckets.client.delete_object(Bucket=bucket, Key="orders/a.csv")
    assert watcher.poll().removed == ["orders/a.csv"]
