"""Commit a folded batch to its Iceberg table as one snapshot (copy-on-write).

The files that may hold a removed key (by partition and key column bounds, see `prune`) are read
whole and matched by encoded key; a file with a match is replaced by its surviving rows. Those
rows and the batch's new rows go into one snapshot that also carries the batch position, so a
reader sees the whole batch or none of it, and the position is exact for resuming.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files
from pyiceberg.table.snapshots import Operation as SnapshotOperation
from pyiceberg.table.update.snapshot import _OverwriteFiles

from supplylake.lake.errors import CommitConflictError
from supplylake.lake.fold import Folded
from supplylake.lake.keys import encode_keys
from supplylake.lake.layout import POSITION_PROPERTY, arrow_schema, conform
from supplylake.lake.prune import candidate_tasks
from supplylake.schema.types import DatasetSchema

T = TypeVar("T")

_ATTEMPTS = 8


@dataclass(frozen=True)
class ApplyResult:
    """What one batch did to its table."""

    snapshot_id: int
    position: int
    rows_added: int
    rows_removed: int
    files_added: int
    files_removed: int


def retry_conflicts(attempt: Callable[[], T]) -> T:
    """Run `attempt` (which must reload the table) until it commits without a conflict.

    pyiceberg retries a failed commit itself, but a rewrite it finds invalidated (files it
    replaces are gone, or rows were added under serializable isolation) must be redone from a
    fresh read, which only the caller can do.
    """
    for n in range(_ATTEMPTS):
        try:
            return attempt()
        except (CommitFailedException, ValidationException) as e:
            if n == _ATTEMPTS - 1:
                raise CommitConflictError(str(e)) from e
            time.sleep(min(0.05 * 2**n, 2.0) * random.uniform(0.5, 1.0))
    raise AssertionError("unreachable")


def commit_folded(table: Any, folded: Folded, schema: DatasetSchema, position: int) -> ApplyResult:
    """Apply `folded` to `table` in one snapshot recording `position`; one attempt."""
    strict = arrow_schema(schema)
    replaced: list[Any] = []
    kept: list[pa.Table] = []
    rows_removed = 0
    if folded.removes:
        first = schema.primary_keys[0]
        firsts = pc.unique(folded.removed_rows.column(first))
        for task, rows in _read_candidates(table, folded, schema):
            # Encoding keys costs string work per row: only for rows whose first key column
            # could match. Surviving rows change order, which a table does not have anyway.
            column = rows.column(first)
            maybe = pc.is_in(column, value_set=firsts.cast(column.type))
            candidates = rows.filter(maybe)
            matched = pc.is_in(encode_keys(candidates, schema), value_set=folded.removed_keys)
            hits = pc.sum(matched).as_py() or 0
            if hits:
                replaced.append(task.file)
                survivors = [rows.filter(pc.invert(maybe)), candidates.filter(pc.invert(matched))]
                kept.append(conform(pa.concat_tables(survivors), strict))
                rows_removed += hits
    to_write = pa.concat_tables([*kept, folded.added]) if kept else folded.added

    tx = table.transaction()
    properties = {POSITION_PROPERTY: str(position)}
    # Removing keys rewrites files: an overwrite, validated against concurrent writers. A batch
    # that only appends needs no validation and lets pyiceberg merge manifests.
    if folded.removes:
        producer = overwrite_producer(table, tx, properties)
    else:
        producer = tx.update_snapshot(snapshot_properties=properties).merge_append()
    added = write_files(table, tx, producer, to_write, replaced)
    return ApplyResult(
        snapshot_id=producer.snapshot_id,
        position=position,
        rows_added=folded.added.num_rows,
        rows_removed=rows_removed,
        files_added=added,
        files_removed=len(replaced),
    )


class _Overwrite(_OverwriteFiles):
    """pyiceberg's overwrite, without carrying forward manifests that list no live file.

    pyiceberg's overwrite keeps every earlier snapshot's manifest of deleted entries, so an
    UPSERT-only table gained a manifest per commit (301 after 300 commits, then 1 s a commit).
    Its appends drop them; this does the same.
    """

    def _existing_manifests(self) -> list[Any]:
        manifests: list[Any] = super()._existing_manifests()
        return [m for m in manifests if m.has_added_files() or m.has_existing_files()]


def overwrite_producer(table: Any, tx: Any, properties: dict[str, str]) -> Any:
    """A snapshot producer that deletes and adds data files in one OVERWRITE snapshot."""
    first = tx.table_metadata.current_snapshot() is None
    return _Overwrite(
        operation=SnapshotOperation.APPEND if first else SnapshotOperation.OVERWRITE,
        transaction=tx,
        io=table.io,
        snapshot_properties=properties,
    )


def write_files(table: Any, tx: Any, producer: Any, rows: pa.Table, replaced: list[Any]) -> int:
    """Write `rows` as data files replacing `replaced`, commit `tx`; clean up if it fails."""
    written: list[str] = []
    try:
        with producer:
            for data_file in replaced:
                producer.delete_data_file(data_file)
            if rows.num_rows:
                files = _dataframe_to_data_files(
                    table_metadata=tx.table_metadata,
                    df=rows,
                    io=table.io,
                    write_uuid=producer.commit_uuid,
                    counter=itertools.count(),
                )
                for data_file in files:
                    written.append(data_file.file_path)
                    producer.append_data_file(data_file)
        tx.commit_transaction()
    except (CommitFailedException, ValidationException):
        # These guarantee the commit did not land: the new files are orphans.
        for path in written:
            table.io.delete(path)
        raise
    return len(written)


def _read_candidates(
    table: Any, folded: Folded, schema: DatasetSchema
) -> list[tuple[Any, pa.Table]]:
    """The data files that may hold a removed key, each read whole."""
    tasks = candidate_tasks(table, folded.removed_rows, schema)
    scan = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue())

    def read(task: Any) -> tuple[Any, pa.Table]:
        return task, scan.to_table([task])

    if len(tasks) <= 1:
        return [read(task) for task in tasks]
    # Not pyiceberg's shared executor: to_table submits to it too, and waiting on it from its
    # own workers deadlocks once the files outnumber its threads.
    with ThreadPoolExecutor(max_workers=min(4, len(tasks))) as pool:
        return list(pool.map(read, tasks))
