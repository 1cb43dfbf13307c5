"""Each dataset a query names, as a DuckDB view over its current snapshot, deletes applied.

DuckDB reads the table's Parquet data files itself: in parallel, only the columns and row groups
the query needs (projection and filters are pushed into the scan), streaming rows instead of
holding the table. Data files that no delete file applies to are read as they are. The rest are
read with DuckDB's `file_index` (the file's place in the list) and `file_row_number`, and
anti-joined with the rows of the position delete files, (file_path, pos), whose paths are first
turned into file indexes, so the join's hash table holds two integers per deleted row, not a path.

A warehouse on an object store would need DuckDB's httpfs extension and the warehouse's
credentials; there the table is read to Arrow by the lake (pyiceberg) instead, as a whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from supplylake.query.tables import TableFiles, Tables


@dataclass(frozen=True)
class View:
    """A dataset to show as the view `"namespace"."name"`, and the files it reads."""

    namespace: str
    name: str
    files: TableFiles

    @property
    def local_paths(self) -> list[str] | None:
        """The files on this machine, which DuckDB reads; None to read the table to Arrow."""
        local = [_local_path(p) for p in self.files.paths]
        # A column named like one of DuckDB's virtual columns would hide it from the anti-join.
        if None in local or _VIRTUAL.intersection(self.files.schema.names):
            return None
        return [p for p in local if p is not None]

    @property
    def definition(self) -> str | None:
        """The statement that creates the view over the files; None if it reads Arrow instead."""
        if not self.files.paths or self.local_paths is None:
            return None
        return f"CREATE VIEW {ident(self.namespace)}.{ident(self.name)} AS {_select(self.files)}"

    def create(self, con: duckdb.DuckDBPyConnection, tables: Tables, instance_id: str) -> str:
        """Register what the view needs on `con`; the statement that creates it."""
        if (definition := self.definition) is not None:
            return definition
        view = f"{ident(self.namespace)}.{ident(self.name)}"
        # No files (an empty table keeps its columns and types), or files DuckDB cannot read.
        rows = (
            tables.scan(instance_id, self.namespace, self.name)
            if self.files.paths
            else self.files.schema.empty_table()
        )
        registered = f"__lake_{self.namespace}_{self.name}"
        con.register(registered, rows)
        return f"CREATE VIEW {view} AS SELECT * FROM {ident(registered)}"


_VIRTUAL = frozenset({"file_index", "file_row_number", "filename"})
#: The DuckDB type of each Arrow type a dataset has, as DuckDB gives them to Arrow data.
_DUCKDB_TYPES = {
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.string(): "VARCHAR",
    pa.large_string(): "VARCHAR",
    pa.timestamp("us", tz="UTC"): "TIMESTAMP WITH TIME ZONE",
}


def _select(files: TableFiles) -> str:
    """The view's query: the clean files, then the others minus their deleted rows."""
    if all(f.type in _DUCKDB_TYPES for f in files.schema):
        types = [_DUCKDB_TYPES[f.type] for f in files.schema]
    else:  # asking DuckDB costs a database of its own; the dataset types above need none
        scratch = duckdb.connect()
        try:
            types = [str(t) for t in scratch.from_arrow(files.schema.empty_table()).types]
        finally:
            scratch.close()
    columns = ", ".join(
        f"CAST({ident(f.name)} AS {t}) AS {ident(f.name)}"
        for f, t in zip(files.schema, types, strict=True)
    )
    parts = []
    if files.clean:
        parts.append(f"SELECT {columns} FROM {_read(files.clean)}")
    if files.deleted_from:
        indexes = ", ".join(f"({i}::UBIGINT, {text(p)})" for i, p in enumerate(files.deleted_from))
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
    paths = ", ".join(text(_local_path(u) or u) for u in uris)
    return f"read_parquet([{paths}], hive_partitioning = false)"


def _local_path(uri: str) -> str | None:
    if uri.startswith("file://"):
        return uri[len("file://") :]
    return None if "://" in uri else uri


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
