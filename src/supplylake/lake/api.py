"""The Python API over a supplylake lake: open it, read a dataset, query the datasets with SQL.

    from supplylake.lake import read_dataset, query

    orders = read_dataset("4f1c2e0a-...", "asc", "inbound_order", data_dir="supplylake-data")
    totals = query("4f1c2e0a-...", "SELECT order_type, count(*) FROM asc.inbound_order GROUP BY 1")

They find the lake the way ``supplylake serve`` does (``data_dir``, else ``SUPPLYLAKE_*``
settings; see `settings` for a warehouse on S3) and work while the server runs. ``serve``,
the loader and ``supplylake query`` open their lake with `open_lake` too.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from supplylake.config import Settings
from supplylake.lake.settings import catalog_uri, warehouse_properties
from supplylake.lake.tables import Lake


def open_lake(where: Settings | str | Path | None = None) -> Lake:
    """The lake of these settings, or of the data dir ``where`` (default: ``SUPPLYLAKE_DATA_DIR``
    or ``./supplylake-data``, with the other ``SUPPLYLAKE_*`` settings). Close it after use."""
    if isinstance(where, Settings):
        settings = where
    else:
        settings = Settings.from_env(data_dir=Path(where) if where is not None else None)
    warehouse = settings.resolved_warehouse
    return Lake(catalog_uri(settings), warehouse, properties=warehouse_properties(warehouse))


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
    # Imported here: DuckDB loads on the first query, not with the lake (the loader never needs it).
    from supplylake.query import run_query

    lake = open_lake(data_dir)
    try:
        return run_query(lake, instance_id, sql)
    finally:
        lake.close()
