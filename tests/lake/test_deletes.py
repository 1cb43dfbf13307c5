"""UPSERT and DELETE write Iceberg v2 position delete files, laid out as the spec says."""

from __future__ import annotations

from typing import Any

import pyarrow.parquet as pq
import pytest
from pyiceberg.conversions import from_bytes
from pyiceberg.manifest import DataFileContent, ManifestContent
from pyiceberg.types import LongType, StringType

from supplylake.lake import Change, Lake, deletes
from supplylake.query.engine import run_query
from supplylake.schema.types import (
    DatasetSchema,
    Field,
    FieldType,
    Operation,
    PartitionField,
    Transform,
)

from .conftest import INSTANCE
from .rows import canonical, table

BY_SITE = DatasetSchema(
    "by_site",
    (
        Field("k", FieldType.STRING, required=True),
        Field("site", FieldType.STRING),
        Field("v", FieldType.LONG),
    ),
    primary_keys=("k",),
    partition_spec=(PartitionField("site", Transform.IDENTITY),),
)


def apply(lake: Lake, position: int, op: Operation, rows: list[dict[str, Any]]) -> Any:
    change = Change(op, table(BY_SITE, rows))
    return lake.apply_batch(INSTANCE, "default", BY_SITE, [change], position)


def entries(lake: Lake) -> list[Any]:
    tbl = lake.table(INSTANCE, "default", "by_site")
    found = []
    for manifest in tbl.current_snapshot().manifests(tbl.io):
        for entry in manifest.fetch_manifest_entry(tbl.io, discard_deleted=True):
            found.append((manifest, entry))
    return found


@pytest.fixture
def loaded(lake: Lake) -> Lake:
    lake.create_table(INSTANCE, "default", BY_SITE)
    apply(
        lake,
        1,
        Operation.APPEND,
        [{"k": f"k{i}", "site": s, "v": 0} for i in range(6) for s in "xy"],
    )
    apply(lake, 2, Operation.APPEND, [{"k": "k0", "site": "x", "v": 1}])  # a duplicate key
    return lake


def test_upsert_keeps_data_files_and_adds_a_delete_file_per_partition(loaded: Lake) -> None:
    before = {e.data_file.file_path for _, e in entries(loaded)}

    result = apply(
        loaded,
        3,
        Operation.UPSERT,
        [
            {"k": "k0", "site": "x", "v": 9},
            {"k": "k1", "site": "y", "v": 9},
            {"k": "new", "site": "x"},
        ],
    )

    assert (result.rows_removed, result.files_touched, result.delete_files_added) == (3, 3, 2)
    live = entries(loaded)
    assert before <= {e.data_file.file_path for _, e in live}  # nothing rewritten
    deletes = [(m, e) for m, e in live if e.data_file.content == DataFileContent.POSITION_DELETES]
    assert len(deletes) == 2
    assert all(m.content == ManifestContent.DELETES for m, _ in deletes)
    snapshot = loaded.table(INSTANCE, "default", "by_site").current_snapshot()
    assert snapshot.summary["supplylake.position"] == "3"
    assert snapshot.summary["added-position-deletes"] == "3"
    assert canonical(loaded.scan(INSTANCE, "default", "by_site")) == canonical(
        [
            {"k": f"k{i}", "site": s, "v": 0}
            for i in range(6)
            for s in "xy"
            if (i, s) not in {(0, "x"), (1, "y")}
        ]
        + [
            {"k": "k0", "site": "x", "v": 9},
            {"k": "k1", "site": "y", "v": 9},
            {"k": "new", "site": "x", "v": None},
        ]
    )


