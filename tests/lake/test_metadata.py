"""The catalog parses each metadata file once, and never serves a stale table for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyiceberg.serializers import FromInputFile

from supplylake.lake import Change, Lake, catalog, manifests
from supplylake.schema.types import DatasetSchema, Field, FieldType, Operation

from .conftest import INSTANCE
from .rows import canonical, table

STOCK = DatasetSchema(
    "stock",
    (Field("sku", FieldType.STRING, required=True), Field("qty", FieldType.LONG)),
    primary_keys=("sku",),
)


def _upsert(lake: Lake, position: int, rows: list[dict[str, Any]]) -> None:
    lake.apply_batch(
        INSTANCE,
        "default",
        STOCK,
        [Change(Operation.UPSERT, table(STOCK, rows))],
        position=position,
    )


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every metadata file pyiceberg reads and parses (the real parser still runs)."""
    seen: list[str] = []
    real = FromInputFile.table_metadata

    def counting(input_file: Any, encoding: str = "utf-8") -> Any:
        seen.append(input_file.location)
        return real(input_file, encoding)

    catalog.forget_all()
    monkeypatch.setattr(FromInputFile, "table_metadata", staticmethod(counting))
    return seen


def test_loads_and_commits_parse_no_metadata_file_already_known(
    lake: Lake, parses: list[str]
) -> None:
    lake.create_table(INSTANCE, "default", STOCK)
    lake.table(INSTANCE, "default", "stock")
    assert len(parses) == 1  # the file create_table wrote, read once
    for position in range(1, 6):
        _upsert(lake, position, [{"sku": f"s{position}", "qty": position}])
        lake.table(INSTANCE, "default", "stock")
    # Each commit's own metadata is known at once: neither its check nor the next load parses.
    assert len(parses) == 1
    assert lake.last_position(INSTANCE, "default", "stock") == 5


def test_a_commit_by_another_catalog_is_seen_at_once(tmp_path: Path, parses: list[str]) -> None:
    uri, warehouse = f"sqlite:///{tmp_path / 'supplylake.db'}", str(tmp_path / "warehouse")
    ours, theirs = Lake(uri, warehouse), Lake(uri, warehouse)
    try:
        ours.create_table(INSTANCE, "default", STOCK)
        _upsert(ours, 1, [{"sku": "a", "qty": 1}])
        assert canonical(ours.scan(INSTANCE, "default", "stock")) == canonical(
            [{"sku": "a", "qty": 1}]
        )
        _upsert(theirs, 2, [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 3}])
        expected = canonical([{"sku": "a", "qty": 2}, {"sku": "b", "qty": 3}])
        assert canonical(ours.scan(INSTANCE, "default", "stock")) == expected
        assert ours.last_position(INSTANCE, "default", "stock") == 2
        # Their commit left ours a metadata file it had not seen yet.
        _upsert(ours, 3, [{"sku": "b", "qty": None}])
        expected = canonical([{"sku": "a", "qty": 2}, {"sku": "b", "qty": None}])
        assert canonical(theirs.scan(INSTANCE, "default", "stock")) == expected
    finally:
        ours.close()
        theirs.close()


def test_a_commit_replaces_its_table_s_file_in_the_cache(lake: Lake, parses: list[str]) -> None:
    lake.create_table(INSTANCE, "default", STOCK)
    for position in range(1, 20):
        _upsert(lake, position, [{"sku": "a", "qty": position}])
    assert catalog.files_held() == 1  # one per table, not one per commit
    catalog.forget_all()
    lake.table(INSTANCE, "default", "stock")
    assert len(parses) == 2 and catalog.files_held() == 1


def test_the_manifest_list_a_commit_keeps_is_the_one_in_its_file(lake: Lake) -> None:
    lake.create_table(INSTANCE, "default", STOCK)
    for position in range(1, 25):  # past the manifest merge count
        _upsert(lake, position, [{"sku": f"s{position % 3}", "qty": position}])
        t = lake.table(INSTANCE, "default", "stock")
        snapshot = t.current_snapshot()
        assert snapshot is not None and manifests.list_held(snapshot.manifest_list)
        kept = manifests.manifests(t.io, snapshot)
        read = list(snapshot.manifests(t.io))
        assert kept == read
