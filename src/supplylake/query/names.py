"""Table names in user SQL: which `namespace.dataset` it names, and quoting keywords among them.

`asc` and `default`, the two namespaces every instance has, are SQL keywords (ASC, DEFAULT) that
DuckDB refuses as bare schema names. A keyword next to a `.` can only be a name, so it is quoted
before parsing: `asc.inbound_order`, `default.my_dataset` and `default.order` work as typed, like
in Athena and Trino, and so do the quoted forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb


def quote_dotted_keywords(sql: str, tokens: list[Token] | None = None) -> str:
    """Quote every keyword next to a `.` (`asc.x` becomes `"asc".x`, `t.order` `t."order"`)."""
    tokens = tokenize(sql) if tokens is None else tokens
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
class Token:
    start: int
    text: str
    kind: str  # keyword, identifier, operator, string_const, numeric_const, comment


def tokenize(sql: str) -> list[Token]:
    """DuckDB's tokens of `sql`: strings and comments are single tokens, so never matched."""
    try:
        found: list[tuple[int, Any]] = duckdb.tokenize(sql)
    except duckdb.Error:
        return []  # the parser will report it
    ends = [start for start, _ in found[1:]] + [len(sql)]
    return [
        Token(start, sql[start:end].rstrip(), kind.name)
        for (start, kind), end in zip(found, ends, strict=True)
    ]


def qualified_names(tokens: list[Token]) -> set[tuple[str, str]]:
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
