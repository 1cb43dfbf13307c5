"""The durable store contract.

One abstract class and the domain records it takes and returns; one backend per package
(:mod:`.sqlite`, :mod:`.postgres`), picked by URL in :func:`supplylake.store.open_store`. Every
backend passes the same contract tests in ``tests/store/test_contract.py``.
"""

from __future__ import annotations

import abc
import asyncio
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from supplylake.schema.types import DatasetSchema, Operation
from supplylake.states import BomJobStatus, FlowExecutionStatus, InstanceState, LoadStatus


class StoreError(Exception):
    """Base class of the store's domain errors."""


class AlreadyExists(StoreError):
    pass


class NotFound(StoreError):
    pass


class TokenConflict(StoreError):
    """A client token was reused with a different request."""


class PendingQuotaExceeded(StoreError):
    """The instance has too many events not yet applied."""


class LeaseLost(StoreError):
    """A lease the caller took is no longer held: its session ended (connection lost)."""


class StoreUnavailable(Exception):
    """A write transaction failed as a whole (disk full, I/O error, lock held past the busy
    timeout, connection lost): none of its writes is acknowledged, and a retry may succeed.

    Not a :class:`StoreError`: it says nothing about the request, only about the store.
    """


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str
    account_id: str
    created_at: datetime
    is_root: bool = False
    actions: tuple[str, ...] = ("scn:*",)
    instances: tuple[str, ...] = ("*",)
    description: str = ""
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class Instance:
    instance_id: str
    account_id: str
    region: str
    state: InstanceState
    created_at: datetime
    updated_at: datetime
    name: str | None = None
    description: str | None = None
    kms_key_arn: str | None = None
    web_app_dns_domain: str | None = None
    error_message: str | None = None
    version: float = 1.0


@dataclass(frozen=True)
class Namespace:
    instance_id: str
    name: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None


@dataclass(frozen=True)
class Dataset:
    instance_id: str
    namespace: str
    name: str
    schema: DatasetSchema
    created_at: datetime
    updated_at: datetime
    description: str | None = None


@dataclass(frozen=True)
class NewEvent:
    """An event validated by the service, ready to be committed."""

    event_id: str
    instance_id: str
    event_type: str
    event_group_id: str
    event_timestamp: datetime
    namespace: str
    dataset: str
    operation: Operation
    data: str
    received_at: datetime


@dataclass(frozen=True)
class Event:
    position: int
    event_id: str
    instance_id: str
    event_type: str
    event_group_id: str
    event_timestamp: datetime
    namespace: str
    dataset: str
    operation: Operation
    status: LoadStatus
    received_at: datetime
    message: str | None = None
    applied_at: datetime | None = None
    data: str | None = None


@dataclass(frozen=True)
class IdempotencyKey:
    """Scope and token of a request that must complete only once while the token lives."""

    scope: str
    token: str
    request_hash: str
    expires_at: datetime


@dataclass(frozen=True)
class AppendResult:
    event_id: str
    position: int
    replayed: bool = False


@dataclass(frozen=True)
class Outcome:
    """How the loader finished an event."""

    position: int
    status: LoadStatus  # SUCCEEDED or FAILED
    message: str | None = None


@dataclass(frozen=True)
class DatasetRef:
    instance_id: str
    namespace: str
    name: str


@dataclass(frozen=True)
class StoredFlow:
    """A data integration flow as kept: its definition is ``FlowDefinition.to_params()``."""

    instance_id: str
    name: str
    definition: dict[str, Any]
    #: The hash of the CreateDataIntegrationFlow request that made it (a replay answers alike).
    request_hash: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class FlowExecution:
    """One run of a flow. Queued: IN_PROGRESS and not ``started``; finished: SUCCEEDED or FAILED."""

    instance_id: str
    flow_name: str
    execution_id: str
    #: The order of queueing, across every flow: a flow's executions run in this order.
    seq: int
    status: FlowExecutionStatus
    started: bool
    #: The wire's ``sourceInfo`` in snake_case: ``{"source_type": "S3", "s3_source":
    #: {"bucket_name", "key"}}`` or ``{"source_type": "DATASET", "dataset_source":
    #: {"dataset_identifier"}}``.
    source_info: dict[str, Any]
    #: What to run: ``{"kind": "object", "key", "version"}``, ``{"kind": "removed", "key"}``,
    #: ``{"kind": "datasets"}`` or ``{"kind": "manual", "key": str | None}``.
    trigger: dict[str, Any]
    message: str | None
    created_at: datetime
    start_time: datetime | None
    end_time: datetime | None
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    diagnostics_uri: str | None = None


