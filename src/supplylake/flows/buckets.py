"""The instance buckets, ``aws-supply-chain-data-<instanceId>``: folders, or S3 itself.

On the embedded default a bucket is a folder, ``<data-dir>/buckets/<bucket>/``, so ``cp`` into it
is an upload. With ``buckets = s3`` the buckets are real buckets of S3 or of any S3-compatible
store (MinIO, Ceph), reached the usual AWS way as the warehouse is: the endpoint from
``AWS_ENDPOINT_URL_S3`` (else ``AWS_ENDPOINT_URL``), the region and keys from the ``AWS_*``
variables or the profile.

Both backends skip names a writer uses while it is not done: a path part starting with ``.`` or
``_`` (editors, rsync, Spark's ``_temporary/`` and ``_SUCCESS``) and names ending in ``.tmp``,
``.part``, ``_COPYING_`` and the like. A folder has no "upload complete" moment, so the watcher
(``flows.watch``) also waits for a file's size and modification time to stay the same across
two scans; an S3 object is complete once it is listed.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from supplylake.flows.errors import StorageError

if TYPE_CHECKING:
    from supplylake.config import Settings

BUCKET_PREFIX = "aws-supply-chain-data-"

_PARTIAL = re.compile(
    r".*(\.tmp|\.temp|\.part|\.partial|\.crdownload|\.download|\.swp|_COPYING_|~)$", re.IGNORECASE
)


def bucket_name(instance_id: str) -> str:
    """The bucket of an instance."""
    return f"{BUCKET_PREFIX}{instance_id}"


def is_partial_name(key: str) -> bool:
    """Whether a key looks like a file still being written (never read by a flow)."""
    parts = key.split("/")
    return any(p.startswith((".", "_")) for p in parts if p) or bool(_PARTIAL.fullmatch(parts[-1]))


@dataclass(frozen=True, order=True)
class ObjectInfo:
    """An object as listed; ``version`` changes whenever the object is written again."""

    key: str
    size: int
    #: Modification time in nanoseconds since the epoch (the order objects arrived in).
    mtime_ns: int
    version: str


class Buckets(ABC):
    """Where the instance buckets live."""

    #: A folder has no "upload complete": its listings must settle before they are trusted.
    needs_settling: bool = False

    @abstractmethod
    def ensure_bucket(self, bucket: str) -> None:
        """Create the bucket if it does not exist."""

    @abstractmethod
    def ensure_prefix(self, bucket: str, prefix: str) -> None:
        """Make ``prefix`` a place files can be copied to."""

    @abstractmethod
    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix`` (partial names left out), in key order."""

    @abstractmethod
    def open_object(self, bucket: str, key: str) -> BinaryIO:
        """A stream of the object's bytes (the caller closes it); StorageError if missing."""

    @abstractmethod
    def write_object(self, bucket: str, key: str, data: bytes | IO[bytes]) -> None:
        """Write an object whole: readers never see part of it."""

    def uri(self, bucket: str, key: str = "") -> str:
        return f"s3://{bucket}/{key}"


def open_buckets(setting: str, data_dir: Path, env: Mapping[str, str] | None = None) -> Buckets:
    """The backend a ``buckets`` setting names: empty for folders, ``s3`` for S3 buckets."""
    value = setting.strip()
    if value.lower() in ("s3", "s3://"):
        return S3Buckets(s3_client(env))
    if value.lower().startswith("s3"):
        raise ValueError(f"buckets={setting!r}: use 's3' (bucket names come from the instances)")
    return FolderBuckets((Path(value) if value else data_dir / "buckets").resolve())


def buckets_for(settings: Settings) -> Buckets:
    """The buckets of these settings, as ``serve`` and ``loader`` open them."""
    return open_buckets(settings.buckets, settings.data_dir)


