"""A flow execution's rows into a table: staged as data files while they stream, one commit.

An execution's rows may be larger than memory, so ``FlowWriter.add`` writes them as data files
as they come, and ``FlowWriter.commit`` lands them in one snapshot together with what they
replace: an execution is applied whole or not at all, and a reader never sees part of it.

What an execution replaces depends on its mode: APPEND nothing, UPSERT the live rows with the
primary keys it brings, REPLACE every row the flow wrote before. On a table that other writers
share (an ``asc`` dataset, where events and other flows write too) the flow's rows are those
whose ``owner`` column (``connection_id``) holds the flow's value, and only those are replaced;
without an owner the table is the flow's alone.

The commit is made once per execution: it records the execution in its snapshot summary and
the flow's execution sequence number in a table property, so that an execution run again after
its loader died finds it committed (``flow_applied``) and does not apply it twice. A writer of
no sequence (a bill-of-materials import job, ``lake.bom_write``) is recognised by its execution
id in the snapshots still kept (``execution_committed``) instead: no table property grows with
each job. The commit also carries the event loader's batch position forward, so that snapshot
expiry never leaves the events' position behind in an expired snapshot.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.conversions import from_bytes
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.types import StringType

from supplylake.lake import read
from supplylake.lake._pyiceberg import CopyOnceTransaction
from supplylake.lake.commits import RowLevelCommit
from supplylake.lake.datafiles import write_data_files
from supplylake.lake.deletes import deleted_positions, write_position_deletes
from supplylake.lake.flows_keys import Duplicates, StagedKeys, replaced
from supplylake.lake.keys import match_columns
from supplylake.lake.layout import POSITION_PROPERTY, arrow_schema, conform
from supplylake.lake.live import Partition, live_files
from supplylake.lake.locate import PartitionHits
from supplylake.lake.paths import remove_files
from supplylake.lake.write import retry_conflicts
from supplylake.schema.types import DatasetSchema

#: Snapshot summary entries of a flow's commit.
EXECUTION_PROPERTY = "supplylake.flow-execution"
FLOW_PROPERTY = "supplylake.flow"
#: Table property ``<prefix><flow>``: the sequence number of the flow's last execution applied.
_SEQ_PREFIX = "supplylake.flow-seq."

#: Rows gathered before they are written as data files.
CHUNK_ROWS = 1 << 19


class WriteMode(StrEnum):
    APPEND = "APPEND"
    UPSERT = "UPSERT"
    REPLACE = "REPLACE"


@dataclass(frozen=True)
class Owner:
    """Which rows of a shared table are the flow's: those whose ``column`` holds ``value``."""

    column: str
    value: str


@dataclass(frozen=True)
class FlowCommit:
    """What an execution's commit did (``already``: it had been committed before)."""

    snapshot_id: int | None
    rows_added: int
    rows_removed: int
    already: bool = False


def flow_applied(table: Table, flow: str, seq: int) -> bool:
    """Whether the flow's execution ``seq`` (or a later one) is committed to ``table``."""
    recorded = table.properties.get(_SEQ_PREFIX + flow)
    return recorded is not None and int(recorded) >= seq


def execution_committed(table: Table, execution_id: str) -> bool:
    """Whether a snapshot of ``table`` that is still kept was written by ``execution_id``."""
    return _snapshot_of(table, execution_id) is not None


def committed_rows(table: Table, execution_id: str) -> int:
    """The rows the execution's commit added, while its snapshot is kept (else 0)."""
    snapshot = _snapshot_of(table, execution_id)
    if snapshot is None or snapshot.summary is None:
        return 0
    return int(snapshot.summary.get("added-records") or 0)


def _snapshot_of(table: Table, execution_id: str) -> Snapshot | None:
    for snapshot in table.snapshots():
        summary = snapshot.summary
        if summary is not None and summary.get(EXECUTION_PROPERTY) == execution_id:
            return snapshot
    return None


@dataclass
class _Plan:
    """What a commit replaces: whole files, and rows by position delete files."""

    removed: list[DataFile]
    #: Each group becomes one delete file; written as they come, so memory holds one.
    deletes: Iterable[PartitionHits]


