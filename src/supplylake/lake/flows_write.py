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
its loader died finds it committed (``flow_applied``) and does not apply it twice. It also
carries the event loader's batch position forward, so that snapshot expiry never leaves the
events' position behind in an expired snapshot.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.conversions import from_bytes
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table
from pyiceberg.typedef import Record
from pyiceberg.types import StringType

from supplylake.lake import read
from supplylake.lake._pyiceberg import CopyOnceTransaction
from supplylake.lake.commits import RowLevelCommit
from supplylake.lake.datafiles import write_data_files
from supplylake.lake.deletes import deleted_positions, write_position_deletes
from supplylake.lake.flows_keys import Duplicates, StagedKeys
from supplylake.lake.keys import match_columns
from supplylake.lake.layout import POSITION_PROPERTY, arrow_schema, conform
from supplylake.lake.live import Partition, live_files
from supplylake.lake.locate import locate
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


def committed_rows(table: Table, execution_id: str) -> int:
    """The rows the execution's commit added, while its snapshot is kept (else 0)."""
    for snapshot in table.snapshots():
        summary = snapshot.summary
        if summary is not None and summary.get(EXECUTION_PROPERTY) == execution_id:
            return int(summary.get("added-records") or 0)
    return 0


@dataclass
class _Plan:
    removed: list[DataFile] = field(default_factory=list)
    deletes: dict[Partition, tuple[Record, int, dict[str, list[int]]]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(len(p) for _, _, hits in self.deletes.values() for p in hits.values())


class FlowWriter:
    """Stages an execution's rows as data files of ``table``; ``commit`` lands them at once.

    Rows must be in the dataset's Arrow schema (``conform`` is applied). ``abort`` (or a
    failed commit) deletes what was staged.
    """

    def __init__(
        self,
        table: Table,
        schema: DatasetSchema,
        *,
        flow: str,
        execution_id: str,
        seq: int,
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
        if flow_applied(table, self.flow, self.seq):
            self.abort()
            return FlowCommit(None, 0, 0, already=True)
        plan = self._plan(table)
        written: list[str] = []
        try:
            delete_files = []
            for partition, spec_id, positions in plan.deletes.values():
                delete_file = write_position_deletes(table.io, positions, partition, spec_id)
                written.append(delete_file.file_path)
                delete_files.append(delete_file)
            properties = {
                EXECUTION_PROPERTY: self.execution_id,
                FLOW_PROPERTY: self.flow,
            }
            position = read.last_position(table)
            if position:
                properties[POSITION_PROPERTY] = str(position)
            snapshot_id = _commit(
                table,
                properties,
                {_SEQ_PREFIX + self.flow: str(self.seq)},
                [*delete_files, *self._staged],
                plan.removed,
            )
        except (CommitFailedException, ValidationException):
            remove_files(table.io, written)
            raise
        removed_rows = plan.rows + sum(f.record_count for f in plan.removed)
        self._keys.close()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        return FlowCommit(snapshot_id, self.rows, removed_rows)

    def _plan(self, table: Table) -> _Plan:
        if table.current_snapshot() is None:
            return _Plan()
        if self.mode is WriteMode.REPLACE:
            return self._plan_replace(table)
        if self.mode is WriteMode.UPSERT and self.schema.primary_keys:
            return self._plan_upsert(table)
        return _Plan()

    def _plan_upsert(self, table: Table) -> _Plan:
        plan = _Plan()
        if not self.rows:
            return plan
        if self.owner is not None:
            owner = self.owner
            files = (f for group in live_files(table).data.values() for f in group)
            if not any(_may_hold(table, f, owner) for f in files):
                return plan  # the table holds no row of the flow: nothing to replace
        keys = self._keys.table()
        for group in locate(table, keys, self.schema.primary_keys):
            hits = group.positions
            if self.owner is not None:
                hits = {
                    path: kept
                    for path, positions in hits.items()
                    if (kept := _owned(table, path, positions, self.owner))
                }
            if hits:
                key = (
                    group.spec_id,
                    tuple(group.partition[i] for i in range(len(group.partition))),
                )
                plan.deletes[key] = (group.partition, group.spec_id, hits)
        return plan

    def _plan_replace(self, table: Table) -> _Plan:
        live = live_files(table)
        plan = _Plan()
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
                    entry = plan.deletes.setdefault(
                        partition, (data_file.partition, data_file.spec_id, defaultdict(list))
                    )
                    entry[2][data_file.file_path] = positions
        if self.owner is None:
            for delete_files in live.deletes.values():
                plan.removed += delete_files
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
    tx.set_properties(table_properties)
    tx.commit_transaction()
    return producer.snapshot_id
