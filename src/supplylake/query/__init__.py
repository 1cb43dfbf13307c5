"""SQL over the lake with DuckDB."""

from supplylake.query.engine import QueryError, run_query

__all__ = ["QueryError", "run_query"]
