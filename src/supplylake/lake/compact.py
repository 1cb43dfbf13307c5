"""Compaction: fold position deletes and small files into new data files, without stopping writers.

Per partition, the data files rewritten are the small ones (merged when there are two or more)
and those that lost at least a fifth of their rows or that are small and lost any; their rows
that no delete removes are written again, sorted by key, with their key index. The partition's
delete files are replaced by at most one, holding what still applies to the files kept. So reads
meet few files and few deletes, and a large file is rewritten only when enough of it is gone.

Writers keep committing meanwhile. When the commit finds snapshots after the one it planned on,
it rebases instead of failing: position deletes they added for rows of rewritten files are
translated to the rows' new positions (the rewrite keeps each row's origin) and committed with
the new files; delete files that only pointed at rewritten files are dropped. Only a concurrent
rewrite of the same files makes it give up (the caller plans again).
"""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.io.pyarrow import pyarrow_to_schema, write_file
from pyiceberg.manifest import DataFile, DataFileContent, ManifestEntryStatus
from pyiceberg.table import Table, WriteTask
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.typedef import Record

from supplylake.lake import keyindex
from supplylake.lake._pyiceberg import split_by_partition
from supplylake.lake.commits import commit_files
from supplylake.lake.deletes import deleted_positions, positions_in, write_position_deletes
from supplylake.lake.layout import POSITION_PROPERTY
from supplylake.lake.live import LiveFiles, live_files
from supplylake.lake.paths import remove_files
from supplylake.lake.read import file_rows, last_position, live_mask

SMALL_FILE_BYTES = 32 * 1024 * 1024
#: Parquet bytes one compaction pass rewrites per partition, at most (one file at least).
REWRITE_BYTES = 64 * 1024 * 1024
DELETED_SHARE = 0.2  # a data file is rewritten once this share of its rows is deleted
_ATTEMPTS = 12
_TARGET_FILE_BYTES = "write.target-file-size-bytes"


@dataclass(frozen=True)
class CompactResult:
    files_before: int  # data files rewritten
    files_after: int  # data files written
    snapshot_id: int | None  # None when there was nothing to compact
    delete_files_removed: int = 0


@dataclass
class _Group:
    """One partition's rewrite, kept across commit attempts."""

    record: Record  # the partition, as data files carry it
    spec_id: int
    rewrite: list[DataFile]
    deletes: list[DataFile]  # all delete files of the partition at the base snapshot
    kept: set[str]  # paths of the partition's data files that stay
    new_files: list[DataFile] = field(default_factory=list)
    kept_deletes: DataFile | None = None
    # Where the surviving rows went: row i of the new files (in order) came from `origin[i]`
    # (index into `rewrite`, position); only read when a concurrent delete must be translated.
    origin: pa.Table | None = None
    starts: list[int] = field(default_factory=list)  # first row of each new file
    translated: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # by delete file
    _by_origin: list[tuple[list[int], list[int]]] | None = None

    def translate(
        self, delete_file: str, targets: dict[str, frozenset[int]]
    ) -> dict[str, list[int]]:
        """Positions in the new files of the rows `targets` removes from the rewritten files."""
        if delete_file not in self.translated:
            self.translated[delete_file] = self._translate(targets)
        return self.translated[delete_file]

    def _translate(self, targets: dict[str, frozenset[int]]) -> dict[str, list[int]]:
        if self.origin is None:
            return {}
        if self._by_origin is None:
            self._by_origin = _index_origins(self.origin, len(self.rewrite))
        moved: dict[str, list[int]] = defaultdict(list)
        for index, data_file in enumerate(self.rewrite):
            positions, rows = self._by_origin[index]
            for position in targets.get(data_file.file_path, ()):
                at = bisect_left(positions, position)
                if at < len(positions) and positions[at] == position:  # else deleted before
                    row = rows[at]
                    k = bisect_right(self.starts, row) - 1
                    moved[self.new_files[k].file_path].append(row - self.starts[k])
        return dict(moved)


