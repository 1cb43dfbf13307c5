"""Table health: compaction (see `compact`) and expiry of old snapshots with their files.

Expiry uses pyiceberg's ExpireSnapshots, which only edits metadata, then deletes the files that
only the expired snapshots referenced, with the key index files of the data files among them.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pyiceberg.manifest import DataFileContent, ManifestFile
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.table.update.snapshot import ExpireSnapshots

from supplylake.lake import keyindex, manifests
from supplylake.lake._pyiceberg import CopyOnceTransaction
from supplylake.lake.compact import CompactResult
from supplylake.lake.paths import remove_files

# Index files younger than this are never swept: a compaction may be about to commit their files.
_SWEEP_AGE_S = 3600


@dataclass(frozen=True)
class MaintenanceResult:
    compacted: CompactResult | None
    snapshots_expired: int


def expire_snapshots(table: Table, older_than: datetime, retain_last: int = 1) -> int:
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
    gone, gone_data = _reachable(table, expired)
    still, still_data = _reachable(table, retained)
    # pyiceberg's own builder reads (deep-copies) the metadata once per snapshot id.
    ExpireSnapshots(transaction=CopyOnceTransaction(table, autocommit=True)).by_ids(
        sorted(expired_ids)
    ).commit()
    remove_files(table.io, gone - still)
    keyindex.remove_segments(table.io, table.location(), gone_data - still_data)
    _sweep_index(table.location(), still_data)
    return len(expired)


def snapshot_age_cutoff(min_age: timedelta) -> datetime:
    return datetime.now(UTC) - min_age


def _ancestor_ids(table: Table, count: int) -> set[int]:
    ids: set[int] = set()
    snapshot = table.current_snapshot()
    while snapshot is not None and len(ids) < count:
        ids.add(snapshot.snapshot_id)
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    return ids


def _reachable(table: Table, snapshots: list[Snapshot]) -> tuple[set[str], set[str]]:
    """Manifest lists, manifests and live files of `snapshots`; and the data files alone."""
    paths: set[str] = set()
    data: set[str] = set()
    seen: set[str] = set()
    for snapshot in snapshots:
        paths.add(snapshot.manifest_list)
        for manifest in manifests.manifests(table.io, snapshot):
            paths.add(manifest.manifest_path)
            if manifest.manifest_path in seen:
                continue
            seen.add(manifest.manifest_path)
            files, data_files = _files_of(table, manifest)
            paths |= files
            data |= data_files
    return paths, data


def _files_of(table: Table, manifest: ManifestFile) -> tuple[set[str], set[str]]:
    """The live files a manifest lists, and the data files among them."""
    entries = manifests.live_entries(table.io, manifest)
    files = {e.data_file.file_path for e in entries}
    data = {e.data_file.file_path for e in entries if e.data_file.content == DataFileContent.DATA}
    return files, data


def _sweep_index(table_location: str, data_files: set[str]) -> None:
    """Delete old index files of data files no snapshot holds (left by crashed writers)."""
    folder = keyindex.segment_path(table_location, "").rsplit("/", 1)[0]
    local = folder[len("file://") :] if folder.startswith("file://") else folder
    if "://" in local or not os.path.isdir(local):
        return
    wanted = {keyindex.segment_path(table_location, p).rsplit("/", 1)[1] for p in data_files}
    now = time.time()
    with os.scandir(local) as entries:
        for entry in entries:
            if entry.name in wanted:
                continue
            with contextlib.suppress(FileNotFoundError):
                if now - entry.stat().st_mtime > _SWEEP_AGE_S:
                    os.unlink(entry.path)
