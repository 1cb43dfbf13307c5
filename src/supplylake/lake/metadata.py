"""The SQL catalog of the lake: metadata parsed once per file, commits through the write gate.

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
from typing import Any

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import CommitTableResponse, Table
from sqlalchemy import event

from supplylake.lake.lru import Lru
from supplylake.store.writegate import gate_for

#: Most metadata files kept parsed (a few tables per dataset being written, each a few hundred KB).
MAX_FILES = 64

#: Statements that take SQLite's write lock, and the connection's mark that it took the gate.
_WRITES = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER"})
_GATED = "supplylake_write_gate_holder"

_parsed: Lru[str, Any] = Lru(MAX_FILES)


def files_held() -> int:
    """How many parsed metadata files are kept."""
    return len(_parsed)


def forget_all() -> None:
    """Drop every parsed metadata file (tests, and memory measurements)."""
    _parsed.clear()


class RememberingSqlCatalog(SqlCatalog):
    """pyiceberg's SqlCatalog, parsing each metadata file at most once per process.

    On SQLite, every write of the catalog also takes the database's write gate (see
    `supplylake.store.writegate`), which the store's writers take too: a commit waits its turn
    instead of sleeping in SQLite's busy handler while the API commits events back to back.
    """

    def __init__(self, name: str, **properties: str) -> None:
        super().__init__(name, **properties)
        url = self.engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            self._gate = gate_for(url.database)
            event.listen(self.engine, "before_cursor_execute", self._gate_writes)
            event.listen(self.engine, "checkin", self._open_gate)
            event.listen(self.engine, "invalidate", self._open_gate)

    def _gate_writes(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # pysqlite begins the transaction at the first write, which takes SQLite's write lock:
        # the gate is taken just before, and held until the connection goes back to the pool
        # (right after its commit or rollback), not while pyiceberg prepares the commit.
        verb = statement.lstrip()[:8].split(None, 1)
        if verb and verb[0].upper() in _WRITES and not self._gate.held:
            self._gate.acquire()
            conn.info[_GATED] = threading.get_ident()

    def _open_gate(self, _dbapi_conn: Any, record: Any, *_args: Any) -> None:
        holder = record.info.pop(_GATED, None) if record is not None else None
        if holder is not None:
            self._gate.release(holder)

    def _convert_orm_to_iceberg(self, orm_table: Any) -> Table:
        location = orm_table.metadata_location
        metadata = _parsed.get(location) if location else None
        if metadata is None:
            # Missing properties raise as pyiceberg does; the file is read and parsed once here.
            table: Table = super()._convert_orm_to_iceberg(orm_table)
            _parsed.put(table.metadata_location, table.metadata)
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
        _parsed.put(response.metadata_location, response.metadata)
        return response
