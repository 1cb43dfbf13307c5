"""Commit a folded batch to its Iceberg table as one snapshot (merge-on-read).

The rows that a batch's UPSERT and DELETE keys replace are found through the key index (`locate`)
and removed with position delete files, one per partition, beside a data file with the batch's
new rows; nothing already written is read or rewritten, so a batch costs what it holds, not what
the table holds. The snapshot also carries the batch position, so a reader sees the whole batch
or none of it, and the position is exact for resuming. Compaction folds the deletes in later.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table, Transaction

from supplylake.lake import keyindex
from supplylake.lake._pyiceberg import CopyOnceTransaction, MergeAppend
from supplylake.lake.commits import commit_files
from supplylake.lake.datafiles import write_rows
from supplylake.lake.deletes import write_position_deletes
from supplylake.lake.errors import CommitConflictError
from supplylake.lake.fold import Folded
from supplylake.lake.layout import POSITION_PROPERTY
from supplylake.lake.locate import locate
from supplylake.lake.paths import remove_files
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
    files_added: int  # data files
    delete_files_added: int
    files_touched: int  # data files that lost rows


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


def commit_folded(
    table: Table, folded: Folded, schema: DatasetSchema, position: int
) -> ApplyResult:
    """Apply `folded` to `table` in one snapshot recording `position`; one attempt."""
    properties = {POSITION_PROPERTY: str(position)}
    if not folded.removes:
        # Appends commute with every other commit: no validation, and pyiceberg merges manifests.
        tx = CopyOnceTransaction(table)  # reads of its metadata copy it once, not each time
        producer = tx.update_snapshot(snapshot_properties=properties).merge_append()
        return _append(table, tx, producer, folded, schema, position)

    hits = locate(table, folded.removed_rows, schema.primary_keys)
    written: list[str] = []
    try:
        added = []
        for group in hits:
            delete_file = write_position_deletes(
                table.io, group.positions, group.partition, group.spec_id
            )
            written.append(delete_file.file_path)
            added.append(delete_file)
        data_files = _write(table, folded, schema)
        written += [f.file_path for f in data_files]
        snapshot_id = commit_files(table, properties, [*added, *data_files])
    except (CommitFailedException, ValidationException):
        # These guarantee the commit did not land: the new files are orphans.
        remove_files(table.io, written)
        raise
    return ApplyResult(
        snapshot_id=snapshot_id,
        position=position,
        rows_added=folded.added.num_rows,
        rows_removed=sum(len(p) for group in hits for p in group.positions.values()),
        files_added=len(data_files),
        delete_files_added=len(hits),
        files_touched=sum(len(group.positions) for group in hits),
    )


def _append(
    table: Table,
    tx: Transaction,
    producer: MergeAppend,
    folded: Folded,
    schema: DatasetSchema,
    position: int,
) -> ApplyResult:
    data_files: list[DataFile] = []
    try:
        with producer:
            data_files = _write(table, folded, schema)
            for data_file in data_files:
                producer.append_data_file(data_file)
        tx.commit_transaction()
    except (CommitFailedException, ValidationException):
        remove_files(table.io, [f.file_path for f in data_files])
        raise
    return ApplyResult(
        snapshot_id=producer.snapshot_id,
        position=position,
        rows_added=folded.added.num_rows,
        rows_removed=0,
        files_added=len(data_files),
        delete_files_added=0,
        files_touched=0,
    )


#: Most rows of a new data file indexed as it is written; a larger file is indexed by the first
#: batch that searches it.
_INDEXED_AT_WRITE = 1 << 16
#: Most rows of a new data file whose index is only held in memory, not written.
_HELD_ONLY = 256


def _write(table: Table, folded: Folded, schema: DatasetSchema) -> list[DataFile]:
    """Write the batch's new rows, and index each small new file: the table's next batch
    searches it without reading it back."""
    written = write_rows(table, folded.added)
    keys = list(schema.primary_keys)
    if keys:
        for data_file, rows in written:
            if rows.num_rows <= _HELD_ONLY:
                keyindex.hold_segment(data_file.file_path, rows.select(keys), keys)
            elif rows.num_rows <= _INDEXED_AT_WRITE:
                keyindex.store_segment(table, data_file.file_path, rows.select(keys), keys)
    return [data_file for data_file, _ in written]