def _index_origins(origin: pa.Table, files: int) -> list[tuple[list[int], list[int]]]:
    """Per rewritten file: its surviving positions, ascending, and the new row of each."""
    order = pc.sort_indices(origin, sort_keys=[("f", "ascending"), ("pos", "ascending")])
    f = origin.column("f").take(order).to_pylist()
    positions = origin.column("pos").take(order).to_pylist()
    rows = order.to_pylist()
    out = []
    for index in range(files):
        lo, hi = bisect_left(f, index), bisect_right(f, index)
        out.append((positions[lo:hi], rows[lo:hi]))
    return out


class _Abort(Exception):
    """Files this compaction rewrites were rewritten or removed by someone else."""


def compact(
    load: Callable[[], Table],
    primary_keys: Sequence[str] | None,
    min_deleted_share: float = DELETED_SHARE,
    exclusive: Callable[[], AbstractContextManager[Any]] | None = None,
) -> CompactResult:
    """Compact the table `load()` returns (it must load it fresh each call).

    A data file is rewritten once `min_deleted_share` of its rows are deleted (0: any).
    `exclusive()`, if given, keeps the table's other writers out while the compaction rebases
    and commits (the rewrite before it runs beside them): under a steady stream of commits a
    rebase alone may never catch up with the newest snapshot.
    """
    table = load()
    base = table.current_snapshot()
    if base is None:
        return CompactResult(0, 0, None)
    live = live_files(table)
    groups = _plan(table, live, min_deleted_share)
    if not groups:
        return CompactResult(0, 0, None)
    written: list[str] = []
    try:
        for group in groups:
            _rewrite(table, group, primary_keys, written)
    except BaseException:
        _discard(table, written)
        raise
    try:
        with exclusive() if exclusive is not None else contextlib.nullcontext():
            return _commit(load, table, base.snapshot_id, groups)
    except (_Abort, CommitFailedException, ValidationException) as e:
        # None of these landed a commit: what this compaction wrote is unused.
        _discard(table, written)
        if isinstance(e, _Abort):
            raise ValidationException(str(e)) from e
        raise


def needs_compaction(table: Table, max_data_files: int, max_delete_files: int) -> bool:
    """Past `max_data_files` (with small files to merge), `max_delete_files`, or a fifth deleted."""
    snapshot = table.current_snapshot()
    if snapshot is None or snapshot.summary is None:
        return False
    summary = snapshot.summary
    delete_files = int(summary.get("total-delete-files", "0"))
    deleted = int(summary.get("total-position-deletes", "0"))
    records = int(summary.get("total-records", "0"))
    if delete_files > max_delete_files or (deleted and deleted >= DELETED_SHARE * records):
        return bool(_plan(table, live_files(table), DELETED_SHARE))
    if int(summary.get("total-data-files", "0")) <= max_data_files:
        return False
    live = live_files(table)
    files = sum(len(v) for v in live.data.values())
    return files > 2 * len(live.data) and bool(_plan(table, live, DELETED_SHARE))


def _plan(table: Table, live: LiveFiles, share: float) -> list[_Group]:
    groups = []
    for partition in sorted(live.partitions(), key=repr):
        data, deletes = live.data.get(partition, []), live.deletes.get(partition, [])
        lost: dict[str, int] = defaultdict(int)
        for delete_file in deletes:
            for path, rows in positions_in(table.io, delete_file).items():
                lost[path] += len(rows)
        small = [f for f in data if f.file_size_in_bytes < SMALL_FILE_BYTES]
        rewrite = {
            f.file_path
            for f in data
            if lost[f.file_path] and (lost[f.file_path] >= share * f.record_count or f in small)
        }
        if len(small) > 1:
            rewrite |= {f.file_path for f in small}
        rewrite = _within_budget([f for f in data if f.file_path in rewrite], lost)
        if rewrite or len(deletes) > 1:
            chosen = [f for f in data if f.file_path in rewrite]
            kept = {f.file_path for f in data} - rewrite
            groups.append(
                _Group((data + deletes)[0].partition, partition[0], chosen, deletes, kept)
            )
    return groups


