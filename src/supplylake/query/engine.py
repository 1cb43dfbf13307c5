"""SQL over an instance's datasets with DuckDB: the engine of ``supplylake query``, the console's
SQL page and ``supplylake.lake.query``.

Each dataset the SQL mentions as `namespace.dataset` (found with DuckDB's tokenizer, see `names`)
becomes a view of that name over the table's current snapshot (see `views`); other tables are
never opened.

The query runs on its own cursor of an in-memory DuckDB that holds only these views: once they
exist, file system access is disabled (but for the very files the views read) and the
configuration locked, and SQL that would reach those files other than through the views is
refused (see `guard`): SQL can read the instance's tables and nothing else: no other file, no
extension, no network. A database whose views still read the tables' current files is kept for
the next query that needs the very same ones (see `databases`).
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from supplylake.query import databases
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
    try:
        con, setup = _database(tables, instance_id, namespaces, views)
    except duckdb.Error as e:
        raise QueryError(str(e)) from e
    keep = False
    # Arrow registered on `con` is seen by `con` alone; a kept database gets a fresh connection.
    cursor = con.cursor() if setup is not None else con
    try:
        keep = databases.leaves_nothing(check(cursor, statement, tokens))
        relation = cursor.sql(statement)
        result: pa.Table = relation.to_arrow_table() if relation is not None else pa.table({})
        return result
    except (duckdb.Error, Refused) as e:
        raise QueryError(str(e)) from e
    except BaseException:
        keep = False
        raise
    finally:
        if cursor is not con:
            cursor.close()
        if keep and setup is not None:
            databases.give_back(setup, con)
        else:
            con.close()


def _database(
    tables: Tables, instance_id: str, namespaces: list[str], views: list[View]
) -> tuple[duckdb.DuckDBPyConnection, str | None]:
    """A database with the views, file access off but for their files, configuration locked;
    and its setup script, under which it may be kept (None: a view reads Arrow registered on
    this database alone, which is not kept)."""
    # Every namespace exists as a schema, so that a wrong dataset name gets a plain message.
    head = ["SET GLOBAL TimeZone = 'UTC'"] + [f"CREATE SCHEMA {ident(n)}" for n in namespaces]
    allowed = [p for v in views for p in v.local_paths or ()]
    tail = [f"SET allowed_paths = [{', '.join(text(p) for p in allowed)}]"] if allowed else []
    tail += ["SET enable_external_access = false", "SET lock_configuration = true"]
    definitions = [v.definition for v in views]
    if None not in definitions:
        setup = ";\n".join(head + [d for d in definitions if d is not None] + tail)
        return databases.borrow(setup), setup
    con = databases.fresh()
    try:
        con.execute(";\n".join(head + [v.create(con, tables, instance_id) for v in views] + tail))
    except BaseException:
        con.close()
        raise
    return con, None


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
