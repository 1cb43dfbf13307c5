"""What a snapshot's manifest list and manifests hold, read once and kept: they never change.

Every commit of the loader finds the live files of the table (to locate the rows an UPSERT
replaces) and carries the parent snapshot's manifests forward, merging them now and then, and so
does every look at whether compaction is due and every snapshot expiry. Each
read opens every manifest of the snapshot (Avro, deflated): a large share of a busy loader's
time. Manifest lists and manifests are immutable once written (a change writes new ones under new
names), so what they hold is cached by path, least recently used first out, up to a number of
file entries. Callers must not change what they get.
"""

from __future__ import annotations

from copy import copy

from pyiceberg.io import FileIO
from pyiceberg.manifest import UNASSIGNED_SEQ, ManifestEntry, ManifestFile
from pyiceberg.table.snapshots import Snapshot

from supplylake.lake.lru import Lru

#: Most manifest entries kept (a DataFile with its column statistics is a few KB).
MAX_ENTRIES = 20_000

#: Manifest lists by path, and the live entries of manifests by path, weighed by their number.
_lists: Lru[str, list[ManifestFile]] = Lru(MAX_ENTRIES // 10)
_entries: Lru[str, list[ManifestEntry]] = Lru(MAX_ENTRIES, weight=len)


def manifests(io: FileIO, snapshot: Snapshot) -> list[ManifestFile]:
    """The manifest files of ``snapshot`` (its manifest list)."""
    found = _lists.get(snapshot.manifest_list)
    if found is None:
        found = list(snapshot.manifests(io))
        _lists.put(snapshot.manifest_list, found)
    return found


def remember_list(snapshot: Snapshot, written: list[ManifestFile]) -> None:
    """Keep the manifest list a commit just wrote for `snapshot`, as a reader reads it back.

    The table's next commit reads it first thing; the manifests the commit made get the
    snapshot's sequence number, as the manifest list writer gives them in the file.
    """
    sequence_number = snapshot.sequence_number
    if sequence_number is None:  # a format 1 table: read from the file when needed
        return
    listed = []
    for manifest in written:
        manifest = copy(manifest)
        if manifest.sequence_number == UNASSIGNED_SEQ:
            manifest.sequence_number = sequence_number
        if manifest.min_sequence_number == UNASSIGNED_SEQ:
            manifest.min_sequence_number = sequence_number
        listed.append(manifest)
    _lists.put(snapshot.manifest_list, listed)


def list_held(manifest_list: str) -> bool:
    """Whether the manifest list at this path is kept (tests)."""
    return manifest_list in _lists


def live_entries(io: FileIO, manifest: ManifestFile) -> list[ManifestEntry]:
    """The entries of ``manifest`` that are not DELETED."""
    found = _entries.get(manifest.manifest_path)
    if found is None:
        found = list(manifest.fetch_manifest_entry(io, discard_deleted=True))
        _entries.put(manifest.manifest_path, found)
    return found