# -- folders -------------------------------------------------------------------------------
class FolderBuckets(Buckets):
    """Buckets as folders under ``root`` (the embedded default)."""

    needs_settling = True

    def __init__(self, root: Path) -> None:
        self.root = root

    def ensure_bucket(self, bucket: str) -> None:
        self._bucket(bucket).mkdir(parents=True, exist_ok=True)

    def ensure_prefix(self, bucket: str, prefix: str) -> None:
        # So that `cp orders.csv <bucket>/orders/` works without a mkdir first.
        if prefix.strip("/"):
            self._path(bucket, prefix).mkdir(parents=True, exist_ok=True)

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        base = self._bucket(bucket)
        # Walk only the deepest folder the prefix is sure to be in.
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self._path(bucket, folder) if folder else base
        found: list[ObjectInfo] = []
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
            for name in filenames:
                path = Path(dirpath, name)
                key = path.relative_to(base).as_posix()
                if not key.startswith(prefix) or is_partial_name(key):
                    continue
                try:
                    st = path.stat()
                except FileNotFoundError:  # removed between the walk and the stat
                    continue
                version = f"{st.st_mtime_ns}:{st.st_size}:{st.st_ino}"
                found.append(ObjectInfo(key, st.st_size, st.st_mtime_ns, version))
        yield from sorted(found)

    def open_object(self, bucket: str, key: str) -> BinaryIO:
        try:
            return open(self._path(bucket, key), "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise StorageError(f"{self.uri(bucket, key)} does not exist.") from None
        except OSError as e:
            raise StorageError(f"{self.uri(bucket, key)} cannot be read: {e.strerror}.") from None

    def write_object(self, bucket: str, key: str, data: bytes | IO[bytes]) -> None:
        path = self._path(bucket, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # A dot-name in the same folder, renamed into place: listings skip it until it is whole.
        temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(temp, "wb") as out:
                if isinstance(data, bytes):
                    out.write(data)
                else:
                    shutil.copyfileobj(data, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)

    def _bucket(self, bucket: str) -> Path:
        if not bucket or "/" in bucket or bucket in (".", ".."):
            raise StorageError(f"{bucket!r} is not a bucket name.")
        return self.root / bucket

    def _path(self, bucket: str, key: str) -> Path:
        base = self._bucket(bucket)
        parts = [p for p in key.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise StorageError(f"{key!r} is not an object key of bucket {bucket}.")
        return base.joinpath(*parts)


# -- S3 ------------------------------------------------------------------------------------
def s3_client(env: Mapping[str, str] | None = None) -> Any:
    """A boto3 S3 client configured the usual AWS way (as the warehouse is)."""
    import boto3
    from botocore.config import Config

    env = os.environ if env is None else env
    # The S3-specific variable first: AWS_ENDPOINT_URL may name the supplylake API itself.
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
    # S3-compatible stores are addressed by path; AWS itself by virtual host.
    config = Config(
        s3={"addressing_style": "path" if endpoint else "auto"},
        retries={"mode": "standard", "max_attempts": 5},
    )
    keys: dict[str, str] = {}
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        keys["aws_access_key_id"] = env["AWS_ACCESS_KEY_ID"]
        keys["aws_secret_access_key"] = env["AWS_SECRET_ACCESS_KEY"]
        if env.get("AWS_SESSION_TOKEN"):
            keys["aws_session_token"] = env["AWS_SESSION_TOKEN"]
    # Without static keys boto3 finds them itself: profile, container or instance role.
    return boto3.session.Session(**keys).client(
        "s3", endpoint_url=endpoint, region_name=region, config=config
    )


class S3Buckets(Buckets):
    """Buckets of S3 or of an S3-compatible store, through one boto3 client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def ensure_bucket(self, bucket: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=bucket)
            return
        except ClientError as e:
            if _code(e) not in ("404", "NoSuchBucket", "NotFound"):
                raise StorageError(f"s3://{bucket} cannot be reached: {_reason(e)}.") from None
        region = self.client.meta.region_name
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self.client.create_bucket(**kwargs)
        except ClientError as e:
            if _code(e) not in ("BucketAlreadyOwnedByYou",):
                raise StorageError(f"s3://{bucket} cannot be created: {_reason(e)}.") from None

    def ensure_prefix(self, bucket: str, prefix: str) -> None:
        """Nothing to do: S3 keys are not folders, any key can be written at once."""

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        from botocore.exceptions import ClientError

        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        try:
            for page in pages:
                for obj in page.get("Contents", ()):
                    key = obj["Key"]
                    if key.endswith("/") or is_partial_name(key):
                        continue
                    modified = obj["LastModified"]
                    mtime_ns = int(modified.timestamp() * 1_000_000) * 1000
                    # A copy onto itself keeps the ETag (same bytes) but not the time.
                    version = f"{obj['ETag'].strip(chr(34))}:{modified.isoformat()}"
                    yield ObjectInfo(key, int(obj["Size"]), mtime_ns, version)
        except ClientError as e:
            raise StorageError(f"s3://{bucket}/{prefix} cannot be listed: {_reason(e)}.") from None

    def open_object(self, bucket: str, key: str) -> BinaryIO:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
        except ClientError as e:
            if _code(e) in ("NoSuchKey", "404", "NoSuchBucket"):
                raise StorageError(f"s3://{bucket}/{key} does not exist.") from None
            raise StorageError(f"s3://{bucket}/{key} cannot be read: {_reason(e)}.") from None
        return io.BufferedReader(_Body(body), buffer_size=1 << 20)

    def write_object(self, bucket: str, key: str, data: bytes | IO[bytes]) -> None:
        from botocore.exceptions import ClientError

        try:
            if isinstance(data, bytes):
                self.client.put_object(Bucket=bucket, Key=key, Body=data)
            else:  # multipart above the transfer threshold, so memory stays bounded
                self.client.upload_fileobj(data, bucket, key)
        except ClientError as e:
            raise StorageError(f"s3://{bucket}/{key} cannot be written: {_reason(e)}.") from None


class _Body(io.RawIOBase):
    """botocore's streaming body as a raw binary file (what pyarrow's readers take)."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data: bytes = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def spool(stream: IO[bytes], directory: Path | None = None) -> BinaryIO:
    """A seekable copy of a stream in a temporary file (for formats read from the end)."""
    out = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - the caller closes it
    shutil.copyfileobj(stream, out, 1 << 20)
    out.seek(0)
    return out


def _code(e: Any) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


def _reason(e: Any) -> str:
    error = e.response.get("Error", {})
    return str(error.get("Message") or error.get("Code") or e)