def test_delete_files_follow_the_spec(loaded: Lake) -> None:
    apply(loaded, 3, Operation.DELETE, [{"k": "k0", "site": "x"}, {"k": "k3", "site": "x"}])
    tbl = loaded.table(INSTANCE, "default", "by_site")
    live = entries(loaded)
    data = {
        e.data_file.file_path: e for _, e in live if e.data_file.content == DataFileContent.DATA
    }
    (delete,) = [e for _, e in live if e.data_file.content == DataFileContent.POSITION_DELETES]
    delete_file = delete.data_file

    with tbl.io.new_input(delete_file.file_path).open() as stream:
        content = pq.read_table(stream)
    assert content.column_names == ["file_path", "pos"]
    assert [f.metadata[b"PARQUET:field_id"] for f in content.schema] == [
        b"2147483546",
        b"2147483545",
    ]
    assert str(content.schema.field("pos").type) == "int64"
    rows = list(
        zip(content.column("file_path").to_pylist(), content.column("pos").to_pylist(), strict=True)
    )
    assert rows == sorted(rows) and len(rows) == 3  # k0 twice (two files), k3 once
    targets = {path for path, _ in rows}
    assert targets <= set(data)
    for path in targets:  # same partition, and a newer sequence number than its data files
        assert data[path].data_file.partition == delete_file.partition
        assert data[path].sequence_number < delete.sequence_number
    assert from_bytes(StringType(), delete_file.lower_bounds[2147483546]) == min(targets)
    assert from_bytes(StringType(), delete_file.upper_bounds[2147483546]) == max(targets)
    assert from_bytes(LongType(), delete_file.upper_bounds[2147483545]) == max(p for _, p in rows)
    assert delete_file.record_count == 3
    assert delete_file.sort_order_id is None


def test_duckdb_reads_what_pyiceberg_reads(loaded: Lake) -> None:
    apply(loaded, 3, Operation.UPSERT, [{"k": "k2", "site": "y", "v": 5}])
    apply(loaded, 4, Operation.DELETE, [{"k": "k0", "site": "x"}])
    expected = canonical(loaded.scan(INSTANCE, "default", "by_site"))
    got = run_query(loaded, INSTANCE, "SELECT * FROM default.by_site")
    assert canonical(got) == expected
    assert len(expected) == 11


def test_a_key_deleted_twice_is_deleted_once(loaded: Lake) -> None:
    apply(loaded, 3, Operation.DELETE, [{"k": "k5", "site": "y"}])
    result = apply(loaded, 4, Operation.DELETE, [{"k": "k5", "site": "y"}])
    assert (result.rows_removed, result.delete_files_added) == (0, 0)
    assert loaded.row_count(INSTANCE, "default", "by_site") == 12


def test_scan_filters_selects_and_limits_rows_of_files_with_deletes(loaded: Lake) -> None:
    apply(
        loaded,
        3,
        Operation.UPSERT,
        [{"k": "k2", "site": "y", "v": 5}, {"k": "k3", "site": "x", "v": 6}],
    )
    apply(loaded, 4, Operation.DELETE, [{"k": "k0", "site": "x"}])
    tbl = loaded.table(INSTANCE, "default", "by_site")

    got = loaded.scan(
        INSTANCE, "default", "by_site", row_filter="v >= 1 OR k = 'k4'", columns=["k"]
    )

    assert sorted(got.column("k").to_pylist()) == ["k2", "k3", "k4", "k4"]
    assert got.column_names == ["k"]
    pyiceberg = tbl.scan(row_filter="v >= 1 OR k = 'k4'", selected_fields=("k",)).to_arrow()
    assert canonical(pyiceberg) == canonical(got)
    assert loaded.scan(INSTANCE, "default", "by_site", limit=3).num_rows == 3
    assert loaded.scan(INSTANCE, "default", "by_site", row_filter="site = 'x'").num_rows == 5


def _delete_codecs(lake: Lake) -> set[str]:
    tbl = lake.table(INSTANCE, "default", "by_site")
    codecs = set()
    for _, e in entries(lake):
        if e.data_file.content != DataFileContent.POSITION_DELETES:
            continue
        with tbl.io.new_input(e.data_file.file_path).open() as stream:
            metadata = pq.ParquetFile(stream).metadata
            codecs |= {
                metadata.row_group(g).column(c).compression
                for g in range(metadata.num_row_groups)
                for c in range(metadata.num_columns)
            }
    return codecs


def test_a_small_delete_file_is_written_with_snappy(loaded: Lake) -> None:
    apply(loaded, 3, Operation.DELETE, [{"k": "k0", "site": "x"}, {"k": "k3", "site": "x"}])
    assert _delete_codecs(loaded) == {"SNAPPY"}


def test_a_delete_file_over_the_small_size_is_written_with_zstd(
    loaded: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deletes, "_SMALL_BYTES", 10)
    apply(loaded, 3, Operation.DELETE, [{"k": "k0", "site": "x"}, {"k": "k3", "site": "x"}])
    assert _delete_codecs(loaded) == {"ZSTD"}
    assert canonical(loaded.scan(INSTANCE, "default", "by_site", columns=["k"])) == canonical(
        [{"k": f"k{i}"} for i in range(6) for s in "xy" if (i, s) not in {(0, "x"), (3, "x")}]
    )
