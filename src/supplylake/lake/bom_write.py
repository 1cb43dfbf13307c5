"""Upsert a whole imported file into its table in one snapshot, at most once per import job.

The rows come as a source of record batches that can be read more than once (a spill file), so
memory holds the key columns of the file and one group of rows at a time, never the file. Rows
are upserted by the dataset's primary key: a key given twice keeps its last row, and the live
rows with a key of the file are removed by position delete files in the same snapshot as the
new data files.

The snapshot records the job's id (``IMPORT_JOB_PROPERTY``): a job run again after its loader
died between the commit and recording the outcome finds its snapshot and commits nothing. It
also carries the events' batch position forward, so the event loader of the same table (see
`write`) reads its own position from the latest snapshot at no cost.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.manifest import DataFile
from pyiceberg.table import FileScanTask, Table

from supplylake.lake.commits import commit_files
from supplylake.lake.datafiles import write_data_files
from supplylake.lake.deletes import deleted_positions, write_position_deletes
from supplylake.lake.keys import encode_keys, match_columns
from supplylake.lake.layout import POSITION_PROPERTY, arrow_schema, conform
from supplylake.lake.live import live_files
from supplylake.lake.locate import PartitionHits, locate
from supplylake.lake.paths import remove_files
from supplylake.lake.read import last_position
from supplylake.lake.tables import Lake
from supplylake.lake.write import retry_conflicts
from supplylake.schema.types import DatasetSchema, Transform

#: The snapshot summary property naming the import job a snapshot wrote.
IMPORT_JOB_PROPERTY = "supplylake.import-job"
#: Rows written to data files at a time: what memory holds of the file's rows.
GROUP_ROWS = 256 * 1024
#: Keys looked up in the table's key index at a time, to find the live rows they replace.
KEY_CHUNK = 256 * 1024
#: Past one key for this many live rows, every data file's keys are read and probed instead.
BULK_SHARE = 16

_SEQ = "__supplylake_seq"

#: Record batches of the rows to import, read afresh at each call.
BatchSource = Callable[[], Iterator[pa.RecordBatch]]


@dataclass(frozen=True)
class ImportResult:
    """What an import did to its table."""

    rows_written: int
    #: Live rows the import's keys replaced.
    rows_replaced: int
    #: The job's snapshot was there already: nothing was written this time.
    already_committed: bool = False


def import_committed(table: Table, job_id: str) -> bool:
    """Whether a snapshot of ``table`` that is still kept was written by import ``job_id``."""
    return any(
        s.summary is not None and s.summary.get(IMPORT_JOB_PROPERTY) == job_id
        for s in table.snapshots()
    )


def upsert_import(
    lake: Lake,
    instance_id: str,
    namespace: str,
    schema: DatasetSchema,
    source: BatchSource,
    job_id: str,
    *,
    keys: pa.Table | None = None,
    exclusive: Callable[[], AbstractContextManager[Any]] | None = None,
    group_rows: int = GROUP_ROWS,
) -> ImportResult:
    """Upsert the rows of ``source`` (the dataset's Arrow schema) in one snapshot for ``job_id``.

    ``keys``, if the caller gathered them, are the ``match_columns`` of every row of ``source``
    in order (else they are read from ``source``). The data files are written first;
    ``exclusive()`` is then held (the table's other writers kept out) while the rows to replace
    are found and the snapshot is committed.
    """
    if not schema.primary_keys:
        raise ValueError(f"an import upserts by primary key; {schema.name!r} has none")
    table = lake.open_table(instance_id, namespace, schema, create=True)
    if import_committed(table, job_id):
        return ImportResult(0, 0, already_committed=True)
    keep, keys = _last_of_each_key(_keys(source, schema) if keys is None else keys, schema)
    data_files: list[DataFile] = []
    # While a commit's outcome is unknown its files may be the table's: never deleted then.
    landing = _Landing()
    try:
        written = 0
        for group in _groups(source, keep, schema, group_rows):
            data_files += write_data_files(table, group)
            written += group.num_rows

        def attempt() -> ImportResult:
            with exclusive() if exclusive is not None else contextlib.nullcontext():
                fresh = lake.table(instance_id, namespace, schema.name)
                if import_committed(fresh, job_id):
                    remove_files(fresh.io, [f.file_path for f in data_files])
                    return ImportResult(0, 0, already_committed=True)
                return _commit(fresh, schema, keys, data_files, job_id, written, landing)

        result = retry_conflicts(attempt)
    except BaseException:
        if not landing.unknown:
            remove_files(table.io, [f.file_path for f in data_files])
        raise
    return result


class _Landing:
    """Whether a commit is in flight (its outcome unknown until it returns or is refused)."""

    unknown = False


def _commit(
    table: Table,
    schema: DatasetSchema,
    keys: pa.Table,
    data_files: list[DataFile],
    job_id: str,
    written: int,
    landing: _Landing,
) -> ImportResult:
    """One attempt: delete files for the live rows of ``keys``, then the snapshot."""
    properties = {IMPORT_JOB_PROPERTY: job_id}
    position = last_position(table)
    if position:
        properties[POSITION_PROPERTY] = str(position)
    deletes: list[DataFile] = []
    replaced = 0
    try:
        # The keys of a file are unique, so chunks never hit the same row: each chunk's rows
        # get delete files of their own, and memory holds one chunk's look-up at a time.
        for hits in _replaced(table, schema, keys):
            for group in hits:
                deletes.append(
                    write_position_deletes(
                        table.io, group.positions, group.partition, group.spec_id
                    )
                )
                replaced += sum(len(p) for p in group.positions.values())
        landing.unknown = True
        commit_files(table, properties, [*deletes, *data_files])
        landing.unknown = False
    except (CommitFailedException, ValidationException):
        landing.unknown = False  # refused: it did not land
        # The commit did not land: its delete files are orphans (the data files are reused).
        remove_files(table.io, [f.file_path for f in deletes])
        raise
    return ImportResult(written, replaced)


def _replaced(table: Table, schema: DatasetSchema, keys: pa.Table) -> Iterator[list[PartitionHits]]:
    """The live rows that ``keys`` (unique) replace, a share at a time.

    A few keys are looked up through the key index (``locate``), in chunks. When they are many
    for the table, every live data file's key columns are read instead and matched in one hash
    probe each: the index answers one key at a time, in Python, and would cost more than reading
    the whole table's keys.
    """
    live = live_files(table)
    table_rows = sum(f.record_count for files in live.data.values() for f in files)
    if not table_rows or not keys.num_rows:
        return
    if keys.num_rows * BULK_SHARE < table_rows:
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


def _keys(source: BatchSource, schema: DatasetSchema) -> pa.Table:
    """The match columns of every row of ``source``, copied out of its batches."""
    columns = match_columns(schema)
    parts = [pa.Table.from_batches([b.select(columns)]).combine_chunks() for b in source()]
    if not parts:
        return arrow_schema(schema).empty_table().select(columns)
    return pa.concat_tables(parts).combine_chunks()


def _last_of_each_key(keys: pa.Table, schema: DatasetSchema) -> tuple[pa.Array, pa.Table]:
    """Which rows to write (the last of each key, as a mask over all rows) and their keys."""
    columns = match_columns(schema)
    if keys.column_names != columns:
        raise ValueError(f"the keys of an import are the columns {columns}")
    everywhere = pc.fill_null(pa.nulls(keys.num_rows, pa.bool_()), True)
    seq = pc.indices_nonzero(everywhere).cast(pa.int64())  # 0, 1, 2, ...
    if all(p.transform is Transform.IDENTITY for p in schema.partition_spec):
        # The match key is the columns themselves: grouped as they are, nothing encoded.
        grouped = keys.append_column(_SEQ, seq)
        by = columns
    else:
        grouped = pa.table({"key": encode_keys(keys, schema), _SEQ: seq})
        by = ["key"]
    last = grouped.group_by(by, use_threads=False).aggregate([(_SEQ, "max")])
    keep = pc.is_in(seq, value_set=last.column(f"{_SEQ}_max").combine_chunks())
    return keep, keys.filter(keep)


def _groups(
    source: BatchSource, keep: pa.Array, schema: DatasetSchema, group_rows: int
) -> Iterator[pa.Table]:
    """The rows to write, in groups of about ``group_rows``."""
    target = arrow_schema(schema)
    pending: list[pa.RecordBatch] = []
    size = 0
    start = 0
    for batch in source():
        mask = keep.slice(start, batch.num_rows)
        start += batch.num_rows
        batch = batch.filter(mask)
        if not batch.num_rows:
            continue
        pending.append(batch)
        size += batch.num_rows
        if size >= group_rows:
            yield conform(pa.Table.from_batches(pending), target)
            pending, size = [], 0
    if pending:
        yield conform(pa.Table.from_batches(pending), target)
