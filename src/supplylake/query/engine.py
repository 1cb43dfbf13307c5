"""SQL over an instance's datasets with DuckDB: the engine of ``supplylake query``, the console's
SQL page and ``supplylake.lake.query``.

Each dataset the SQL mentions as `namespace.dataset` (found with DuckDB's tokenizer, see `names`)
becomes a view of that name over the table's current snapshot (see `views`); other tables are
never opened.

The query runs in a throwaway in-memory DuckDB. Once the views exist, file system access is
disabled (but for the very files the views read) and the configuration locked, so SQL can read
the instance's tables and nothing else: no other file, no extension, no network.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from supplylake.query.names import qualified_names, quote_dotted_keywords, tokenize
from supplylake.query.tables import Tables
from supplylake.query.views import add_view

__all__ = ["QueryError", "quote_dotted_keywords", "run_query"]


class QueryError(Exception):
    """The query could not run; the message is DuckDB's."""


def run_query(tables: Tables, instance_id: str, sql: str) -> pa.Table:
    """Run `sql` against the instance's datasets and return the last statement's result."""
    tokens = tokenize(sql)
    text = quote_dotted_keywords(sql, tokens)
    named = qualified_names(tokens)
    con = duckdb.connect(config={"enable_external_file_cache": False})
    try:
        con.execute("SET TimeZone = 'UTC'")
        # Every namespace exists as a schema, so that a wrong dataset name gets a plain message.
        for namespace in tables.namespaces(instance_id):
            con.execute(f'CREATE SCHEMA "{namespace}"')
        mentioned = [t for t in tables.list_tables(instance_id) if t in named] if named else []
        allowed: list[str] = []
        for i, (namespace, name) in enumerate(mentioned):
            allowed += add_view(con, tables, instance_id, namespace, name, i)
        if allowed:
            con.execute("SET allowed_paths = $paths", {"paths": allowed})
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        relation = con.sql(text)
        result: pa.Table = relation.to_arrow_table() if relation is not None else pa.table({})
        return result
    except duckdb.Error as e:
        raise QueryError(str(e)) from e
    finally:
        con.close()