@dataclass(frozen=True)
class BomJob:
    """A bill-of-materials import job: which file goes into the instance's ``product_bom``."""

    instance_id: str
    job_id: str
    #: The order of creation, across every instance: an instance's jobs run in this order.
    seq: int
    s3uri: str
    status: BomJobStatus
    created_at: datetime
    #: Why it failed, or that it succeeded; None until it is finished.
    message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class Leases(abc.ABC):
    """Exclusive, named leases held by one session of one process.

    A lease is held until its holder releases it or its session ends: the holder closes it, its
    process dies, or (PostgreSQL) its connection is lost. Never on a timer: a holder that is only
    slow or paused keeps its lease, so two holders never overlap. ``holds`` proves the lease still
    held right before acting on it; a lost session drops every lease it had, for good.
    """

    @abc.abstractmethod
    def try_acquire(self, name: str) -> bool:
        """Take the lease if no other session holds it; never waits. True if held now."""

    @abc.abstractmethod
    def release(self, name: str) -> None:
        """Give the lease up (nothing happens if it is not held)."""

    @abc.abstractmethod
    def holds(self, name: str) -> bool:
        """Whether this session still holds the lease, checked with the backend now."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release every lease and end the session."""


class EventWaiter(abc.ABC):
    """Wakes a loader when any process commits new events (LISTEN on PostgreSQL)."""

    @abc.abstractmethod
    def wait(self, timeout: float) -> bool:
        """Block until events may have been committed since the last call, at most ``timeout``
        seconds; True if woken (also when notifications could have been missed)."""

    @abc.abstractmethod
    def close(self) -> None: ...