def _within_budget(files: list[DataFile], lost: dict[str, int]) -> set[str]:
    """The files one pass rewrites: those losing most first, then the smallest, up to
    `REWRITE_BYTES` of Parquet (one file at least). A rewrite reads its files into memory at
    once, so this bounds a compaction's memory; the next pass takes the rest."""
    if sum(f.file_size_in_bytes for f in files) <= REWRITE_BYTES:
        return {f.file_path for f in files}
    order = sorted(
        files, key=lambda f: (-lost[f.file_path] / max(f.record_count, 1), f.file_size_in_bytes)
    )
    chosen: list[DataFile] = []
    total = 0
    for f in order:
        if chosen and total + f.file_size_in_bytes > REWRITE_BYTES:
            break
        chosen.append(f)
        total += f.file_size_in_bytes
    if len(chosen) == 1 and not lost[chosen[0].file_path]:
        return set()  # a lone file with nothing deleted gains nothing from a rewrite
    return {f.file_path for f in chosen}


def _rewrite(
    table: Table, group: _Group, primary_keys: Sequence[str] | None, written: list[str]
) -> None:
    """Write the group's new data files, their key index, and its one remaining delete file."""
    kept: dict[str, set[int]] = defaultdict(set)
    for delete_file in group.deletes:
        for path, rows in positions_in(table.io, delete_file).items():
            if path in group.kept:  # not rewritten, and not a file removed earlier
                kept[path] |= rows
    if kept:
        group.kept_deletes = write_position_deletes(table.io, kept, group.record, group.spec_id)
        written.append(group.kept_deletes.file_path)
    if not group.rewrite:
        return

    # Every row of every file, files in order, each file in its row order.
    whole = file_rows(table, group.rewrite)
    parts, origins, start = [], [], 0
    for index, data_file in enumerate(group.rewrite):
        rows = whole.slice(start, data_file.record_count)
        start += data_file.record_count
        positions = pa.array(range(rows.num_rows), pa.int64())
        gone = deleted_positions(table.io, data_file.file_path, group.deletes)
        if gone:
            keep = live_mask(rows.num_rows, gone)
            rows, positions = rows.filter(keep), positions.filter(keep)
        parts.append(rows)
        origins.append(
            pa.table({"f": pa.repeat(index, len(positions)).cast(pa.int32()), "pos": positions})
        )
    rows = pa.concat_tables(parts).combine_chunks()
    origin = pa.concat_tables(origins).combine_chunks()
    keys = list(primary_keys or sorted(table.schema().identifier_field_names()))
    if keys and rows.num_rows:
        order = pc.sort_indices(rows, sort_keys=[(k, "ascending") for k in keys])
        rows, origin = rows.take(order), origin.take(order)
    group.new_files = _write_in_order(table, rows)
    written += [f.file_path for f in group.new_files]
    offset = 0
    for data_file in group.new_files:
        group.starts.append(offset)
        if primary_keys:
            chunk = rows.slice(offset, data_file.record_count).select(list(primary_keys))
            keyindex.store_segment(table, data_file.file_path, chunk, primary_keys)
        offset += data_file.record_count
    group.origin = origin


def _write_in_order(table: Table, rows: pa.Table) -> list[DataFile]:
    """Data files holding `rows` (one partition) in this order, so positions are known."""
    if not rows.num_rows:
        return []
    schema, spec = table.schema(), table.spec()
    key = None
    if spec.fields:
        ((key, rows),) = list(split_by_partition(spec, schema, rows))
    task_schema = pyarrow_to_schema(
        rows.schema, name_mapping=schema.name_mapping, format_version=table.format_version
    )
    target = int(table.properties.get(_TARGET_FILE_BYTES, 512 * 1024 * 1024))
    per_file = max(1, int(target / max(rows.nbytes / rows.num_rows, 1)))
    write_uuid = uuid.uuid4()
    tasks = [
        WriteTask(
            write_uuid=write_uuid,
            task_id=n,
            schema=task_schema,
            record_batches=rows.slice(offset, per_file).to_batches(),
            partition_key=key,
        )
        for n, offset in enumerate(range(0, rows.num_rows, per_file))
    ]
    return list(write_file(table.io, table.metadata, iter(tasks)))


