"""The instance buckets: one contract, run on folders and on a real S3 API server (moto)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from supplylake.config import Settings
from supplylake.flows.buckets import (
    Buckets,
    FolderBuckets,
    S3Buckets,
    bucket_name,
    buckets_for,
    is_partial_name,
    open_buckets,
    s3_client,
)
from supplylake.flows.errors import StorageError
from tests.flows.wire import INSTANCE

BUCKET = bucket_name(INSTANCE)


@pytest.fixture(params=["folder", "s3"])
def buckets(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Buckets:
    if request.param == "folder":
        return open_buckets("", tmp_path)
    env: dict[str, str] = request.getfixturevalue("s3_env")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    backend = open_buckets("s3", tmp_path)  # the environment, as the product reads it
    assert isinstance(backend, S3Buckets)
    # Each test its own bucket on the shared server.
    bucket = f"t{os.urandom(6).hex()}"
    backend.ensure_bucket(bucket)
    request.node.bucket = bucket
    return backend


def _bucket(buckets: Buckets, request: pytest.FixtureRequest) -> str:
    name = getattr(request.node, "bucket", BUCKET)
    buckets.ensure_bucket(name)
    return name


def test_bucket_of_an_instance() -> None:
    assert f"aws-supply-chain-data-{INSTANCE}" == BUCKET


def test_folder_default_lives_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings.from_env({"SUPPLYLAKE_DATA_DIR": str(tmp_path)})
    backend = buckets_for(settings)
    assert isinstance(backend, FolderBuckets) and backend.root == tmp_path.resolve() / "buckets"
    elsewhere = buckets_for(Settings.from_env({"SUPPLYLAKE_BUCKETS": str(tmp_path / "b")}))
    assert isinstance(elsewhere, FolderBuckets) and elsewhere.root == tmp_path.resolve() / "b"
    backend.ensure_bucket(BUCKET)
    assert (tmp_path / "buckets" / BUCKET).is_dir()
    with pytest.raises(ValueError, match="use 's3'"):
        open_buckets("s3://some-bucket", tmp_path)


def test_write_list_and_read_back(buckets: Buckets, request: pytest.FixtureRequest) -> None:
    bucket = _bucket(buckets, request)
    buckets.write_object(bucket, "orders/a.csv", b"id\n1\n")
    buckets.write_object(bucket, "orders/sub/b.csv", io.BytesIO(b"id\n2\n" * 1000))
    buckets.write_object(bucket, "ordersx/c.csv", b"id\n3\n")
    listed = list(buckets.list_objects(bucket, "orders/"))
    assert [(o.key, o.size) for o in listed] == [("orders/a.csv", 5), ("orders/sub/b.csv", 5000)]
    assert len({o.version for o in listed}) == 2
    assert [o.key for o in buckets.list_objects(bucket, "orders")] == [
        "orders/a.csv",
        "orders/sub/b.csv",
        "ordersx/c.csv",
    ]
    with buckets.open_object(bucket, "orders/sub/b.csv") as f:
        assert f.read(6) == b"id\n2\ni"
        assert len(f.read()) == 4994


def test_rewriting_a_key_changes_its_version(
    buckets: Buckets, request: pytest.FixtureRequest
) -> None:
    bucket = _bucket(buckets, request)
    buckets.write_object(bucket, "p/a.csv", b"id\n1\n")
    (before,) = buckets.list_objects(bucket, "p/")
    if isinstance(buckets, S3Buckets):
        # How users re-run a flow on AWS: the object copied onto itself.
        import time

        time.sleep(1.1)  # S3 times have a second's resolution
        buckets.client.copy_object(
            Bucket=bucket,
            Key="p/a.csv",
            CopySource={"Bucket": bucket, "Key": "p/a.csv"},
            MetadataDirective="REPLACE",
        )
    else:
        buckets.write_object(bucket, "p/a.csv", b"id\n1\n")
    (after,) = buckets.list_objects(bucket, "p/")
    assert after.key == before.key and after.version != before.version


def test_partial_names_are_never_listed(buckets: Buckets, request: pytest.FixtureRequest) -> None:
    bucket = _bucket(buckets, request)
    for key in [
        "p/.a.csv.swx",
        "p/a.csv.tmp",
        "p/a.csv._COPYING_",
        "p/_temporary/0/part-0.csv",
        "p/_SUCCESS",
        "p/b.csv.part",
        "p/done.csv",
    ]:
        buckets.write_object(bucket, key, b"x")
    assert [o.key for o in buckets.list_objects(bucket, "p/")] == ["p/done.csv"]
    assert is_partial_name("a/.hidden/b.csv") and not is_partial_name("a/b.csv")


def test_missing_objects_and_bad_keys_are_storage_errors(
    buckets: Buckets, request: pytest.FixtureRequest
) -> None:
    bucket = _bucket(buckets, request)
    with pytest.raises(StorageError, match="does not exist"):
        buckets.open_object(bucket, "nope.csv")
    assert buckets.uri(bucket, "a/b.csv") == f"s3://{bucket}/a/b.csv"


def test_folder_keys_cannot_leave_the_bucket(tmp_path: Path) -> None:
    backend = FolderBuckets(tmp_path)
    for key in ["../x.csv", "a/../../x.csv", ""]:
        with pytest.raises(StorageError):
            backend.write_object(BUCKET, key, b"x")
    assert list(tmp_path.rglob("x.csv")) == []


def test_folder_prefix_is_made_a_folder_inside_the_bucket(tmp_path: Path) -> None:
    backend = FolderBuckets(tmp_path)
    backend.ensure_prefix(BUCKET, "orders/daily/")
    assert (tmp_path / BUCKET / "orders" / "daily").is_dir()
    with pytest.raises(StorageError):
        backend.ensure_prefix(BUCKET, "../escape")
    assert not (tmp_path / "escape").exists()


def test_folder_write_is_whole_or_absent(tmp_path: Path) -> None:
    backend = FolderBuckets(tmp_path)

    class Failing(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            raise OSError("disk went away")

    with pytest.raises(OSError):
        backend.write_object(BUCKET, "a/b.csv", Failing())
    assert list((tmp_path / BUCKET).rglob("*")) == [tmp_path / BUCKET / "a"]


def test_s3_bucket_is_created_in_the_configured_region(s3_env: dict[str, str]) -> None:
    client = s3_client(s3_env)
    S3Buckets(client).ensure_bucket(BUCKET)
    S3Buckets(client).ensure_bucket(BUCKET)  # again: nothing to do
    assert client.get_bucket_location(Bucket=BUCKET)["LocationConstraint"] == "eu-west-1"
    with pytest.raises(StorageError, match="cannot be listed"):
        list(S3Buckets(client).list_objects("no-such-bucket-here", ""))


def test_source_files_stream_from_the_bucket(
    buckets: Buckets, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from supplylake.flows.files import open_source_file

    bucket = _bucket(buckets, request)
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    table = pa.table({"id": [f"o{i}" for i in range(5000)], "qty": list(range(5000))})
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=1000)
    buckets.write_object(bucket, "orders/a.parquet", sink.getvalue())
    buckets.write_object(bucket, "orders/b.csv", b"id,qty\n" + b"o1,1\n" * 5000)
    with (
        buckets.open_object(bucket, "orders/a.parquet") as stream,
        open_source_file(
            stream, buckets.uri(bucket, "orders/a.parquet"), None, spool_dir=spool_dir
        ) as f,
    ):
        assert pa.Table.from_batches([b.data for b in f.batches()]) == table
    with buckets.open_object(bucket, "orders/b.csv") as stream:
        rows = sum(b.data.num_rows for b in open_source_file(stream, "b.csv", None).batches())
    assert rows == 5000
    assert list(spool_dir.iterdir()) == []  # the spooled copy is gone
