"""Row-level commits: one snapshot that adds data and position delete files and removes files.

pyiceberg writes data manifests only, and its overwrite rewrites a delete manifest as a data
manifest. This producer keeps each manifest's content: new data files go into a data manifest,
new position delete files into a delete manifest, and a carried-forward manifest that lists a
removed file is rewritten with that entry marked DELETED. Sequence numbers are the standard
ones: files added here get this snapshot's, which is above that of every data file the new
delete files point at, so they apply to those files and to none added later.

It refuses to commit over any snapshot it did not plan against (pyiceberg retries commits on its
own): position deletes name rows of specific files, and a concurrent commit may have moved those
rows (compaction) or added rows with the same keys. The caller plans again instead.
"""

from __future__ import annotations

from collections import defaultdict

from pyiceberg.exceptions import ValidationException
from pyiceberg.io import FileIO
from pyiceberg.manifest import (
    DataFile,
    DataFileContent,
    ManifestContent,
    ManifestEntry,
    ManifestEntryStatus,
    ManifestFile,
    ManifestWriter,
)
from pyiceberg.table import Table, Transaction
from pyiceberg.table.snapshots import Operation
from pyiceberg.utils.properties import property_as_bool, property_as_int

from supplylake.lake._pyiceberg import CopyOnceTransaction, QuickManifestWriter, SnapshotProducer
from supplylake.lake.manifests import live_entries, manifests, remember_list

_MERGE_ENABLED = "commit.manifest-merge.enabled"
_MIN_COUNT_TO_MERGE = "commit.manifest.min-count-to-merge"


