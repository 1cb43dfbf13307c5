"""SQL over an instance's datasets with DuckDB: the engine of ``supplylake query``, the console's
SQL page and ``supplylake.lake.query``.

Each dataset the SQL mentions as `namespace.dataset` (found with DuckDB's tokenizer, see `names`)
becomes a view of that name over the table's current snapshot (see `views`); other tables are
never opened.

The query runs in a throwaway in-memory DuckDB. Once the views exist, file system access is
disabled (but for the very files the views read) and the configuration locked, and SQL that would
reach those files other than through the views is refused (see `guard`): SQL can read the
instance's tables and nothing else: no other file, no extension, no network.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from supplylake.query.guard import Refused, check
from supplylake.query.names import qualified_names, quote_dotted_keywords, tokenize
from supplylake.query.tables import Tables
from supplylake.query.views import View, ident, text

__all__ = ["QueryError", "quote_dotted_keywords", "run_query"]


class QueryError(Exception):
    """The query could not run; the message is DuckDB's."""


def run_query(tables: Tables, instance_id: str, sql: str) -> pa.Table:
    """Run `sql` against the instance's datasets and return the last statement's result."""
    tokens = tokenize(sql)
    statement = quote_dotted_keywords(sql, tokens)
    namespaces = tables.namespaces(instance_id)
    views = _views(tables, instance_id, namespaces, qualified_names(tokens))
    allowed = [p for v in views for p in v.local_paths or ()]
    con = duckdb.connect(config={"enable_external_file_cache": False})
    try:
        # Every namespace exists as a schema, so that a wrong dataset name gets a plain message.
        setup = ["SET TimeZone = 'UTC'"] + [f"CREATE SCHEMA {ident(n)}" for n in namespaces]
        setup += [v.create(con, tables, instance_id) for v in views]
        if allowed:
            setup.append(f"SET allowed_paths = [{', '.join(text(p) for p in allowed)}]")
        setup += ["SET enable_external_access = false", "SET lock_configuration = true"]
        con.execute(";\n".join(setup))
        check(con, statement, tokens)
        relation = con.sql(statement)
        result: pa.Table = relation.to_arrow_table() if relation is not None else pa.table({})
        return result
    except (duckdb.Error, Refused) as e:
        raise QueryError(str(e)) from e
    finally:
        con.close()


def _views(
    tables: Tables, instance_id: str, namespaces: list[str], named: set[tuple[str, str]]
) -> list[View]:
    """The instance's datasets among the `namespace.name` pairs the SQL mentions."""
    views = []
    for namespace, name in sorted(named):
        if namespace not in namespaces:
            continue  # `alias.column` and the like
        try:
            files = tables.current_files(instance_id, namespace, name)
        except LookupError:
            continue  # no such dataset: DuckDB will say so
        views.append(View(namespace, name, files))
    return views
