"""Table metadata parsed once per file: the SQL catalog that remembers what it read and wrote.

pyiceberg's SqlCatalog reads and parses a table's metadata file (JSON, every retained snapshot
with its summary) on every `load_table`, and once more inside every `commit_table` to check the
commit's requirements against the current state. With a few dozen snapshots retained, parsing is
most of the loader's time per commit that is not Parquet. A metadata file is never changed once
written (a commit writes a new file under a new name), and pyiceberg's metadata models are frozen,
so the parsed metadata is kept by file location, least recently used first out, and the metadata
a commit wrote is kept under its new location at once: the next load of the table parses nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import CommitTableResponse, Table

#: Most metadata files kept parsed (a few tables per dataset being written, each a few hundred KB).
MAX_FILES = 64

_lock = threading.Lock()
_parsed: OrderedDict[str, Any] = OrderedDict()


def _recall(location: str) -> Any | None:
    with _lock:
        found = _parsed.get(location)
        if found is not None:
            _parsed.move_to_end(location)
        return found


def _remember(location: str, metadata: Any) -> None:
    with _lock:
        _parsed[location] = metadata
        _parsed.move_to_end(location)
        while len(_parsed) > MAX_FILES:
            _parsed.popitem(last=False)


def files_held() -> int:
    """How many parsed metadata files are kept."""
    with _lock:
        return len(_parsed)


def forget_all() -> None:
    """Drop every parsed metadata file (tests, and memory measurements)."""
    with _lock:
        _parsed.clear()


class RememberingSqlCatalog(SqlCatalog):
    """pyiceberg's SqlCatalog, parsing each metadata file at most once per process."""

    def _convert_orm_to_iceberg(self, orm_table: Any) -> Table:
        location = orm_table.metadata_location
        metadata = _recall(location) if location else None
        if metadata is None:
            # Missing properties raise as pyiceberg does; the file is read and parsed once here.
            table: Table = super()._convert_orm_to_iceberg(orm_table)
            _remember(table.metadata_location, table.metadata)
            return table
        return Table(
            identifier=(
                *Catalog.identifier_to_tuple(orm_table.table_namespace),
                orm_table.table_name,
            ),
            metadata=metadata,
            metadata_location=location,
            io=self._load_file_io(metadata.properties, location),
            catalog=self,
        )

    def commit_table(self, table: Table, requirements: Any, updates: Any) -> CommitTableResponse:
        response: CommitTableResponse = super().commit_table(table, requirements, updates)
        _remember(response.metadata_location, response.metadata)
        return response
