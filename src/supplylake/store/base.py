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

from supplylake.schema.types import DatasetSchema, Operation


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
    state: str
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
    status: str
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
    status: str  # SUCCEEDED or FAILED
    message: str | None = None


@dataclass(frozen=True)
class DatasetRef:
    instance_id: str
    namespace: str
    name: str


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
        """Remove the namespaces, datasets, tags and events of an instance."""

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
        """Datasets that have events not yet applied."""

    @abc.abstractmethod
    def pending_events(self, ref: DatasetRef, limit: int) -> list[Event]:
        """The oldest events of a dataset not yet applied, with their data, in position order."""

    @abc.abstractmethod
    def complete_events(self, outcomes: list[Outcome], at: datetime) -> None:
        """Record the loader's outcome for events."""

    @abc.abstractmethod
    def purge_events(self, received_before: datetime, tokens_expired_before: datetime) -> int:
        """Delete finished events received before the cutoff and expired tokens."""

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
