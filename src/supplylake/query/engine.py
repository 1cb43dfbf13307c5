"""SQL over an instance's lake tables with DuckDB.

DuckDB cannot load its iceberg extension here, so the tables a query names are scanned with
pyiceberg to Arrow and shown to DuckDB as views `"<namespace>"."<dataset>"`; only tables the
SQL mentions as `namespace.dataset` are read (found with DuckDB's tokenizer).

`asc` and `default`, the two namespaces every instance has, are SQL keywords (ASC, DEFAULT) that
DuckDB refuses as bare schema names. A keyword next to a `.` can only be a name, so it is quoted
before parsing: `asc.inbound_order`, `default.my_dataset` and `default.order` work as typed, like
in Athena and Trino, and so do the quoted forms.

The query runs in a throwaway in-memory DuckDB with file system access disabled and the
configuration locked, so SQL can read the registered tables and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from supplylake.lake import Lake


class QueryError(Exception):
    """The query could not run; the message is DuckDB's."""


def run_query(lake: Lake, instance_id: str, sql: str) -> pa.Table:
    """Run `sql` against the instance's datasets and return the last statement's result."""
    tokens = _tokens(sql)
    text = quote_dotted_keywords(sql, tokens)
    named = _qualified_names(tokens)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        # Every namespace exists as a schema, so that a wrong dataset name gets a plain message.
        for namespace in lake.namespaces(instance_id):
            con.execute(f'CREATE SCHEMA "{namespace}"')
        mentioned = [t for t in lake.list_tables(instance_id) if t in named] if named else []
        for i, (namespace, name) in enumerate(mentioned):
            con.register(f"__lake_{i}", lake.scan(instance_id, namespace, name))
            con.execute(f'CREATE VIEW "{namespace}"."{name}" AS SELECT * FROM "__lake_{i}"')
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        relation = con.sql(text)
        result: pa.Table = relation.to_arrow_table() if relation is not None else pa.table({})
        return result
    except duckdb.Error as e:
        raise QueryError(str(e)) from e
    finally:
        con.close()


def quote_dotted_keywords(sql: str, tokens: list[_Token] | None = None) -> str:
    """Quote every keyword next to a `.` (`asc.x` becomes `"asc".x`, `t.order` `t."order"`)."""
    tokens = _tokens(sql) if tokens is None else tokens
    out, last = [], 0
    for i, token in enumerate(tokens):
        dotted = (i > 0 and tokens[i - 1].text == ".") or (
            i + 1 < len(tokens) and tokens[i + 1].text == "."
        )
        if token.kind == "keyword" and dotted:
            out += [sql[last : token.start], f'"{token.text.lower()}"']
            last = token.start + len(token.text)
    return "".join([*out, sql[last:]])


@dataclass(frozen=True)
class _Token:
    start: int
    text: str
    kind: str  # keyword, identifier, operator, string_const, numeric_const, comment


def _tokens(sql: str) -> list[_Token]:
    """DuckDB's tokens of `sql`: strings and comments are single tokens, so never matched."""
    try:
        found: list[tuple[int, Any]] = duckdb.tokenize(sql)
    except duckdb.Error:
        return []  # the parser will report it
    ends = [start for start, _ in found[1:]] + [len(sql)]
    return [
        _Token(start, sql[start:end].rstrip(), kind.name)
        for (start, kind), end in zip(found, ends, strict=True)
    ]


def _qualified_names(tokens: list[_Token]) -> set[tuple[str, str]]:
    """Every `a.b` in the SQL, unquoted and lowercased: a superset of the tables it reads.

    Tokens rather than DuckDB's get_table_names, which binds the query and fails on tables and
    columns that do not exist yet.
    """
    names = set()
    for a, dot, b in zip(tokens, tokens[1:], tokens[2:], strict=False):
        if dot.text == "." and {a.kind, b.kind} <= _NAMES:
            names.add((_unquote(a.text).lower(), _unquote(b.text).lower()))
    return names


def _unquote(text: str) -> str:
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        return text[1:-1].replace('""', '"')
    return text


_NAMES = {"keyword", "identifier"}
