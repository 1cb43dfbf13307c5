"""SQL over an instance's datasets with DuckDB, reading the lake's Parquet files itself."""

from supplylake.query.engine import QueryError, run_query

__all__ = ["QueryError", "run_query"]
