"""The lake writes and reads data files as pyiceberg's own write path and scan do."""

from __future__ import annotations

import itertools
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files
from pyiceberg.manifest import DataFile
from pyiceberg.table import FileScanTask

from supplylake.lake import Lake, datafiles
from supplylake.lake.datafiles import forget_plans, plan_for, write_data_files
from supplylake.lake.paths import local_path
from supplylake.lake.read import file_rows
from supplylake.schema.asc import asc_datasets
from supplylake.schema.types import DatasetSchema, FieldType
from tests.schemas import DAILY, KV

from .conftest import INSTANCE
from .rows import table, ts

_SAME = (
    "content",
    "file_format",
    "record_count",
    "value_counts",
    "null_value_counts",
    "nan_value_counts",
    "lower_bounds",
    "upper_bounds",
    "split_offsets",
    "partition",
    "equality_ids",
    "sort_order_id",
)


_VALUES = {
    FieldType.INT: lambda i: i,
    FieldType.LONG: lambda i: i * 1_000_003,
    FieldType.DOUBLE: lambda i: i * 1.5,
    FieldType.STRING: lambda i: f"value-{i}",
    FieldType.TIMESTAMP: lambda i: ts(f"2026-01-{1 + i % 3:02d}T0{i % 10}:00:00"),
}


def _rows(schema: DatasetSchema, n: int) -> pa.Table:
    """`n` rows with every field set, but for every fourth row's optional fields (null)."""
    records = [
        {
            f.name: None if (i % 4 == 0 and not f.required) else _VALUES[f.type](i)
            for f in schema.fields
        }
        for i in range(n)
    ]
    return table(schema, records)


def _pyiceberg_files(lake: Lake, schema: DatasetSchema, rows: pa.Table) -> list[DataFile]:
    t = lake.open_table(INSTANCE, "default", schema, create=True)
    return list(_dataframe_to_data_files(t.metadata, rows, t.io, uuid.uuid4(), itertools.count()))


def _file_schema(data_file: DataFile) -> pa.Schema:
    path = local_path(data_file.file_path)
    assert path is not None
    return pq.read_schema(path)


@pytest.mark.parametrize(
    "schema", [KV, DAILY, asc_datasets()["inbound_order"]], ids=["kv", "daily", "asc"]
)
@pytest.mark.parametrize("n", [1, 1000])
def test_the_files_say_what_pyiceberg_s_say(lake: Lake, schema: DatasetSchema, n: int) -> None:
    forget_plans()
    rows = _rows(schema, n)
    theirs = _pyiceberg_files(lake, schema, rows)
    t = lake.open_table(INSTANCE, "default", schema)
    ours = write_data_files(t, rows)
    assert len(ours) == len(theirs)
    for mine, other in zip(
        sorted(ours, key=lambda f: repr(f.partition)),
        sorted(theirs, key=lambda f: repr(f.partition)),
        strict=True,
    ):
        for name in _SAME:
            assert getattr(mine, name) == getattr(other, name), name
        assert _file_schema(mine) == _file_schema(other)
        assert mine.file_path != other.file_path
    if schema.partition_spec and n > 1:
        assert len(ours) > 1  # split by partition


def test_a_plan_is_made_once_per_table_schema(lake: Lake) -> None:
    forget_plans()
    t = lake.open_table(INSTANCE, "default", KV, create=True)
    rows = _rows(KV, 3)
    first = plan_for(t.metadata, rows.schema)
    assert plan_for(t.metadata, rows.schema) is first
    other = lake.open_table(INSTANCE, "default", DAILY, create=True)
    assert plan_for(other.metadata, _rows(DAILY, 3).schema) is not first


@pytest.mark.parametrize(
    "schema", [KV, DAILY, asc_datasets()["inbound_order"]], ids=["kv", "daily", "asc"]
)
def test_file_rows_are_what_pyiceberg_s_scan_reads(lake: Lake, schema: DatasetSchema) -> None:
    t = lake.open_table(INSTANCE, "default", schema, create=True)
    files = write_data_files(t, _rows(schema, 300)) + write_data_files(t, _rows(schema, 7))
    for f in files:
        f.spec_id = t.spec().spec_id  # as a manifest gives it
    theirs = ArrowScan(t.metadata, t.io, t.schema(), AlwaysTrue()).to_table(
        [FileScanTask(f) for f in files]
    )
    assert file_rows(t, files).equals(theirs)
    keys = list(schema.primary_keys)
    assert file_rows(t, files, keys).equals(theirs.select(keys))


def _codecs(data_file: DataFile) -> set[str]:
    path = local_path(data_file.file_path)
    assert path is not None
    metadata = pq.ParquetFile(path).metadata
    return {
        metadata.row_group(g).column(c).compression
        for g in range(metadata.num_row_groups)
        for c in range(metadata.num_columns)
    }


def test_a_small_file_is_written_with_snappy(lake: Lake) -> None:
    forget_plans()
    t = lake.open_table(INSTANCE, "default", KV, create=True)
    (written,) = write_data_files(t, _rows(KV, 3))
    assert _codecs(written) == {"SNAPPY"}


def test_a_file_over_the_small_size_is_written_with_the_table_s_zstd(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    forget_plans()
    monkeypatch.setattr(datafiles, "_SMALL_BYTES", 100)
    t = lake.open_table(INSTANCE, "default", KV, create=True)
    rows = _rows(KV, 300)
    assert rows.nbytes > 100
    (written,) = write_data_files(t, rows)
    assert _codecs(written) == {"ZSTD"}
    (small,) = write_data_files(t, _rows(KV, 1))  # the same plan: the size decides
    assert _codecs(small) == {"SNAPPY"}


@pytest.mark.parametrize("n", [3, 300])
def test_a_table_that_names_a_codec_keeps_it_for_every_file(
    lake: Lake, monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    forget_plans()
    monkeypatch.setattr(datafiles, "_SMALL_BYTES", 100)
    lake.create_table(INSTANCE, "default", KV)
    lake.table(INSTANCE, "default", KV.name).transaction().set_properties(
        {"write.parquet.compression-codec": "gzip"}
    ).commit_transaction()
    t = lake.open_table(INSTANCE, "default", KV)
    (written,) = write_data_files(t, _rows(KV, n))
    assert _codecs(written) == {"GZIP"}
