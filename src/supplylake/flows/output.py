"""Files an execution writes to a bucket: an S3 target's result, and diagnostics.

An S3 target gets one file per execution under its prefix, named for the flow and the
execution (so a rerun writes the same object again, never a second one), in the target's
``fileType`` (CSV by default; JSON is written as JSON lines). The rows are spooled to a
temporary file as they stream, then written as one object: readers never see part of it.

Diagnostics go under ``_diagnostics/<flow>/<execution id>/`` of the instance's bucket: a
leading underscore keeps flows from taking them as source files.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from supplylake.flows.buckets import Buckets
from supplylake.flows.definition import FileType

DIAGNOSTICS_FOLDER = "_diagnostics"

_SUFFIXES = {FileType.CSV: "csv", FileType.PARQUET: "parquet", FileType.JSON: "json"}


def diagnostics_prefix(flow: str, execution_id: str) -> str:
    """The key prefix of an execution's diagnostics files."""
    return f"{DIAGNOSTICS_FOLDER}/{flow}/{execution_id}/"


def result_key(prefix: str, flow: str, execution_id: str, file_type: FileType) -> str:
    """The key of the file an execution writes to an S3 target."""
    folder = prefix.strip("/")
    name = f"{flow}-{execution_id}.{_SUFFIXES[file_type]}"
    return f"{folder}/{name}" if folder else name


def write_rows(
    buckets: Buckets,
    bucket: str,
    key: str,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    file_type: FileType,
    spool_dir: Path | None = None,
) -> int:
    """Write ``batches`` as one object of ``file_type``; the number of rows written."""
    rows = 0
    with tempfile.TemporaryFile(dir=spool_dir) as out:
        if file_type is FileType.PARQUET:
            with pq.ParquetWriter(out, schema) as writer:
                for batch in batches:
                    writer.write_batch(batch)
                    rows += batch.num_rows
        elif file_type is FileType.JSON:
            for batch in batches:
                for record in batch.to_pylist():
                    out.write(orjson.dumps(record, default=str) + b"\n")
                rows += batch.num_rows
        else:
            with pacsv.CSVWriter(out, schema) as writer:
                for batch in batches:
                    writer.write_batch(batch)
                    rows += batch.num_rows
        out.seek(0)
        buckets.write_object(bucket, key, out)
    return rows


def write_table(
    buckets: Buckets, bucket: str, key: str, table: pa.Table, file_type: FileType = FileType.CSV
) -> None:
    """Write a small table (diagnostics) as one object."""
    write_rows(buckets, bucket, key, table.schema, table.to_batches(), file_type)
