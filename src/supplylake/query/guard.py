"""What user SQL may not do, refused before it runs: touch files other than through the views.

The views read the tables' Parquet files, so DuckDB is told those files are allowed once file
system access is off. But DuckDB's allowed files are writable as well as readable (a `COPY ... TO`
one of them would replace a table's data), and readable by path by anyone who finds the path in
the views' definitions (with the rows that deletes removed). So the statements that write or
attach files, every table function that reads files, and a file name used as a table are refused
here; everything else (SELECT, in-memory tables, macros) runs as DuckDB runs it.
"""

from __future__ import annotations

import itertools

import duckdb

from supplylake.query.names import Token

_REFUSED = {
    duckdb.StatementType.ATTACH,
    duckdb.StatementType.COPY,
    duckdb.StatementType.COPY_DATABASE,
    duckdb.StatementType.DETACH,
    duckdb.StatementType.EXECUTE,
    duckdb.StatementType.EXPORT,
    duckdb.StatementType.EXTENSION,
    duckdb.StatementType.LOAD,
    duckdb.StatementType.PREPARE,
}
#: Table functions that read no files; every other one is refused.
_TABLE_FUNCTIONS = {
    "generate_series",
    "json_each",
    "json_tree",
    "range",
    "repeat",
    "repeat_row",
    "unnest",
}
_HARMLESS_PREFIXES = ("duckdb_", "pragma_")
_REFUSED_WORDS = {"attach", "copy", "detach", "execute", "export", "install", "load", "prepare"}


class Refused(Exception):
    """The SQL does something only the views may do."""


def check(con: duckdb.DuckDBPyConnection, sql: str, tokens: list[Token]) -> list[duckdb.Statement]:
    """Raise `Refused` naming the first thing in `sql` that would reach a file; else return
    its statements (none if it does not parse)."""
    try:
        # Parsed on `con`: the module's own function would open DuckDB's default database.
        statements = con.extract_statements(sql)
    except duckdb.Error:
        return []  # DuckDB reports the syntax error when it runs the SQL
    for statement in statements:
        kind = statement.type
        if kind in _REFUSED:
            raise Refused(f"{kind.name} is disabled: SQL here reads the instance's datasets")
    # EXPLAIN ANALYZE runs what it explains, whatever options come between.
    explained = {t.text.lower() for t in tokens if t.kind == "keyword"} & _REFUSED_WORDS
    if explained and any(s.type == duckdb.StatementType.EXPLAIN for s in statements):
        raise Refused(f"EXPLAIN of {sorted(explained)[0].upper()} is disabled")
    functions = _table_functions(con)
    for token, after in itertools.pairwise(tokens):
        name = token.text.strip('"').lower()
        if after.text == "(" and name in functions and not _harmless(name):
            raise Refused(f"{name}() is disabled: datasets are read by name (namespace.dataset)")
    if (path := _file_as_table(tokens)) is not None:
        raise Refused(f"reading {path} is disabled: datasets are read by name")
    return statements


def _harmless(name: str) -> bool:
    return name in _TABLE_FUNCTIONS or name.startswith(_HARMLESS_PREFIXES)


def _table_functions(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """DuckDB's table functions (the same in every connection of this DuckDB: kept)."""
    global _known
    if _known is None:
        _known = _list_table_functions(con)
    return _known


_known: frozenset[str] | None = None


def _list_table_functions(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    rows = con.execute(
        "SELECT DISTINCT function_name FROM duckdb_functions() "
        "WHERE function_type IN ('table', 'table_macro')"
    ).fetchall()
    return frozenset(str(name).lower() for (name,) in rows)


def _file_as_table(tokens: list[Token]) -> str | None:
    """A string where a FROM clause names a table (`FROM 'x.parquet'`, `FROM t, 'x.csv'`):
    DuckDB reads such a string as a file."""
    clause: list[str] = [""]  # the last clause keyword at each depth of parentheses
    previous = ""
    for token in tokens:
        text = token.text.lower()
        if text == "(":
            clause.append("")
        elif text == ")" and len(clause) > 1:
            clause.pop()
        elif token.kind == "keyword" and text in _CLAUSES:
            clause[-1] = text
        elif token.kind == "string_const" and (
            previous in _READS_A_TABLE or (previous == "," and clause[-1] in ("from", "join"))
        ):
            return token.text
        previous = text
    return None


_READS_A_TABLE = {"from", "join", "summarize", "describe", "show", "pivot", "unpivot"}
_CLAUSES = {
    "select",
    "from",
    "join",
    "where",
    "group",
    "having",
    "order",
    "limit",
    "qualify",
    "window",
    "union",
    "except",
    "intersect",
    "on",
    "using",
    "values",
    "set",
    "returning",
    "pivot",
}
