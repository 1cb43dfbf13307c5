"""The keys of a flow execution's staged rows: to find the rows they replace, and duplicates.

An execution of millions of rows must not hold all its keys in memory: past ``SPILL_ROWS`` they
go to a Parquet file that DuckDB groups out of core (with a bounded memory) to find duplicates.
The live rows they replace are found through the key index for a few keys, and by reading every
data file's keys once they are many for the table (``replaced``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.table import FileScanTask, Table

from supplylake.lake.deletes import deleted_positions
from supplylake.lake.keys import encode_keys, match_columns
from supplylake.lake.live import live_files
from supplylake.lake.locate import PartitionHits, locate
from supplylake.schema.types import DatasetSchema

#: Past this many rows, an execution's keys are spilled to a file.
SPILL_ROWS = 1 << 20
#: Keys looked up in the table's key index at a time, to find the live rows they replace.
KEY_CHUNK = 256 * 1024
#: Past one key for this many live rows, every data file's keys are read and probed instead.
BULK_SHARE = 16


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


def replaced(table: Table, schema: DatasetSchema, keys: pa.Table) -> Iterator[list[PartitionHits]]:
    """The live rows that ``keys`` (``match_columns``) replace, a share at a time.

    A few keys are looked up through the key index (``locate``), in chunks, so that memory
    holds one chunk's look-up at a time. When they are many for the table, every live data
    file's key columns are read instead and matched in one hash probe each: the index answers
    one key at a time, in Python, and would cost more than reading the whole table's keys.
    A row is hit once however many times its key is given.
    """
    live = live_files(table)
    table_rows = sum(f.record_count for files in live.data.values() for f in files)
    if not table_rows or not keys.num_rows:
        return
    if keys.num_rows * BULK_SHARE < table_rows:
        if keys.num_rows > KEY_CHUNK:
            # A key given twice in two chunks would delete its row twice.
            keys = keys.group_by(keys.column_names, use_threads=False).aggregate([])
        for start in range(0, keys.num_rows, KEY_CHUNK):
            yield locate(table, keys.slice(start, KEY_CHUNK), schema.primary_keys)
        return
    wanted = encode_keys(keys, schema).combine_chunks()
    projected = table.schema().select(*match_columns(schema))
    for partition, data_files in live.data.items():
        found = []
        for data_file in data_files:
            rows = ArrowScan(table.metadata, table.io, projected, AlwaysTrue()).to_table(
                [FileScanTask(data_file)]
            )
            hit = pc.is_in(encode_keys(rows, schema), value_set=wanted)
            positions = pc.indices_nonzero(hit).to_pylist()
            if positions and live.deletes.get(partition):
                gone = deleted_positions(table.io, data_file.file_path, live.deletes[partition])
                positions = [p for p in positions if p not in gone]
            if positions:
                found.append((data_file, positions))
        if found:
            group = PartitionHits(found[0][0].partition, found[0][0].spec_id)
            group.positions = {f.file_path: positions for f, positions in found}
            yield [group]