def _commit(
    load: Callable[[], Table], table: Table, base_id: int, groups: list[_Group]
) -> CompactResult:
    last: Exception | None = None
    history: dict[int, list[DataFile]] = {}  # delete files added by each later snapshot
    for attempt in range(_ATTEMPTS):
        fresh = table if attempt == 0 else load()
        extra: list[str] = []
        try:
            added, removed = _rebase(fresh, base_id, groups, extra, history)
            # The newest snapshot must always hold the position, even after expiry.
            position = last_position(fresh)
            properties = {POSITION_PROPERTY: str(position)} if position else {}
            snapshot_id = commit_files(fresh, properties, added, removed)
        except (CommitFailedException, ValidationException) as e:
            _discard(fresh, extra)
            last = e
            time.sleep(min(0.02 * 2**attempt, 1.0) * random.uniform(0.5, 1.0))
            continue
        return CompactResult(
            files_before=sum(len(g.rewrite) for g in groups),
            files_after=sum(len(g.new_files) for g in groups),
            snapshot_id=snapshot_id,
            delete_files_removed=sum(1 for f in removed if f.content != DataFileContent.DATA),
        )
    raise ValidationException(f"compaction kept conflicting with commits: {last}")


def _rebase(
    table: Table,
    base_id: int,
    groups: list[_Group],
    extra: list[str],
    history: dict[int, list[DataFile]],
) -> tuple[list[DataFile], list[DataFile]]:
    """The files to add and remove on top of the table's current snapshot."""
    added = [f for g in groups for f in g.new_files]
    added += [g.kept_deletes for g in groups if g.kept_deletes is not None]
    removed = [f for g in groups for f in (*g.rewrite, *g.deletes)]
    rewritten = {f.file_path for g in groups for f in g.rewrite}
    moved: list[dict[str, set[int]]] = [defaultdict(set) for _ in groups]
    for delete_file in _added_since(table, base_id, {f.file_path for f in removed}, history):
        targets = positions_in(table.io, delete_file)
        if not rewritten.intersection(targets):
            continue
        for group, into in zip(groups, moved, strict=True):
            for path, rows in group.translate(delete_file.file_path, targets).items():
                into[path].update(rows)
        if rewritten.issuperset(targets):
            removed.append(delete_file)  # all it removes is now in the translated deletes
    for group, into in zip(groups, moved, strict=True):
        if into:
            translated = write_position_deletes(table.io, into, group.record, group.spec_id)
            extra.append(translated.file_path)
            added.append(translated)
    return added, removed


def _added_since(
    table: Table, base_id: int, ours: set[str], history: dict[int, list[DataFile]]
) -> list[DataFile]:
    """Delete files committed after `base_id`; aborts if a file in `ours` was removed since.

    `history` keeps what each snapshot added, so that a retry only reads the newer ones.
    """
    chain = []
    snapshot = table.current_snapshot()
    while snapshot is not None and snapshot.snapshot_id != base_id:
        chain.append(snapshot)
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    if snapshot is None:
        raise _Abort("the snapshot this compaction started from is no longer an ancestor")
    found = []
    for snapshot in reversed(chain):
        if snapshot.snapshot_id not in history:
            history[snapshot.snapshot_id] = _delete_files_added(table, snapshot, ours)
        found += history[snapshot.snapshot_id]
    return found


def _delete_files_added(table: Table, snapshot: Snapshot, ours: set[str]) -> list[DataFile]:
    found = []
    for manifest in snapshot.manifests(table.io):
        if manifest.added_snapshot_id != snapshot.snapshot_id:
            continue
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False):
            if entry.snapshot_id != snapshot.snapshot_id:
                continue
            data_file = entry.data_file
            if entry.status == ManifestEntryStatus.DELETED and data_file.file_path in ours:
                raise _Abort(f"{data_file.file_path} was rewritten by another commit")
            if (
                entry.status == ManifestEntryStatus.ADDED
                and data_file.content == DataFileContent.POSITION_DELETES
            ):
                found.append(data_file)
    return found


def _discard(table: Table, paths: list[str]) -> None:
    keyindex.remove_segments(table.io, table.location(), paths)
    remove_files(table.io, paths)
