"""What differs between the SQL backends, kept to the schema and the transaction that migrates it.

The SQL of the operations is written once, in the dialect both engines agree on: ``?``
placeholders (PostgreSQL's connection turns them into ``%s``), ``ON CONFLICT ... DO UPDATE``,
``RETURNING`` and ``CASE`` instead of the two-argument ``max``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str
    #: The statements that open the transaction that migrates the schema, holding off every
    #: other process that might migrate at the same time.
    begin_migration: tuple[str, ...]
    #: Column types of the schema, by role.
    identity: str  # a 64-bit key assigned at insert, increasing, never reused
    double: str  # a float64 (timestamps as seconds since the epoch)
    blob: str
    key: str  # text compared and ordered byte by byte (identifiers, names, ARNs)
    integer: str  # a 64-bit integer (as a primary key on SQLite: the rowid itself)

    def render(self, ddl: str) -> str:
        """The schema template with this dialect's column types."""
        return ddl.format(
            identity=self.identity,
            double=self.double,
            blob=self.blob,
            key=self.key,
            integer=self.integer,
        )


SQLITE = Dialect(
    name="sqlite",
    begin_migration=("BEGIN IMMEDIATE",),
    identity="INTEGER PRIMARY KEY AUTOINCREMENT",
    double="REAL",
    blob="BLOB",
    key="TEXT",
    integer="INTEGER",
)

#: Two-key advisory locks of supplylake on PostgreSQL: (LOCK_CLASS, one of the keys below).
LOCK_CLASS = 0x534C4B45  # "SLKE"
LOCK_WRITES = 1
LOCK_MIGRATIONS = 2

POSTGRES = Dialect(
    name="postgresql",
    begin_migration=("BEGIN", f"SELECT pg_advisory_xact_lock({LOCK_CLASS}, {LOCK_MIGRATIONS})"),
    identity="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    double="DOUBLE PRECISION",
    blob="BYTEA",
    # The database's own collation may be a locale's; "C" orders as SQLite does, whatever the
    # database was created with, so pages come out the same on both backends.
    key='TEXT COLLATE "C"',
    integer="BIGINT",
)
