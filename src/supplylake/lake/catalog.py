"""The lake's Iceberg catalog: pyiceberg's SqlCatalog in the service's own database.

On SQLite it shares the store's file, so every catalog connection waits on locks (busy
timeout) instead of failing, uses WAL like the store, and takes the store's write gate for its
writes (see `supplylake.store.writegate`): a commit waits its turn instead of sleeping in
SQLite's busy handler while the API commits events back to back.

pyiceberg's SqlCatalog reads and parses a table's metadata file (JSON, every retained snapshot
with its summary) on every `load_table`, and once more inside every `commit_table` to check the
commit's requirements against the current state. With a few dozen snapshots retained, parsing is
most of the loader's time per commit that is not Parquet. A metadata file is never changed once
written (a commit writes a new file under a new name), and pyiceberg's metadata models are frozen,
so the parsed metadata is kept by file location, least recently used first out, and the metadata
a commit wrote is kept under its new location at once: the next load of the table parses nothing.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from pyiceberg.catalog import Catalog
from pyiceberg.table import CommitTableResponse, Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.update import TableRequirement, TableUpdate
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from supplylake.lake._pyiceberg import HookedSqlCatalog
from supplylake.lake.lru import Lru
from supplylake.lake.paths import local_path
from supplylake.store.writegate import gate_for

#: Most metadata files kept parsed: about one per table a process commits to or reads.
MAX_FILES = 512

_BUSY_TIMEOUT_S = 30
_CREATE_ATTEMPTS = 5
#: Statements that take SQLite's write lock, and the connection's mark that it took the gate.
_WRITES = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER"})
_GATED = "supplylake_write_gate_holder"

_parsed: Lru[str, TableMetadata] = Lru(MAX_FILES)


def open_catalog(
    catalog_uri: str, warehouse: str, name: str, properties: dict[str, str]
) -> RememberingSqlCatalog:
    """The catalog at `catalog_uri` (SQLAlchemy URL) with tables under `warehouse`.

    `properties` are further catalog properties, e.g. pyiceberg's `s3.*` FileIO ones. A process
    racing another to create the catalog's tables tries again.
    """
    url = make_url(catalog_uri)
    sqlite = url.get_backend_name() == "sqlite"
    if sqlite and "timeout" not in url.query:
        # pysqlite's busy timeout, in force from the first connection (catalog table setup).
        url = url.update_query_dict({"timeout": str(_BUSY_TIMEOUT_S)})
    uri = url.render_as_string(hide_password=False)
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            catalog = RememberingSqlCatalog(
                name, uri=uri, warehouse=_warehouse_uri(warehouse), **properties
            )
            break
        except SQLAlchemyError as e:
            # Two processes opening a fresh database both create the catalog tables: one of them
            # finds the other's (SQLite: "already exists"; PostgreSQL: a duplicate type or table).
            if attempt == _CREATE_ATTEMPTS - 1 or not _lost_create_race(e):
                raise
            time.sleep(0.05 * (attempt + 1))
    if sqlite:
        event.listen(catalog.engine, "connect", _sqlite_pragmas)
        catalog.engine.dispose()  # reconnect pooled connections with the pragmas
    return catalog


def files_held() -> int:
    """How many parsed metadata files are kept."""
    return len(_parsed)


def forget_all() -> None:
    """Drop every parsed metadata file (tests, and memory measurements)."""
    _parsed.clear()


class RememberingSqlCatalog(HookedSqlCatalog):
    """pyiceberg's SqlCatalog, parsing each metadata file at most once per process, and taking
    the database's write gate for its writes on SQLite."""

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

    def table_from_row(
        self,
        namespace: str,
        name: str,
        metadata_location: str | None,
        parse: Callable[[], Table],
    ) -> Table:
        metadata = _parsed.get(metadata_location) if metadata_location else None
        if metadata is None or metadata_location is None:
            # Missing properties raise as pyiceberg does; the file is read and parsed once here.
            table = parse()
            _parsed.put(table.metadata_location, table.metadata)
            return table
        return Table(
            identifier=(*Catalog.identifier_to_tuple(namespace), name),
            metadata=metadata,
            metadata_location=metadata_location,
            io=self.file_io(metadata.properties, metadata_location),
            catalog=self,
        )

    def commit_table(
        self,
        table: Table,
        requirements: tuple[TableRequirement, ...],
        updates: tuple[TableUpdate, ...],
    ) -> CommitTableResponse:
        response = super().commit_table(table, requirements, updates)
        # The table's current metadata replaces the one it was committed on: a process keeps
        # about one parsed file per table, not one per commit.
        if table.metadata_location != response.metadata_location:
            _parsed.pop(table.metadata_location)
        _parsed.put(response.metadata_location, response.metadata)
        return response


class _GoneAlready(logging.Filter):
    """Drops pyiceberg's warning about an old metadata file it could not delete because another
    committer of the table (the loader beside maintenance) deleted it first: nothing is wrong."""

    _PREFIX = "Failed to delete metadata file "

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith(self._PREFIX):
            return True
        path = local_path(message[len(self._PREFIX) :])
        return path is None or os.path.exists(path)


logging.getLogger("pyiceberg.catalog").addFilter(_GoneAlready())


def _lost_create_race(e: SQLAlchemyError) -> bool:
    text = str(e).lower()
    return "already exists" in text or "duplicate" in text or "unique" in text


def _warehouse_uri(warehouse: str) -> str:
    if "://" in warehouse:
        return warehouse
    return "file://" + os.path.abspath(warehouse)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_S * 1000}")
        # WAL is a property of the file; the store sets it too. Setting it is a no-op once set.
        cursor.execute("PRAGMA journal_mode = WAL")
    finally:
        cursor.close()
