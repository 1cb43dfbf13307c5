"""Another engine reads the tables as pyiceberg does: iceberg-rust, through DataFusion.

iceberg-rust has its own code for manifests, sequence numbers, partitions and position deletes,
so it checks what this package writes the way Spark or Trino would (neither can run here). It
comes with pyiceberg-core; the `datafusion` package (53 or newer) that drives it is not a
dependency of the project, so this test runs where it is installed and is skipped elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from supplylake.lake import Change

from .crash_writer import INSTANCE, SCHEMA, batch, expected, open_lake
from .rows import canonical, table

datafusion = pytest.importorskip("datafusion")


def _read_with_iceberg_rust(metadata_location: str) -> Any:
    from pyiceberg_core.datafusion import IcebergDataFusionTable

    context = datafusion.SessionContext()
    provider = IcebergDataFusionTable(
        identifier=["default", "crash"],
        metadata_location=metadata_location,
        file_io_properties={},
    )
    context.register_table("crash", provider)
    return context.sql("SELECT * FROM crash").to_arrow_table()


def test_iceberg_rust_reads_upserts_deletes_and_compactions(tmp_path: Path) -> None:
    lake = open_lake(tmp_path)
    lake.create_table(INSTANCE, "default", SCHEMA)
    most_deleted = 0
    try:
        for position in range(1, 25):
            changes = [Change(op, table(SCHEMA, rows)) for op, rows in batch(position)]
            lake.apply_batch(INSTANCE, "default", SCHEMA, changes, position)
            if position % 8 == 0:
                share = 0.0 if position % 16 == 0 else 0.2
                lake.compact(INSTANCE, "default", "crash", min_deleted_share=share)
            tbl = lake.table(INSTANCE, "default", "crash")
            got = _read_with_iceberg_rust(tbl.metadata_location)
            assert canonical(got) == canonical(expected(position)), position
            deleted = int(tbl.current_snapshot().summary["total-position-deletes"])
            most_deleted = max(most_deleted, deleted)
        assert most_deleted > 50  # it did read position deletes
    finally:
        lake.close()
