"""The Iceberg SQL catalog in the store's PostgreSQL database."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from supplylake.config import Settings
from supplylake.lake import Change, Lake, open_lake
from supplylake.lake.settings import catalog_uri
from supplylake.schema.types import DatasetSchema, Field, FieldType, Operation
from supplylake.store.postgres import PostgresStore

from .conftest import INSTANCE

KV = DatasetSchema(
    "kv",
    (Field("k", FieldType.STRING, required=True), Field("v", FieldType.LONG)),
    primary_keys=("k",),
)


def test_catalog_uri_uses_psycopg_for_postgres_urls() -> None:
    for scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        settings = Settings(database_url=f"{scheme}://u:p@127.0.0.1:5432/lake")
        assert catalog_uri(settings) == "postgresql+psycopg://u:p@127.0.0.1:5432/lake"
    assert catalog_uri(Settings(database_url="sqlite:///x/supplylake.db")) == (
        "sqlite:///x/supplylake.db"
    )


def test_a_lake_in_the_store_database_applies_batches(
    postgres_database: str, tmp_path: Path
) -> None:
    store = PostgresStore(postgres_database)  # the store's tables and the catalog's side by side
    settings = Settings(database_url=postgres_database, warehouse=str(tmp_path / "warehouse"))
    lake = open_lake(settings)
    try:
        lake.create_table(INSTANCE, "default", KV)
        rows = pa.Table.from_pylist(
            [{"k": "a", "v": 1}, {"k": "b", "v": 2}],
            schema=pa.schema([("k", pa.string()), ("v", pa.int64())]),
        )
        lake.apply_batch(INSTANCE, "default", KV, [Change(Operation.UPSERT, rows)], 7)
        lake.apply_batch(
            INSTANCE,
            "default",
            KV,
            [Change(Operation.UPSERT, rows.slice(0, 1).set_column(1, "v", pa.array([5])))],
            8,
        )
    finally:
        lake.close()
    reopened = Lake(catalog_uri(settings), settings.resolved_warehouse)
    try:
        assert reopened.last_position(INSTANCE, "default", "kv") == 8
        got = reopened.scan(INSTANCE, "default", "kv").sort_by("k").to_pylist()
        assert got == [{"k": "a", "v": 5}, {"k": "b", "v": 2}]
    finally:
        reopened.close()
        store.close()
