"""The schema of the SQL backends, as numbered migrations that each run once, in order.

A migration is a template of ``;``-separated statements; ``{identity}``, ``{double}``,
``{blob}``, ``{key}`` and ``{integer}`` become the dialect's column types (see
:mod:`.dialect`). Append new migrations at the end; never edit one that has
shipped.
"""

from __future__ import annotations

from supplylake.store.sql.connection import Connection
from supplylake.store.sql.dialect import Dialect

MIGRATIONS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS sl_meta (name {key} PRIMARY KEY, value {blob} NOT NULL);
    CREATE TABLE IF NOT EXISTS sl_keys (
        access_key_id {key} PRIMARY KEY, secret_access_key TEXT NOT NULL, account_id {key} NOT NULL,
        is_root INTEGER NOT NULL, actions TEXT NOT NULL, instances TEXT NOT NULL,
        description TEXT NOT NULL, created_at {double} NOT NULL, revoked_at {double});
    CREATE TABLE IF NOT EXISTS sl_instances (
        instance_id {key} PRIMARY KEY, account_id {key} NOT NULL, region TEXT NOT NULL,
        state TEXT NOT NULL, name {key}, description TEXT, kms_key_arn TEXT,
        web_app_dns_domain TEXT, error_message TEXT, version {double} NOT NULL,
        created_at {double} NOT NULL, updated_at {double} NOT NULL,
        pending INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX IF NOT EXISTS sl_instances_account ON sl_instances (account_id, instance_id);
    CREATE TABLE IF NOT EXISTS sl_namespaces (
        instance_id {key} NOT NULL REFERENCES sl_instances (instance_id), name {key} NOT NULL,
        description TEXT, created_at {double} NOT NULL, updated_at {double} NOT NULL,
        PRIMARY KEY (instance_id, name));
    CREATE TABLE IF NOT EXISTS sl_datasets (
        instance_id {key} NOT NULL, namespace {key} NOT NULL, name {key} NOT NULL,
        description TEXT, schema TEXT NOT NULL, created_at {double} NOT NULL,
        updated_at {double} NOT NULL,
        PRIMARY KEY (instance_id, namespace, name),
        FOREIGN KEY (instance_id, namespace) REFERENCES sl_namespaces (instance_id, name));
    CREATE TABLE IF NOT EXISTS sl_tags (
        arn {key} NOT NULL, key {key} NOT NULL, value TEXT NOT NULL, PRIMARY KEY (arn, key));
    CREATE TABLE IF NOT EXISTS sl_events (
        position {identity}, event_id {key} NOT NULL UNIQUE,
        instance_id {key} NOT NULL, event_type {key} NOT NULL, event_group_id {key} NOT NULL,
        event_timestamp {double} NOT NULL, namespace {key} NOT NULL, dataset {key} NOT NULL,
        operation TEXT NOT NULL, data TEXT NOT NULL, status TEXT NOT NULL, message TEXT,
        received_at {double} NOT NULL, applied_at {double});
    CREATE INDEX IF NOT EXISTS sl_events_instance ON sl_events (instance_id, position);
    CREATE INDEX IF NOT EXISTS sl_events_type ON sl_events (instance_id, event_type, position);
    CREATE INDEX IF NOT EXISTS sl_events_pending ON sl_events (instance_id, namespace, dataset, position)
        WHERE status = 'IN_PROGRESS';
    CREATE INDEX IF NOT EXISTS sl_events_received ON sl_events (received_at);
    CREATE TABLE IF NOT EXISTS sl_tokens (
        scope {key} NOT NULL, token {key} NOT NULL, request_hash TEXT NOT NULL,
        result TEXT NOT NULL, expires_at {double} NOT NULL, PRIMARY KEY (scope, token));
    CREATE INDEX IF NOT EXISTS sl_tokens_expiry ON sl_tokens (expires_at);
    """,
    # 2: token buckets shared by the API processes (rate limits).
    """
    CREATE TABLE IF NOT EXISTS sl_buckets (
        name {key} PRIMARY KEY, level {double} NOT NULL, at {double} NOT NULL);
    """,
    # 3: event payloads in their own table, so the loader's status update never rewrites them.
    """
    CREATE TABLE IF NOT EXISTS sl_event_data (position {integer} PRIMARY KEY, data TEXT NOT NULL);
    INSERT INTO sl_event_data (position, data) SELECT position, data FROM sl_events;
    ALTER TABLE sl_events DROP COLUMN data;
    """,
    # 4: large payloads packed (LZ4, see store.codec); their data is then ''.
    """
    ALTER TABLE sl_event_data ADD COLUMN packed {blob};
    """,
    # 5: ListInstances answers in creation order, as AWS does.
    """
    CREATE INDEX IF NOT EXISTS sl_instances_created
        ON sl_instances (account_id, created_at, instance_id);
    """,
    # 6: data integration flows, their executions and the objects their watchers have seen.
    """
    CREATE TABLE IF NOT EXISTS sl_flows (
        instance_id {key} NOT NULL, name {key} NOT NULL, definition TEXT NOT NULL,
        request_hash TEXT NOT NULL, created_at {double} NOT NULL, updated_at {double} NOT NULL,
        PRIMARY KEY (instance_id, name));
    CREATE TABLE IF NOT EXISTS sl_flow_executions (
        seq {identity}, execution_id {key} NOT NULL UNIQUE, instance_id {key} NOT NULL,
        flow_name {key} NOT NULL, status TEXT NOT NULL, started INTEGER NOT NULL,
        source_info TEXT NOT NULL, trigger_info TEXT NOT NULL, message TEXT,
        created_at {double} NOT NULL, start_time {double}, end_time {double},
        rows_read {integer} NOT NULL DEFAULT 0, rows_written {integer} NOT NULL DEFAULT 0,
        rows_rejected {integer} NOT NULL DEFAULT 0, diagnostics_uri TEXT);
    CREATE INDEX IF NOT EXISTS sl_flow_executions_flow
        ON sl_flow_executions (instance_id, flow_name, seq);
    CREATE INDEX IF NOT EXISTS sl_flow_executions_open
        ON sl_flow_executions (instance_id, flow_name, seq) WHERE status = 'IN_PROGRESS';
    CREATE INDEX IF NOT EXISTS sl_flow_executions_ended ON sl_flow_executions (end_time);
    CREATE TABLE IF NOT EXISTS sl_flow_objects (
        instance_id {key} NOT NULL, flow_name {key} NOT NULL, key {key} NOT NULL,
        version TEXT NOT NULL, PRIMARY KEY (instance_id, flow_name, key));
    """,
    # 7: bill-of-materials import jobs; a job's client token is unique within its instance.
    """
    CREATE TABLE IF NOT EXISTS sl_bom_jobs (
        seq {identity}, job_id {key} NOT NULL UNIQUE, instance_id {key} NOT NULL,
        client_token {key} NOT NULL, request_hash TEXT NOT NULL, s3uri TEXT NOT NULL,
        status TEXT NOT NULL, message TEXT, created_at {double} NOT NULL,
        started_at {double}, finished_at {double});
    CREATE UNIQUE INDEX IF NOT EXISTS sl_bom_jobs_token ON sl_bom_jobs (instance_id, client_token);
    CREATE INDEX IF NOT EXISTS sl_bom_jobs_instance ON sl_bom_jobs (instance_id, seq);
    CREATE INDEX IF NOT EXISTS sl_bom_jobs_open ON sl_bom_jobs (instance_id, seq)
        WHERE status IN ('NEW', 'QUEUED', 'IN_PROGRESS');
    CREATE INDEX IF NOT EXISTS sl_bom_jobs_finished ON sl_bom_jobs (finished_at);
    """,
]


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer supplylake than this one."""


def migrate(conn: Connection, dialect: Dialect) -> int:
    """Bring the schema to the newest version; return it. ``conn`` must be in autocommit mode.

    The steps run in one transaction that first shuts out other migrating processes (SQLite's
    write lock, a PostgreSQL advisory lock), then reads the version again: of several servers
    starting together on one database, one migrates and the others find the work done.
    """
    newest = len(MIGRATIONS)
    if _current(conn) == newest:
        return newest
    for statement in dialect.begin_migration:
        conn.execute(statement)
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS sl_schema_version (version INTEGER NOT NULL)")
        current = _current(conn) or 0
        if current > newest:
            raise SchemaTooNew(
                f"the database schema is at version {current}, newer than this supplylake knows"
                f" ({newest}): upgrade supplylake"
            )
        for version in range(current + 1, newest + 1):
            for statement in dialect.render(MIGRATIONS[version - 1]).split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO sl_schema_version (version) VALUES (?)", (version,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return newest


def _current(conn: Connection) -> int | None:
    """The schema version, or None if it cannot be read without the migration lock."""
    try:
        row = conn.execute("SELECT max(version) FROM sl_schema_version").fetchone()
    except Exception:
        return None  # no version table yet
    return int(row[0] or 0) if row is not None else 0