class RowLevelCommit(SnapshotProducer["RowLevelCommit"]):
    """Adds data and delete files and removes files in one snapshot; use as a context manager."""

    def __init__(self, transaction: Transaction, io: FileIO, properties: dict[str, str]) -> None:
        super().__init__(Operation.APPEND, transaction, io, properties)
        self._removed: set[str] = set()
        #: The manifests of the snapshot, once made.
        self.listed: list[ManifestFile] | None = None

    def add_file(self, data_file: DataFile) -> None:
        """Add a data file or a position delete file."""
        self.stage_added(data_file)

    def remove_file(self, data_file: DataFile) -> None:
        """Remove a live data file or delete file (it must be in the parent snapshot)."""
        self.stage_removed(data_file)
        self._removed.add(data_file.file_path)

    def operation(self) -> Operation:
        adds = {f.content for f in self.added_files}
        if self._removed or adds == {DataFileContent.DATA, DataFileContent.POSITION_DELETES}:
            return Operation.OVERWRITE
        if adds == {DataFileContent.POSITION_DELETES}:
            return Operation.DELETE
        return Operation.APPEND

    def validate_concurrency(self) -> None:
        if self.planned_on_stale_snapshot():
            raise ValidationException("the table changed after this commit was planned")

    def deleted_entries(self) -> list[ManifestEntry]:
        return []  # marked in the rewritten manifests instead

    def manifests(self) -> list[ManifestFile]:
        added: list[ManifestFile] = []
        by_kind: dict[tuple[ManifestContent, int], list[DataFile]] = defaultdict(list)
        default_spec = self.transaction.table_metadata.default_spec_id
        for data_file in self.added_files:
            if data_file.content == DataFileContent.DATA:
                by_kind[(ManifestContent.DATA, default_spec)].append(data_file)
            else:
                by_kind[(ManifestContent.DELETES, data_file.spec_id)].append(data_file)
        for (content, spec_id), files in by_kind.items():
            with self._writer(spec_id, content) as writer:
                for data_file in files:
                    writer.add(
                        ManifestEntry.from_args(
                            status=ManifestEntryStatus.ADDED,
                            snapshot_id=self.new_snapshot_id,
                            sequence_number=None,
                            file_sequence_number=None,
                            data_file=data_file,
                        )
                    )
            added.append(writer.to_manifest_file())
        self.listed = self._merged(added + self.existing_manifests())
        return self.listed

    def existing_manifests(self) -> list[ManifestFile]:
        """The parent's manifests with live files; those listing a removed file rewritten."""
        if self.parent_snapshot_id is None:
            if self._removed:
                raise ValidationException("no snapshot to remove files from")
            return []
        parent = self.transaction.table_metadata.snapshot_by_id(self.parent_snapshot_id)
        if parent is None:
            raise ValidationException(f"snapshot {self.parent_snapshot_id} is gone")
        kept: list[ManifestFile] = []
        found: set[str] = set()
        for manifest in manifests(self.io, parent):
            if not (manifest.has_added_files() or manifest.has_existing_files()):
                continue
            if not self._removed:
                kept.append(manifest)
                continue
            entries = live_entries(self.io, manifest)
            removed = [e for e in entries if e.data_file.file_path in self._removed]
            if not removed:
                kept.append(manifest)
                continue
            found.update(e.data_file.file_path for e in removed)
            with self._writer(manifest.partition_spec_id, manifest.content) as writer:
                for entry in entries:
                    if entry.data_file.file_path in self._removed:
                        writer.delete(entry)
                    else:
                        writer.existing(entry)
            kept.append(writer.to_manifest_file())
        if missing := self._removed - found:
            raise ValidationException(f"files to remove are not live: {sorted(missing)[:3]}")
        return kept

    def _merged(self, manifests: list[ManifestFile]) -> list[ManifestFile]:
        """Merge the manifests of each content and spec into one once they reach the threshold."""
        properties = self.transaction.table_metadata.properties
        if not property_as_bool(properties, _MERGE_ENABLED, True):
            return manifests
        threshold = property_as_int(properties, _MIN_COUNT_TO_MERGE, 100) or 100
        groups: dict[tuple[ManifestContent, int], list[ManifestFile]] = defaultdict(list)
        for manifest in manifests:
            groups[(manifest.content, manifest.partition_spec_id)].append(manifest)
        out: list[ManifestFile] = []
        written = set(self.written_manifests)
        for (content, spec_id), group in groups.items():
            if len(group) < max(threshold, 2):
                out += group
                continue
            with self._writer(spec_id, content) as writer:
                for manifest in group:
                    for entry in self._entries(manifest, written):
                        ours = entry.snapshot_id == self.new_snapshot_id
                        if entry.status == ManifestEntryStatus.DELETED:
                            if ours:  # only this snapshot's removals are kept
                                writer.delete(entry)
                        elif entry.status == ManifestEntryStatus.ADDED and ours:
                            writer.add(entry)
                        else:
                            writer.existing(entry)
            out.append(writer.to_manifest_file())
        return out

    def _entries(self, manifest: ManifestFile, written: set[str]) -> list[ManifestEntry]:
        """A manifest's entries for merging. Of a manifest this commit did not write, the DELETED
        entries are another snapshot's, which a merge drops: its live entries (kept) will do."""
        if manifest.manifest_path in written:
            return manifest.fetch_manifest_entry(self.io, discard_deleted=False)
        return live_entries(self.io, manifest)

    def _writer(self, spec_id: int, content: ManifestContent) -> ManifestWriter:
        if self.transaction.table_metadata.format_version != 2:
            if content != ManifestContent.DATA:
                raise ValidationException("delete files need a table of format version 2")
            return self.new_manifest_writer(self.spec(spec_id))
        return QuickManifestWriter(
            self.spec(spec_id),
            self.schema(),
            self.new_manifest_output(),
            self.new_snapshot_id,
            self.compression,
            content,
        )


def commit_files(
    table: Table,
    properties: dict[str, str],
    added: list[DataFile],
    removed: list[DataFile] | None = None,
) -> int:
    """Commit one snapshot adding `added` and removing `removed`; its id. One attempt.

    Raises CommitFailedException or ValidationException when another commit got in first; the
    files stay on disk (the caller owns them).
    """
    tx = CopyOnceTransaction(table)
    producer = RowLevelCommit(tx, table.io, properties)
    with producer:
        for data_file in removed or ():
            producer.remove_file(data_file)
        for data_file in added:
            producer.add_file(data_file)
    tx.commit_transaction()
    snapshot = table.metadata.snapshot_by_id(producer.snapshot_id)
    if snapshot is not None and producer.listed is not None:
        remember_list(snapshot, producer.listed)
    return producer.snapshot_id