class FlowWriter:
    """Stages an execution's rows as data files of ``table``; ``commit`` lands them at once.

    Rows must be in the dataset's Arrow schema (``conform`` is applied). ``abort`` (or a
    failed commit) deletes what was staged, unless a commit's outcome is unknown: its files may
    be the table's then. ``seq`` None: the execution belongs to no flow's sequence and is
    recognised by its ``execution_id`` alone (``execution_committed``).
    """

    def __init__(
        self,
        table: Table,
        schema: DatasetSchema,
        *,
        flow: str,
        execution_id: str,
        seq: int | None,
        mode: WriteMode,
        owner: Owner | None = None,
        chunk_rows: int = CHUNK_ROWS,
        spool_dir: Path | None = None,
    ) -> None:
        self.table = table
        self.schema = schema
        self.flow = flow
        self.execution_id = execution_id
        self.seq = seq
        self.mode = mode
        self.owner = owner
        self.chunk_rows = chunk_rows
        self.rows = 0
        self._target = arrow_schema(schema)
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._staged: list[DataFile] = []
        self._pool: ThreadPoolExecutor | None = None
        self._writing: Future[list[DataFile]] | None = None
        self._keys = StagedKeys(
            match_columns(schema) if schema.primary_keys else [], schema.primary_keys, spool_dir
        )
        #: A commit was sent and neither landed nor was refused (its files are kept then).
        self._unknown = False

    def add(self, rows: pa.Table) -> None:
        """Stage ``rows`` (written as data files once a chunk's worth has gathered)."""
        if not rows.num_rows:
            return
        rows = conform(rows, self._target)
        self.rows += rows.num_rows
        if self.schema.primary_keys:
            self._keys.add(rows)
        self._pending.append(rows)
        self._pending_rows += rows.num_rows
        if self._pending_rows >= self.chunk_rows:
            self._flush()

    def duplicate_keys(self) -> Duplicates | None:
        """The primary keys staged more than once (None when there are none, or no key)."""
        if not self.schema.primary_keys:
            return None
        return self._keys.duplicates()

    def applied(self, table: Table) -> bool:
        """Whether this execution is committed to ``table`` already."""
        if self.seq is None:
            return execution_committed(table, self.execution_id)
        return flow_applied(table, self.flow, self.seq)

    def finish(self) -> None:
        """Write every row staged as data files, so that ``commit`` only plans and commits."""
        try:
            self._flush(wait=True)
        except BaseException:
            self.abort()
            raise

    def commit(self, load: Callable[[], Table]) -> FlowCommit:
        """Commit everything staged, and what it replaces, in one snapshot.

        ``load`` loads the table afresh (each attempt plans against the current snapshot).
        """
        try:
            self._flush(wait=True)
            return retry_conflicts(lambda: self._attempt(load()))
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._collect()  # what is being written is deleted too
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        if not self._unknown:
            remove_files(self.table.io, [f.file_path for f in self._staged])
        self._staged = []
        self._pending = []
        self._keys.close()

    def _flush(self, wait: bool = False) -> None:
        """Write the pending rows as data files, on a thread of their own.

        Parquet encoding releases the GIL: the next chunk is read and converted meanwhile.
        One chunk is written at a time, so memory holds two chunks at most.
        """
        self._collect()
        if self._pending:
            chunk = pa.concat_tables(self._pending)
            self._pending, self._pending_rows = [], 0
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="supplylake-flow-write")
            self._writing = self._pool.submit(write_data_files, self.table, chunk)
        if wait:
            self._collect()

    def _collect(self) -> None:
        if self._writing is not None:
            writing, self._writing = self._writing, None
            self._staged += writing.result()

    def _attempt(self, table: Table) -> FlowCommit:
        if self.applied(table):
            self.abort()
            return FlowCommit(None, 0, 0, already=True)
        plan = self._plan(table)
        written: list[str] = []
        deleted = 0
        try:
            delete_files = []
            for hits in plan.deletes:
                delete_file = write_position_deletes(
                    table.io, hits.positions, hits.partition, hits.spec_id
                )
                written.append(delete_file.file_path)
                delete_files.append(delete_file)
                deleted += sum(len(p) for p in hits.positions.values())
            properties = {
                EXECUTION_PROPERTY: self.execution_id,
                FLOW_PROPERTY: self.flow,
            }
            position = read.last_position(table)
            if position:
                properties[POSITION_PROPERTY] = str(position)
            sequence = {} if self.seq is None else {_SEQ_PREFIX + self.flow: str(self.seq)}
            self._unknown = True
            snapshot_id = _commit(
                table, properties, sequence, [*delete_files, *self._staged], plan.removed
            )
            self._unknown = False
        except (CommitFailedException, ValidationException):
            self._unknown = False  # refused: it did not land, and its delete files are orphans
            remove_files(table.io, written)
            raise
        except BaseException:
            if not self._unknown:  # failed before the commit was sent
                remove_files(table.io, written)
            raise
        removed_rows = deleted + sum(f.record_count for f in plan.removed)
        self._keys.close()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        return FlowCommit(snapshot_id, self.rows, removed_rows)

    def _plan(self, table: Table) -> _Plan:
        if table.current_snapshot() is None:
            return _Plan([], ())
        if self.mode is WriteMode.REPLACE:
            return self._plan_replace(table)
        if self.mode is WriteMode.UPSERT and self.schema.primary_keys and self.rows:
            return _Plan([], self._upserted(table))
        return _Plan([], ())

    def _upserted(self, table: Table) -> Iterator[PartitionHits]:
        """The live rows the staged keys replace (only the owner's, with an owner)."""
        if self.owner is not None:
            owner = self.owner
            files = (f for group in live_files(table).data.values() for f in group)
            if not any(_may_hold(table, f, owner) for f in files):
                return  # the table holds no row of the flow: nothing to replace
        for share in replaced(table, self.schema, self._keys.table()):
            for group in share:
                if self.owner is not None:
                    group.positions = {
                        path: kept
                        for path, positions in group.positions.items()
                        if (kept := _owned(table, path, positions, self.owner))
                    }
                if group.positions:
                    yield group

    def _plan_replace(self, table: Table) -> _Plan:
        live = live_files(table)
        plan = _Plan([], ())
        found: dict[Partition, PartitionHits] = {}
        for partition, data_files in live.data.items():
            for data_file in data_files:
                if self.owner is None:
                    plan.removed.append(data_file)
                    continue
                if not _may_hold(table, data_file, self.owner):
                    continue
                values = _column(table, data_file.file_path, self.owner.column)
                mine = pc.equal(values, self.owner.value)
                if pc.all(pc.fill_null(mine, False)).as_py():
                    plan.removed.append(data_file)
                    continue
                positions = pc.indices_nonzero(pc.fill_null(mine, False)).to_pylist()
                gone = deleted_positions(
                    table.io, data_file.file_path, live.deletes.get(partition, ())
                )
                positions = [p for p in positions if p not in gone]
                if positions:
                    group = found.setdefault(
                        partition, PartitionHits(data_file.partition, data_file.spec_id)
                    )
                    group.positions[data_file.file_path] = positions
        if self.owner is None:
            for delete_files in live.deletes.values():
                plan.removed += delete_files
        plan.deletes = found.values()
        return plan


