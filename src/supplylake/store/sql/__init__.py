"""The SQL both backends share: the schema, one module of statements per resource family, and
:class:`~supplylake.store.sql.store.SqlStore`, the contract in terms of them.

The statements are written once, in the dialect SQLite and PostgreSQL agree on (see
:mod:`.dialect`), against the typed :class:`~.connection.Connection`; a backend brings the
connections, the transactions and its own batched append.

A new resource family takes: a migration appended to :mod:`.migrations` (its tables), its
records and abstract methods in :mod:`supplylake.store.base`, a module here of functions taking
the connection first, and one line per method in :class:`~.store.SqlStore` (``_read`` for a
read, ``_write`` for a write). Both backends then have it; the contract tests say they agree.
"""
