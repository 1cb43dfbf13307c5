"""The keys of a flow execution's staged rows: to find the rows they replace, and duplicates.

An execution of millions of rows must not hold all its keys in memory: past ``SPILL_ROWS`` they
go to a Parquet file that DuckDB groups out of core (with a bounded memory) to find duplicates.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

#: Past this many rows, an execution's keys are spilled to a file.
SPILL_ROWS = 1 << 20


@dataclass(frozen=True)
class Duplicates:
    """Primary keys found more than once: how many, and the first with its count."""

    keys: int
    first: dict[str, Any]
    rows: int


class StagedKeys:
    """The match columns of the rows staged: in memory, spilled to a Parquet file when many.

    They serve to find the live rows an upsert replaces and duplicate keys; an execution of
    millions of rows must not hold them all in memory, so past ``SPILL_ROWS`` they go to a file
    that DuckDB groups out of core.
    """

    def __init__(
        self, columns: Sequence[str], primary_keys: Sequence[str], spool_dir: Path | None
    ) -> None:
        self.columns = list(columns)
        self.primary_keys = list(primary_keys)
        self.spool_dir = spool_dir
        self._memory: list[pa.Table] = []
        self._rows = 0
        self._path: Path | None = None
        self._writer: pq.ParquetWriter | None = None

    def add(self, rows: pa.Table) -> None:
        keys = rows.select(self.columns)
        self._rows += keys.num_rows
        if self._path is None and self._rows <= SPILL_ROWS:
            self._memory.append(keys)
            return
        if self._path is None:
            handle, name = tempfile.mkstemp(suffix=".keys.parquet", dir=self.spool_dir)
            os.close(handle)
            self._path = Path(name)
            self._writer = pq.ParquetWriter(self._path, keys.schema, compression="lz4")
            for held in self._memory:
                self._writer.write_table(held)
            self._memory = []
        assert self._writer is not None, "keys are added before they are read"
        self._writer.write_table(keys)

    def table(self) -> pa.Table:
        self._finish()
        if self._path is not None:
            return pq.read_table(self._path)
        if not self._memory:
            return pa.table({c: pa.array([], pa.string()) for c in self.columns})
        return pa.concat_tables(self._memory)

    def duplicates(self) -> Duplicates | None:
        if self._rows < 2:
            return None
        import duckdb

        self._finish()
        names = ", ".join(f'"{c}"' for c in self.primary_keys)
        con = duckdb.connect(config={"memory_limit": "128MB"})
        try:
            if self.spool_dir is not None:
                con.execute("SET temp_directory = ?", [str(self.spool_dir)])
            if self._path is not None:
                source = f"read_parquet('{self._path}')"
            else:
                con.register("staged_keys", self.table())
                source = "staged_keys"
            found = con.execute(
                f"SELECT {names}, count(*) AS n, count(*) OVER () AS keys FROM {source} "
                f"GROUP BY {names} HAVING count(*) > 1 LIMIT 1"
            ).fetchone()
        finally:
            con.close()
        if found is None:
            return None
        first = dict(zip(self.primary_keys, found[: len(self.primary_keys)], strict=True))
        return Duplicates(int(found[-1]), first, int(found[-2]))

    def _finish(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> None:
        self._finish()
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._path = None
        self._memory = []