def _owned(table: Table, path: str, positions: list[int], owner: Owner) -> list[int]:
    """The ``positions`` of the data file whose owner column holds the owner's value."""
    values = _column(table, path, owner.column)
    taken = values.take(pa.array(positions, pa.int64()))
    mine = pc.fill_null(pc.equal(taken, owner.value), False).to_pylist()
    return [p for p, m in zip(positions, mine, strict=True) if m]


def _column(table: Table, path: str, column: str) -> pa.ChunkedArray:
    with table.io.new_input(path).open() as stream:
        return pq.read_table(stream, columns=[column]).column(column)


def _may_hold(table: Table, data_file: DataFile, owner: Owner) -> bool:
    """Whether the data file's column bounds allow rows of the owner (no bounds: maybe)."""
    field_id = table.schema().find_field(owner.column).field_id
    lower = (data_file.lower_bounds or {}).get(field_id)
    upper = (data_file.upper_bounds or {}).get(field_id)
    if lower is None or upper is None:
        return True
    low = str(from_bytes(StringType(), lower))
    high = str(from_bytes(StringType(), upper))
    # Bounds may be truncated prefixes: compare on their length.
    return low <= owner.value[: len(low)] and owner.value[: len(high)] <= high


def _commit(
    table: Table,
    summary: dict[str, str],
    table_properties: dict[str, str],
    added: list[DataFile],
    removed: list[DataFile],
) -> int:
    """One snapshot adding ``added`` and removing ``removed``, and the table properties."""
    tx = CopyOnceTransaction(table)
    producer = RowLevelCommit(tx, table.io, summary)
    with producer:
        for data_file in removed:
            producer.remove_file(data_file)
        for data_file in added:
            producer.add_file(data_file)
    if table_properties:
        tx.set_properties(table_properties)
    tx.commit_transaction()
    return producer.snapshot_id
