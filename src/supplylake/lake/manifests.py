"""What a snapshot's manifest list and manifests hold, read once and kept: they never change.

Every commit of the loader finds the live files of the table (to locate the rows an UPSERT
replaces), and so does every look at whether compaction is due and every snapshot expiry. Each
read opens every manifest of the snapshot (Avro, deflated): 18% of a busy loader's time. Manifest
lists and manifests are immutable once written (a change writes new ones under new names), so
what they hold is cached by path, least recently used first out, up to a number of file
entries. Callers must not change what they get.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

#: Most manifest entries kept (a DataFile with its column statistics is a few KB).
MAX_ENTRIES = 20_000

_lock = threading.Lock()
_lists: OrderedDict[str, list[Any]] = OrderedDict()
_entries: OrderedDict[str, list[Any]] = OrderedDict()
_held = 0


def manifests(table: Any, snapshot: Any) -> list[Any]:
    """The manifest files of ``snapshot`` (its manifest list)."""
    path = snapshot.manifest_list
    with _lock:
        found = _lists.get(path)
        if found is not None:
            _lists.move_to_end(path)
            return found
    found = list(snapshot.manifests(table.io))
    with _lock:
        _lists[path] = found
        while len(_lists) > MAX_ENTRIES // 10:
            _lists.popitem(last=False)
    return found


def live_entries(table: Any, manifest: Any) -> list[Any]:
    """The entries of ``manifest`` that are not DELETED."""
    global _held
    path = manifest.manifest_path
    with _lock:
        found = _entries.get(path)
        if found is not None:
            _entries.move_to_end(path)
            return found
    found = list(manifest.fetch_manifest_entry(table.io, discard_deleted=True))
    with _lock:
        if path not in _entries:
            _entries[path] = found
            _held += len(found)
        while _held > MAX_ENTRIES and len(_entries) > 1:
            _, gone = _entries.popitem(last=False)
            _held -= len(gone)
    return found
