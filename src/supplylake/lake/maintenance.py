"""Table health: compaction of small files and expiry of old snapshots with their files.

pyiceberg 0.12 has no compaction: `compact` rewrites every partition holding several files in
one overwrite snapshot, sorted by the identifier fields (tighter column bounds for key
pruning). Expiry uses pyiceberg's ExpireSnapshots, which only edits metadata, then deletes the
files that only the expired snapshots referenced.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan

from supplylake.lake.layout import POSITION_PROPERTY
from supplylake.lake.read import last_position
from supplylake.lake.write import overwrite_producer, write_files


@dataclass(frozen=True)
class CompactResult:
    files_before: int  # of the partitions rewritten
    files_after: int
    snapshot_id: int | None  # None when there was nothing to compact


@dataclass(frozen=True)
class MaintenanceResult:
    compacted: CompactResult | None
    snapshots_expired: int


def compact(table: Any) -> CompactResult:
    """Rewrite each partition holding several data files (or delete files); one attempt."""
    groups: dict[Any, list[Any]] = defaultdict(list)
    for task in table.scan().plan_files():
        groups[(task.file.spec_id, task.file.partition)].append(task)
    tasks = [
        task
        for group in groups.values()
        if len(group) > 1 or any(task.delete_files for task in group)
        for task in group
    ]
    if not tasks:
        return CompactResult(0, 0, None)
    rows = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue()).to_table(tasks)
    keys = table.schema().identifier_field_names()
    if keys and rows.num_rows:
        rows = rows.sort_by([(k, "ascending") for k in sorted(keys)])
    position = last_position(table)
    # Carry the position forward so the newest snapshot always holds it, even after expiry.
    properties = {POSITION_PROPERTY: str(position)} if position else {}
    tx = table.transaction()
    producer = overwrite_producer(table, tx, properties)
    added = write_files(table, tx, producer, rows, [task.file for task in tasks])
    return CompactResult(len(tasks), added, producer.snapshot_id)


def expire_snapshots(table: Any, older_than: datetime, retain_last: int = 1) -> int:
    """Expire snapshots older than `older_than` except the newest `retain_last`; delete their files.

    Returns the number of snapshots expired.
    """
    keep = _ancestor_ids(table, max(retain_last, 1))
    cutoff_ms = int(older_than.timestamp() * 1000)
    expired = [
        s for s in table.snapshots() if s.snapshot_id not in keep and s.timestamp_ms < cutoff_ms
    ]
    if not expired:
        return 0
    expired_ids = {s.snapshot_id for s in expired}
    retained = [s for s in table.snapshots() if s.snapshot_id not in expired_ids]
    orphans = _reachable(table, expired) - _reachable(table, retained)
    table.maintenance.expire_snapshots().by_ids(sorted(expired_ids)).commit()
    for path in orphans:
        with contextlib.suppress(FileNotFoundError):
            table.io.delete(path)
    return len(expired)


def needs_compaction(table: Any, max_data_files: int) -> bool:
    """More than `max_data_files` files, and on average more than two per partition."""
    snapshot = table.current_snapshot()
    if snapshot is None or snapshot.summary is None:
        return False
    if int(snapshot.summary.get("total-data-files", "0")) <= max_data_files:
        return False
    tasks = list(table.scan().plan_files())
    partitions = {(task.file.spec_id, task.file.partition) for task in tasks}
    return len(tasks) > 2 * len(partitions)


def snapshot_age_cutoff(min_age: timedelta) -> datetime:
    return datetime.now(UTC) - min_age


def _ancestor_ids(table: Any, count: int) -> set[int]:
    ids: set[int] = set()
    snapshot = table.current_snapshot()
    while snapshot is not None and len(ids) < count:
        ids.add(snapshot.snapshot_id)
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    return ids


def _reachable(table: Any, snapshots: list[Any]) -> set[str]:
    """Manifest lists, manifests and live data and delete files of `snapshots`."""
    paths: set[str] = set()
    seen: set[str] = set()
    for snapshot in snapshots:
        paths.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            paths.add(manifest.manifest_path)
            if manifest.manifest_path in seen:
                continue
            seen.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                paths.add(entry.data_file.file_path)
    return paths