class Store(abc.ABC):
    """Everything supplylake keeps outside the lake."""

    #: Bumped after every write through this object (never by appends or rate-limit takes), so
    #: that in-process caches can tell their copies of keys, instances and datasets are stale.
    changes: int = 0

    # -- life cycle -----------------------------------------------------------------------
    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def secret(self, name: str) -> bytes:
        """A random server secret (for signing page tokens), created on first use."""

    # -- console sessions -----------------------------------------------------------------
    @abc.abstractmethod
    def end_session(self, session_id: str, until: datetime) -> None:
        """Remember that a console session was signed out, until it would have expired."""

    @abc.abstractmethod
    def session_ended(self, session_id: str) -> bool:
        """Whether a console session was signed out (by any process, before any restart)."""

    # -- access keys ----------------------------------------------------------------------
    @abc.abstractmethod
    def put_key(self, key: AccessKey) -> None:
        """Insert the key, or replace the key with the same id."""

    @abc.abstractmethod
    def get_key(self, access_key_id: str) -> AccessKey | None: ...

    @abc.abstractmethod
    def list_keys(self) -> list[AccessKey]: ...

    @abc.abstractmethod
    def revoke_key(self, access_key_id: str, at: datetime) -> bool: ...

    # -- instances ------------------------------------------------------------------------
    @abc.abstractmethod
    def create_instance(
        self, instance: Instance, tags: dict[str, str], arn: str, idem: IdempotencyKey | None
    ) -> Instance:
        """Create the instance; with ``idem``, a replay answers the instance first created."""

    @abc.abstractmethod
    def get_instance(self, instance_id: str) -> Instance | None: ...

    @abc.abstractmethod
    def list_instances(
        self,
        account_id: str,
        after: tuple[datetime, str] | None,
        limit: int,
        names: list[str],
        states: list[str],
    ) -> list[Instance]:
        """Instances of an account in creation order (then id), after ``after``: the
        (created_at, instance_id) of the last instance of the previous page."""

    @abc.abstractmethod
    def list_instances_in_state(self, states: list[str]) -> list[Instance]: ...

    @abc.abstractmethod
    def update_instance(self, instance_id: str, at: datetime, **changes: object) -> Instance: ...

    @abc.abstractmethod
    def purge_instance(self, instance_id: str, arn_prefix: str) -> None:
        """Remove the namespaces, datasets, flows, tags and events of an instance."""

    # -- namespaces -----------------------------------------------------------------------
    @abc.abstractmethod
    def create_namespace(self, ns: Namespace, tags: dict[str, str], arn: str) -> Namespace: ...

    @abc.abstractmethod
    def get_namespace(self, instance_id: str, name: str) -> Namespace | None: ...

    @abc.abstractmethod
    def list_namespaces(
        self, instance_id: str, after: str | None, limit: int
    ) -> list[Namespace]: ...

    @abc.abstractmethod
    def update_namespace(
        self, instance_id: str, name: str, description: str | None, at: datetime
    ) -> Namespace: ...

    @abc.abstractmethod
    def delete_namespace(self, instance_id: str, name: str, arn_prefix: str) -> None:
        """Delete the namespace, its datasets and their tags."""

    # -- datasets -------------------------------------------------------------------------
    @abc.abstractmethod
    def create_dataset(self, ds: Dataset, tags: dict[str, str], arn: str) -> Dataset: ...

    @abc.abstractmethod
    def get_dataset(self, instance_id: str, namespace: str, name: str) -> Dataset | None: ...

    @abc.abstractmethod
    def list_datasets(
        self, instance_id: str, namespace: str, after: str | None, limit: int
    ) -> list[Dataset]: ...

    @abc.abstractmethod
    def update_dataset(
        self, instance_id: str, namespace: str, name: str, description: str | None, at: datetime
    ) -> Dataset: ...

    @abc.abstractmethod
    def delete_dataset(self, instance_id: str, namespace: str, name: str, arn: str) -> None: ...

    # -- tags -----------------------------------------------------------------------------
    @abc.abstractmethod
    def get_tags(self, arn: str) -> dict[str, str]: ...

    @abc.abstractmethod
    def tag(self, arn: str, tags: dict[str, str], max_tags: int) -> None:
        """Add or overwrite tags; raises StoreError when the total would pass ``max_tags``."""

    @abc.abstractmethod
    def untag(self, arn: str, keys: list[str]) -> None: ...

    # -- events ---------------------------------------------------------------------------
    @abc.abstractmethod
    def append_event(
        self, event: NewEvent, idem: IdempotencyKey | None, max_pending: int
    ) -> Future[AppendResult]:
        """Commit the event durably; the future resolves once it is on disk (group commit)."""

    async def append_event_async(
        self, event: NewEvent, idem: IdempotencyKey | None, max_pending: int
    ) -> AppendResult:
        """:meth:`append_event` for a caller on an event loop: returns once it is on disk."""
        return await asyncio.wrap_future(self.append_event(event, idem, max_pending))

    @abc.abstractmethod
    def get_event(
        self, instance_id: str, event_id: str, with_data: bool = False
    ) -> Event | None: ...

    @abc.abstractmethod
    def list_events(
        self, instance_id: str, event_type: str | None, before: int | None, limit: int
    ) -> list[Event]:
        """Events newest first, with positions below ``before``."""

    @abc.abstractmethod
    def pending_datasets(self) -> list[DatasetRef]:
        """Datasets that have events not yet applied, the one whose oldest such event was
        accepted first, first."""

    @abc.abstractmethod
    def pending_events(self, ref: DatasetRef, limit: int) -> list[Event]:
        """The oldest events of a dataset not yet applied, with their data, in position order."""

    @abc.abstractmethod
    def complete_events(self, outcomes: list[Outcome], at: datetime) -> None:
        """Record the loader's outcome for events."""

    @abc.abstractmethod
    def purge_events(self, received_before: datetime, tokens_expired_before: datetime) -> int:
        """Delete finished events received before the cutoff and expired tokens."""

    # -- data integration flows -----------------------------------------------------------
    @abc.abstractmethod
    def create_flow(
        self,
        instance_id: str,
        name: str,
        definition: dict[str, Any],
        request_hash: str,
        now: datetime,
        *,
        tags: dict[str, str] | None = None,
        arn: str | None = None,
    ) -> tuple[StoredFlow, bool]:
        """Create the flow; True if created, False with the flow already of that name (then
        nothing changes). With ``arn``, the flow's tags are ``tags`` (in the same transaction)."""

    @abc.abstractmethod
    def get_flow(self, instance_id: str, name: str) -> StoredFlow | None: ...

    @abc.abstractmethod
    def list_flows(self, instance_id: str, after: str | None, limit: int) -> list[StoredFlow]:
        """Flows of an instance by name, after the name ``after``."""

    @abc.abstractmethod
    def all_flows(self, instance_id: str | None = None) -> list[StoredFlow]:
        """Every flow of an instance (of every instance with None), by instance then name."""

    @abc.abstractmethod
    def update_flow(
        self, instance_id: str, name: str, definition: dict[str, Any], now: datetime
    ) -> StoredFlow | None:
        """Replace the flow's definition; None if there is no such flow."""

    @abc.abstractmethod
    def delete_flow(self, instance_id: str, name: str, *, arn: str | None = None) -> bool:
        """Delete the flow, its objects seen and its executions but one started and not
        finished (its loader finishes it), and with ``arn`` its tags; False if there was no
        such flow."""

    @abc.abstractmethod
    def queue_flow_execution(
        self,
        instance_id: str,
        flow_name: str,
        execution_id: str,
        source_info: dict[str, Any],
        trigger: dict[str, Any],
        now: datetime,
    ) -> FlowExecution:
        """Queue an execution. An ``object`` trigger records the object's version among the
        flow's objects seen, a ``removed`` one forgets the key, in the same transaction."""

    @abc.abstractmethod
    def get_flow_execution(
        self, instance_id: str, flow_name: str, execution_id: str
    ) -> FlowExecution | None: ...

    @abc.abstractmethod
    def list_flow_executions(
        self, instance_id: str, flow_name: str, before_seq: int | None, limit: int
    ) -> list[FlowExecution]:
        """A flow's executions newest first, with ``seq`` below ``before_seq``."""

    @abc.abstractmethod
    def next_flow_execution(self, instance_id: str, flow_name: str) -> FlowExecution | None:
        """The flow's oldest execution not finished (started or not)."""

    @abc.abstractmethod
    def start_flow_execution(self, execution_id: str, now: datetime) -> None:
        """Mark an execution started (a rerun keeps its first start time)."""

    @abc.abstractmethod
    def finish_flow_execution(
        self,
        execution_id: str,
        status: FlowExecutionStatus,
        message: str | None,
        now: datetime,
        rows_read: int = 0,
        rows_written: int = 0,
        rows_rejected: int = 0,
        diagnostics_uri: str | None = None,
    ) -> None:
        """Record how an execution ended (SUCCEEDED or FAILED)."""

    @abc.abstractmethod
    def flow_objects(self, instance_id: str, flow_name: str) -> dict[str, str]:
        """Key -> version of the objects the flow has queued executions for."""

    @abc.abstractmethod
    def set_flow_object(
        self, instance_id: str, flow_name: str, key: str, version: str | None
    ) -> None:
        """Record the version of an object seen; None forgets the key."""

    @abc.abstractmethod
    def expire_flow_executions(self, before: datetime) -> int:
        """Delete the executions that finished before ``before``; answers how many."""

    # -- bill-of-materials import jobs ------------------------------------------------------
    @abc.abstractmethod
    def create_bom_job(
        self,
        instance_id: str,
        job_id: str,
        s3uri: str,
        client_token: str,
        request_hash: str,
        now: datetime,
    ) -> tuple[BomJob, bool]:
        """Create a NEW job; True if created. A live job of the instance with the same
        ``client_token`` is answered instead (False), or TokenConflict if its request differs."""

    @abc.abstractmethod
    def get_bom_job(self, instance_id: str, job_id: str) -> BomJob | None: ...

    @abc.abstractmethod
    def list_bom_jobs(self, instance_id: str, before_seq: int | None, limit: int) -> list[BomJob]:
        """An instance's jobs newest first, with ``seq`` below ``before_seq``."""

    @abc.abstractmethod
    def queue_bom_jobs(self) -> int:
        """Move every NEW job to QUEUED (a loader has seen it); answers how many."""

    @abc.abstractmethod
    def bom_job_instances(self) -> list[str]:
        """The instances that have jobs not finished (queued or in progress), in id order."""

    @abc.abstractmethod
    def next_bom_job(self, instance_id: str) -> BomJob | None:
        """The instance's oldest job not finished (NEW, QUEUED or IN_PROGRESS)."""

    @abc.abstractmethod
    def start_bom_job(self, job_id: str, now: datetime) -> None:
        """Mark a job IN_PROGRESS (a rerun keeps its first start time)."""

    @abc.abstractmethod
    def finish_bom_job(
        self, job_id: str, status: BomJobStatus, message: str, now: datetime
    ) -> None:
        """Record how a job ended (SUCCESS or FAILED) and why."""

    @abc.abstractmethod
    def count_bom_jobs(self) -> dict[BomJobStatus, int]:
        """How many jobs are kept, by status (statuses without jobs left out)."""

    @abc.abstractmethod
    def expire_bom_jobs(self, before: datetime) -> int:
        """Delete the jobs that finished before ``before``; answers how many."""

    # -- coordination between processes --------------------------------------------------
    @abc.abstractmethod
    def open_leases(self, owner: str) -> Leases:
        """A new lease session (its own connection); ``owner`` names it to operators."""

    @abc.abstractmethod
    def open_event_waiter(self) -> EventWaiter:
        """A new waiter for events committed by any process."""

    @abc.abstractmethod
    def take_tokens(
        self, bucket: str, wanted: int, rate: float, burst: float, at: float
    ) -> Future[int]:
        """Take up to ``wanted`` whole tokens from a shared token bucket; resolves to how many.

        The bucket refills at ``rate`` tokens a second up to ``burst`` (a new one starts full);
        ``at`` is the caller's clock (seconds since the epoch), and a clock behind the bucket's
        last take refills nothing.
        """
