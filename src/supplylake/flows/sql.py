"""A flow's transformation: Spark SQL, translated by sqlglot, run by DuckDB over Arrow streams.

AWS documents the query as Spark SQL with each ``sourceName`` as a table, and users copy Spark
from AWS's examples (``concat_ws``, ``date_format``, backticks, ``nvl``, ...). sqlglot, a
maintained transpiler, rewrites it for DuckDB, which then scans the sources as they stream in.

User SQL reaches only the flow's sources: one statement, a query, reading only source names
(and its own ``WITH`` names), run on a fresh in-memory connection with file, network and
extension access disabled and the configuration locked. Failures become SqlError with the
engine's reason and never the query (the model marks it sensitive): positions are given as line
and column of the query the user wrote.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError, TokenError, UnsupportedError

from supplylake.flows.definition import Transformation, TransformationType
from supplylake.flows.errors import ExecutionError, SqlError
from supplylake.flows.files import LINE_COLUMN

#: A source as the engine takes it: a ``pa.RecordBatchReader`` (scanned once) or a ``pa.Table``.
SourceData: TypeAlias = Any

#: Rows per result batch.
RESULT_ROWS = 64 * 1024

_RESERVED = "__supplylake_source_"


def translate(query: str, source_names: Sequence[str]) -> str:
    """The DuckDB SQL of a Spark SQL query over ``source_names``, or SqlError."""
    return _prepare(query, source_names)[1]


def run_transformation(
    transformation: Transformation,
    sources: Mapping[str, SourceData],
    *,
    memory_limit: str | None = None,
    temp_directory: Path | None = None,
    threads: int | None = None,
) -> pa.RecordBatchReader:
    """The transformed rows, as a stream (errors while reading it are SqlError too).

    NONE passes the flow's single source through; its columns go to the target by name.
    """
    if transformation.transformation_type is TransformationType.NONE:
        if len(sources) != 1:
            raise SqlError(f"NONE passes one source through; this flow has {len(sources)}.")
        (data,) = sources.values()
        return data if isinstance(data, pa.RecordBatchReader) else data.to_reader()
    assert transformation.query is not None
    return run_sql(
        transformation.query,
        sources,
        memory_limit=memory_limit,
        temp_directory=temp_directory,
        threads=threads,
    )


def run_sql(
    query: str,
    sources: Mapping[str, SourceData],
    *,
    memory_limit: str | None = None,
    temp_directory: Path | None = None,
    threads: int | None = None,
) -> pa.RecordBatchReader:
    """Run Spark SQL ``query`` with each source as a table; the result as a stream."""
    tree = _parse(query)
    _check_tables(tree, list(sources))
    whole = _whole_source(tree, sources)
    if whole is not None:
        # ``SELECT * FROM source``, the usual staging flow: the rows as they are, no engine.
        return whole if isinstance(whole, pa.RecordBatchReader) else whole.to_reader()
    sources = _trace_lines(tree, sources)
    sql = _to_duckdb(tree)
    uses = _table_uses(tree)
    literals = _literals(tree)
    failures: list[BaseException] = []
    config: dict[str, str | bool | int | float | list[str]] = {
        "enable_external_access": False,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    if memory_limit is not None:
        config["memory_limit"] = memory_limit
    if temp_directory is not None:
        config["temp_directory"] = str(temp_directory)
    if threads is not None:
        config["threads"] = threads
    con = duckdb.connect(":memory:", config=config)
    try:
        con.execute("SET TimeZone = 'UTC'")
        for i, (name, data) in enumerate(sources.items()):
            watched = _watched(data, failures)
            if uses.get(name.lower(), 0) > 1 and isinstance(data, pa.RecordBatchReader):
                # A stream is scanned once: a source read twice (a self-join) is kept first.
                con.register(f"{_RESERVED}{i}", watched)
                con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM "{_RESERVED}{i}"')
                con.unregister(f"{_RESERVED}{i}")
            else:
                con.register(name, watched)
        con.execute("SET lock_configuration = true")
        result = con.sql(sql)
        if result is None:
            raise SqlError("The SQL is not a query: it must answer rows.")
        reader = result.to_arrow_reader(RESULT_ROWS)
    except duckdb.Error as e:
        con.close()
        raise _failure(e, failures, literals) from None
    except BaseException:
        con.close()
        raise
    return pa.RecordBatchReader.from_batches(
        reader.schema, _results(reader, con, failures, literals)
    )


def _results(
    reader: pa.RecordBatchReader,
    con: duckdb.DuckDBPyConnection,
    failures: list[BaseException],
    literals: Sequence[str],
) -> Iterator[pa.RecordBatch]:
    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except (duckdb.Error, pa.ArrowException) as e:
                raise _failure(e, failures, literals) from None
            yield batch
    finally:
        con.close()


def _watched(data: SourceData, failures: list[BaseException]) -> SourceData:
    """The source, noting what a stream raised (the engine reports it only as text)."""
    if isinstance(data, pa.Table):
        return data

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from data
        except BaseException as e:
            failures.append(e)
            raise

    return pa.RecordBatchReader.from_batches(data.schema, batches())


def _failure(
    e: BaseException, failures: list[BaseException], literals: Sequence[str]
) -> ExecutionError:
    """What a failure while running means: a source's own error first, else the engine's."""
    for f in failures:
        if isinstance(f, ExecutionError):
            return f
    if failures:
        return SqlError(f"A source could not be read: {_first_line(failures[0])}")
    reason = _engine_reason(e)
    # The engine quotes values it was given; the query's own strings are not to be shown.
    for literal in literals:
        reason = reason.replace(literal, "…")
    return SqlError(f"The SQL failed: {reason}")


def _prepare(query: str, source_names: Sequence[str]) -> tuple[exp.Expr, str]:
    tree = _parse(query)
    _check_tables(tree, source_names)
    return tree, _to_duckdb(tree)


def _to_duckdb(tree: exp.Expr) -> str:
    try:
        return tree.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as e:
        raise SqlError(f"The SQL uses what the engine cannot run: {_first_line(e)}") from None


def _parse(query: str) -> exp.Expr:
    try:
        statements = sqlglot.parse(query, read="spark")
    except ParseError as e:
        raise SqlError(f"The SQL does not parse: {_parse_reason(e)}") from None
    except TokenError:
        raise SqlError(
            "The SQL does not parse: a quoted string, name or comment is not closed."
        ) from None
    except SqlglotError as e:
        raise SqlError(f"The SQL does not parse: {_first_line(e)}") from None
    found = [s for s in statements if s is not None]
    if len(found) != 1:
        raise SqlError(f"The SQL must be one query; it has {len(found)} statements.")
    tree = found[0]
    if not isinstance(tree, exp.Query):
        raise SqlError(
            "The SQL must be a query (SELECT ... or WITH ... SELECT): a flow's SQL reads its "
            "sources and answers the rows to write."
        )
    return tree


def _check_tables(tree: exp.Expr, source_names: Sequence[str]) -> None:
    known = {n.lower() for n in source_names}
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise SqlError(
                "The SQL reads from a function: a flow's SQL reads only its sources "
                f"({', '.join(source_names)})."
            )
        name = table.name.lower()
        if table.db or table.catalog or (name not in known and name not in ctes):
            raise SqlError(
                f"The SQL reads table {table.sql(dialect='spark')}, which is not a source of the "
                f"flow: use the sourceName of a source ({', '.join(source_names)})."
            )


def _trace_lines(tree: exp.Expr, sources: Mapping[str, SourceData]) -> dict[str, SourceData]:
    """Carry the source's line column to the result when each result row is one source row.

    That holds for a query that selects, filters, orders or limits one source (no join,
    grouping, aggregate, window, DISTINCT or WITH): its stars leave the line column out and
    the column is added at the end. Other queries get the sources without it.
    """
    traced = _row_source(tree)
    out: dict[str, SourceData] = {}
    for name, data in sources.items():
        if LINE_COLUMN not in data.schema.names:
            out[name] = data
        elif traced is not None and traced[0] == name.lower():
            out[name] = data
            select = tree.assert_is(exp.Select)
            for projection in select.expressions:
                star = projection if isinstance(projection, exp.Star) else projection.this
                if isinstance(star, exp.Star):
                    star.set(
                        "except_", [*(star.args.get("except_") or []), exp.column(LINE_COLUMN)]
                    )
            select.select(exp.column(LINE_COLUMN, table=traced[1]), copy=False)
        else:
            out[name] = _without_lines(data)
    return out


def _whole_source(tree: exp.Expr, sources: Mapping[str, SourceData]) -> SourceData | None:
    """The source a query answers unchanged (``SELECT * FROM s``), if it is one."""
    if not isinstance(tree, exp.Select) or len(tree.expressions) != 1:
        return None
    star = tree.expressions[0]
    if not isinstance(star, exp.Star) or any(star.args.get(k) for k in star.args):
        return None
    if any(v for k, v in tree.args.items() if k not in ("expressions", "from_", "from")):
        return None
    source = tree.args.get("from_") or tree.args.get("from")
    table = source.this if source is not None else None
    if not isinstance(table, exp.Table):
        return None
    if any(v for k, v in table.args.items() if k not in ("this", "alias")):
        return None
    by_name = {n.lower(): n for n in sources}
    return sources[by_name[table.name.lower()]] if table.name.lower() in by_name else None


def _row_source(tree: exp.Expr) -> tuple[str, str] | None:
    """``(source name, its alias)`` when each result row is one row of that source."""
    if not isinstance(tree, exp.Select):
        return None
    if any(
        tree.args.get(k)
        for k in ("with_", "with", "joins", "group", "having", "distinct", "laterals", "qualify")
    ):
        return None
    if tree.find(exp.AggFunc, exp.Window, exp.Explode, exp.Unnest, exp.Subquery) is not None:
        return None
    source = tree.args.get("from_") or tree.args.get("from")
    table = source.this if source is not None else None
    if not isinstance(table, exp.Table):
        return None
    return table.name.lower(), table.alias_or_name


def _without_lines(data: SourceData) -> SourceData:
    if isinstance(data, pa.Table):
        return data.drop_columns([LINE_COLUMN])
    keep = [n for n in data.schema.names if n != LINE_COLUMN]
    schema = pa.schema([data.schema.field(n) for n in keep])
    return pa.RecordBatchReader.from_batches(schema, (b.select(keep) for b in data))


def _literals(tree: exp.Expr) -> list[str]:
    """The query's string literals and their words, longest first (none left half hidden).

    Words too, because the engine quotes pieces of a value (a format it could not match).
    """
    found: set[str] = set()
    for lit in tree.find_all(exp.Literal):
        if lit.is_string and lit.this:
            found.add(str(lit.this))
            found.update(w for w in re.split(r"[\s%'\"]+", str(lit.this)) if len(w) >= 3)
    return sorted(found, key=len, reverse=True)


def _table_uses(tree: exp.Expr) -> dict[str, int]:
    uses: dict[str, int] = {}
    for table in tree.find_all(exp.Table):
        uses[table.name.lower()] = uses.get(table.name.lower(), 0) + 1
    return uses


def _parse_reason(e: ParseError) -> str:
    if not e.errors:
        return "it is not valid Spark SQL."
    first = e.errors[0]
    # The description only: sqlglot's context fields quote the query.
    description = str(first.get("description") or "invalid syntax").rstrip(".")
    return f"{description} (line {first.get('line')}, column {first.get('col')})."


_LINE_CONTEXT = re.compile(r"\n\s*LINE \d+:.*", re.DOTALL)


def _engine_reason(e: BaseException) -> str:
    """DuckDB's reason without the excerpt of the (translated) query it appends."""
    text = _LINE_CONTEXT.sub("", str(e)).strip()
    return " ".join(line.strip() for line in text.splitlines() if line.strip()) or type(e).__name__


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
