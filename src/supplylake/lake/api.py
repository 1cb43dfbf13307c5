"""The Python API over a supplylake lake: datasets and query results as Arrow tables.

    from supplylake.lake import read_dataset, query

    orders = read_dataset("4f1c2e0a-...", "asc", "inbound_order", data_dir="supplylake-data")
    totals = query("4f1c2e0a-...", "SELECT order_type, count(*) FROM asc.inbound_order GROUP BY 1")

Both find the lake the way ``supplylake serve`` does (``data_dir``, else ``SUPPLYLAKE_*``
settings) and work while the server runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from supplylake.lake.catalog import Lake

if TYPE_CHECKING:
    from supplylake.config import Settings


def catalog_uri(settings: Settings) -> str:
    """The SQLAlchemy URL of the Iceberg SQL catalog: the store's own database.

    A PostgreSQL URL becomes ``postgresql+psycopg://...``: SQLAlchemy over psycopg 3, the
    driver the store uses.
    """
    from supplylake.store.urls import sqlalchemy_url

    return sqlalchemy_url(settings.resolved_database_url)


def lake_for(settings: Settings) -> Lake:
    """The lake of these settings, as ``serve``, ``loader`` and ``query`` open it."""
    return Lake(catalog_uri(settings), settings.resolved_warehouse)


def open_lake(data_dir: str | Path | None = None) -> Lake:
    """The lake in ``data_dir`` (default: ``SUPPLYLAKE_DATA_DIR`` or ``./supplylake-data``)."""
    from supplylake.config import Settings

    return lake_for(Settings.from_env(data_dir=Path(data_dir) if data_dir is not None else None))


def read_dataset(
    instance_id: str,
    namespace: str,
    dataset: str,
    *,
    data_dir: str | Path | None = None,
    row_filter: str | None = None,
    limit: int | None = None,
) -> pa.Table:
    """The rows of a dataset (optionally filtered, e.g. ``"qty > 5"``) as an Arrow table."""
    lake = open_lake(data_dir)
    try:
        return lake.scan(instance_id, namespace, dataset, row_filter=row_filter, limit=limit)
    finally:
        lake.close()


def query(instance_id: str, sql: str, *, data_dir: str | Path | None = None) -> pa.Table:
    """Run SQL (DuckDB) over the instance's datasets, named ``<namespace>.<dataset>``."""
    from supplylake.query.engine import run_query

    lake = open_lake(data_dir)
    try:
        return run_query(lake, instance_id, sql)
    finally:
        lake.close()
