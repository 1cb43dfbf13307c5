"""One typed settings object. Every field can be set as ``SUPPLYLAKE_<FIELD>`` in the environment."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "SUPPLYLAKE_"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8642
    data_dir: Path = Path("supplylake-data")
    #: ``sqlite:///path`` or ``postgresql://user:pass@host:port/db``; empty means
    #: ``sqlite:///<data_dir>/supplylake.db``. The Iceberg catalog lives in the same database.
    database_url: str = ""
    #: A folder (shared by every process) or ``s3://bucket/prefix``; empty means
    #: ``<data_dir>/warehouse``. S3 endpoint, region and credentials come from the usual
    #: ``AWS_*`` variables (see ``supplylake.lake.settings.warehouse_properties``).
    warehouse: str = ""
    #: Where the instance buckets (``aws-supply-chain-data-<id>``) live: a folder, empty for
    #: ``<data_dir>/buckets``, or ``s3`` for real buckets of S3 or an S3-compatible store,
    #: reached through the same ``AWS_*`` variables as an S3 warehouse.
    buckets: str = ""
    access_key_id: str = field(default="", repr=False)
    secret_access_key: str = field(default="", repr=False)
    account_id: str = "000000000000"
    #: Region used in ARNs when a request carries none.
    region: str = "us-east-1"
    #: How long a clientToken stays active.
    token_ttl_hours: float = 8.0
    #: How long events stay queryable after they were received.
    event_retention_days: float = 30.0
    #: How long a finished bill-of-materials import job stays readable (GetBillOfMaterialsImportJob).
    bom_job_retention_days: float = 30.0
    #: How long a finished data integration flow execution stays readable.
    flow_execution_retention_days: float = 365.0
    #: Per-instance SendDataIntegrationEvent rate (token bucket): events per second and burst.
    event_rate: float = 5000.0
    event_burst: int = 10000
    #: Cap on the events of an instance that the loader has not applied yet.
    max_pending_events: int = 1_000_000
    #: Largest request body read; larger ones are refused from Content-Length, unread.
    max_body_bytes: int = 8 * 1024 * 1024
    #: Large bodies (256 KiB and up) handled at once, in bytes; more wait their turn unread.
    max_body_bytes_in_flight: int = 8 * 1024 * 1024
    #: A body that takes longer than this to arrive is refused with 408 (a slow client holds
    #: memory and a connection).
    body_timeout_seconds: float = 30.0
    #: How long the API uses its in-memory copy of an access key, instance or dataset: a key
    #: revoked or an instance changed by another process takes effect within this many seconds.
    cache_seconds: float = 1.0
    #: Seconds an instance spends in Initializing or Deleting (AWS does this asynchronously).
    instance_transition_seconds: float = 0.2
    #: API processes of ``serve``, each binding the port (``SO_REUSEPORT``), on SQLite or PostgreSQL.
    workers: int = 1
    #: Run the lake loader with ``serve`` (in a process of its own, started and stopped by it).
    loader: bool = True
    loader_batch_events: int = 1000
    #: A batch also stops at this much event data (JSON), so large events keep memory bounded.
    loader_batch_bytes: int = 64 * 1024 * 1024
    loader_max_wait_seconds: float = 0.2
    #: Compaction and snapshot expiry of a table run at most this often (off the apply path).
    loader_maintain_seconds: float = 5.0
    #: Datasets a loader process applies at the same time (one thread each).
    loader_threads: int = 2
    #: Loader processes ``serve`` runs; 0: one per core, up to four (each has a GIL of its own).
    loader_processes: int = 0
    log_level: str = "info"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'supplylake.db').resolve()}"

    @property
    def resolved_warehouse(self) -> str:
        return self.warehouse or str((self.data_dir / "warehouse").resolve())

    def environment(self) -> dict[str, str]:
        """Every setting that differs from its default, as ``SUPPLYLAKE_*`` variables.

        How ``serve --workers`` hands the settings of its command line to its worker processes.
        """
        defaults = Settings()
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value != getattr(defaults, f.name):
                text = str(value).lower() if isinstance(value, bool) else str(value)
                out[ENV_PREFIX + f.name.upper()] = text
        return out

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``SUPPLYLAKE_*`` variables, then explicit overrides (None is skipped)."""
        env = dict(os.environ) if env is None else env
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _convert(name: str, annotation: Any, raw: str) -> Any:
    kind = str(annotation)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind == "Path":
            return Path(raw)
    except ValueError:
        raise ValueError(
            f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind}: fix or unset it"
        ) from None
    return raw
