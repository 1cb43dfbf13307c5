"""Each dataset a query names, as a DuckDB view over its current snapshot, deletes applied.

DuckDB reads the table's Parquet data files itself: in parallel, only the columns and row groups
the query needs (projection and filters are pushed into the scan), streaming rows instead of
holding the table. Data files that no delete file applies to are read as they are. The rest are
read with DuckDB's `file_index` (the file's place in the list) and `file_row_number` and anti-joined with the rows of the
position delete files, (file_path, pos), whose paths are first turned into file indexes, so the
join's hash table holds two integers per deleted row, not a path.

A warehouse on an object store would need DuckDB's httpfs extension and the warehouse's
credentials; there the table is read to Arrow by the lake (pyiceberg) instead, as a whole.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from supplylake.query.tables import TableFiles, Tables


def add_view(
    con: duckdb.DuckDBPyConnection,
    tables: Tables,
    instance_id: str,
    namespace: str,
    name: str,
    index: int,
) -> list[str]:
    """Create the view `"namespace"."name"`; the local files it reads (to allow them)."""
    view = f"{_ident(namespace)}.{_ident(name)}"
    files = tables.current_files(instance_id, namespace, name)
    local = [_local_path(p) for p in files.paths]
    if not files.paths or None in local or _VIRTUAL.intersection(files.schema.names):
        # No files (an empty table keeps its columns and types), not on this machine, or a
        # column that would hide one of DuckDB's virtual columns the deletes are matched on.
        rows = tables.scan(instance_id, namespace, name) if files.paths else None
        arrow = rows if rows is not None else files.schema.empty_table()
        con.register(f"__lake_{index}", arrow)
        con.execute(f'CREATE VIEW {view} AS SELECT * FROM "__lake_{index}"')
        return []
    con.execute(f"CREATE VIEW {view} AS {_select(con, files)}")
    return [p for p in local if p is not None]


_VIRTUAL = frozenset({"file_index", "file_row_number", "filename"})


def _select(con: duckdb.DuckDBPyConnection, files: TableFiles) -> str:
    """The view's query: the clean files, then the others minus their deleted rows."""
    # The types DuckDB gives the dataset's Arrow types: those of the rows it would be handed.
    types = con.from_arrow(files.schema.empty_table()).types
    columns = ", ".join(
        f"CAST({_ident(f.name)} AS {t}) AS {_ident(f.name)}"
        for f, t in zip(files.schema, types, strict=True)
    )
    parts = []
    if files.clean:
        parts.append(f"SELECT {columns} FROM {_read(files.clean)}")
    if files.deleted_from:
        indexes = ", ".join(f"({i}::UBIGINT, {_text(p)})" for i, p in enumerate(files.deleted_from))
        gone = (
            f"SELECT f.i, x.pos FROM {_read(files.deletes)} x "
            f"JOIN (VALUES {indexes}) f(i, path) ON x.file_path = f.path"
        )
        parts.append(
            f"SELECT {columns} FROM {_read(files.deleted_from)} d "
            f"ANTI JOIN ({gone}) g ON d.file_index = g.i AND d.file_row_number = g.pos"
        )
    return " UNION ALL ".join(parts)


def _read(uris: Sequence[str]) -> str:
    """`read_parquet` of these files. Not as hive partitions: Iceberg's folders look like them
    (`site=x/`), and DuckDB would take columns from the path and skip files by them, which also
    renumbers the `file_index` of the others."""
    paths = ", ".join(_text(_local_path(u) or u) for u in uris)
    return f"read_parquet([{paths}], hive_partitioning = false)"


def _local_path(uri: str) -> str | None:
    if uri.startswith("file://"):
        return uri[len("file://") :]
    return None if "://" in uri else uri


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
