"""The Store contract in terms of the shared SQL; a backend supplies connections and transactions.

Every method is one function of a resource family's module (:mod:`.access`, :mod:`.instances`,
:mod:`.events`, ...) run on a reader connection, or queued as a job for the group committer.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from typing import Any, Generic, TypeVar

from supplylake.states import BomJobStatus, FlowExecutionStatus
from supplylake.store.base import (
    AccessKey,
    AppendResult,
    BomJob,
    Dataset,
    DatasetRef,
    Event,
    FlowExecution,
    IdempotencyKey,
    Instance,
    Namespace,
    NewEvent,
    Outcome,
    Store,
    StoredFlow,
)
from supplylake.store.groupcommit import Batched, GroupCommitter
from supplylake.store.sql import access, buckets, datasets, events, flows, instances, namespaces
from supplylake.store.sql import bom as sql_bom
from supplylake.store.sql import tags as sql_tags
from supplylake.store.sql.append import BatchedAppend, append_item, append_item_async
from supplylake.store.sql.connection import Connection

C = TypeVar("C", bound=Connection)
T = TypeVar("T")


class SqlStore(Store, Generic[C]):
    """A Store whose operations are the functions of :mod:`supplylake.store.sql` on ``C``.

    Reads run on a reader connection of the calling thread; writes are jobs for the backend's
    group committer, which runs many of them in one durable transaction.
    """

    @abc.abstractmethod
    def _read(self, fn: Callable[[C], T]) -> T:
        """Run ``fn(conn)`` on a connection that sees every committed write."""

    #: Set by the backend: its group committer, and the runner that writes the appends of a
    #: transaction together.
    _committer: GroupCommitter[C]
    _appends: BatchedAppend[C]

    def _submit(self, fn: Callable[[C], T]) -> Future[T]:
        """Queue ``fn(conn)`` to run in a write transaction; resolves after the commit."""
        return self._committer.submit(fn)

    def _write(self, fn: Callable[[C], T]) -> T:
        try:
            return self._submit(fn).result()
        finally:
            # After the commit (or failure): a cache that read before this saw the old rows.
            self.changes += 1

    # -- contract -------------------------------------------------------------------------
    def secret(self, name: str) -> bytes:
        found = self._read(lambda c: access.get_secret(c, name))
        return found if found is not None else self._write(lambda c: access.ensure_secret(c, name))

    def end_session(self, session_id: str, until: datetime) -> None:
        self._write(lambda c: access.end_session(c, session_id, until.timestamp()))

    def session_ended(self, session_id: str) -> bool:
        return self._read(lambda c: access.session_ended(c, session_id, time.time()))

    def put_key(self, key: AccessKey) -> None:
        self._write(lambda c: access.put_key(c, key))

    def get_key(self, access_key_id: str) -> AccessKey | None:
        return self._read(lambda c: access.get_key(c, access_key_id))

    def list_keys(self) -> list[AccessKey]:
        return self._read(access.list_keys)

    def revoke_key(self, access_key_id: str, at: datetime) -> bool:
        return self._write(lambda c: access.revoke_key(c, access_key_id, at))

    def create_instance(
        self, instance: Instance, tags: dict[str, str], arn: str, idem: IdempotencyKey | None
    ) -> Instance:
        return self._write(lambda c: instances.create_instance(c, instance, tags, arn, idem))

    def get_instance(self, instance_id: str) -> Instance | None:
        return self._read(lambda c: instances.get_instance(c, instance_id))

    def list_instances(
        self,
        account_id: str,
        after: tuple[datetime, str] | None,
        limit: int,
        names: list[str],
        states: list[str],
    ) -> list[Instance]:
        return self._read(
            lambda c: instances.list_instances(c, account_id, after, limit, names, states)
        )

    def list_instances_in_state(self, states: list[str]) -> list[Instance]:
        return self._read(lambda c: instances.list_instances_in_state(c, states))

    def update_instance(self, instance_id: str, at: datetime, **changes: object) -> Instance:
        return self._write(lambda c: instances.update_instance(c, instance_id, at, changes))

    def purge_instance(self, instance_id: str, arn_prefix: str) -> None:
        self._write(lambda c: instances.purge_instance(c, instance_id, arn_prefix))

    def create_namespace(self, ns: Namespace, tags: dict[str, str], arn: str) -> Namespace:
        return self._write(lambda c: namespaces.create_namespace(c, ns, tags, arn))

    def get_namespace(self, instance_id: str, name: str) -> Namespace | None:
        return self._read(lambda c: namespaces.get_namespace(c, instance_id, name))

    def list_namespaces(self, instance_id: str, after: str | None, limit: int) -> list[Namespace]:
        return self._read(lambda c: namespaces.list_namespaces(c, instance_id, after, limit))

    def update_namespace(
        self, instance_id: str, name: str, description: str | None, at: datetime
    ) -> Namespace:
        return self._write(
            lambda c: namespaces.update_namespace(c, instance_id, name, description, at)
        )

    def delete_namespace(self, instance_id: str, name: str, arn_prefix: str) -> None:
        self._write(lambda c: namespaces.delete_namespace(c, instance_id, name, arn_prefix))

    def create_dataset(self, ds: Dataset, tags: dict[str, str], arn: str) -> Dataset:
        return self._write(lambda c: datasets.create_dataset(c, ds, tags, arn))

    def get_dataset(self, instance_id: str, namespace: str, name: str) -> Dataset | None:
        return self._read(lambda c: datasets.get_dataset(c, instance_id, namespace, name))

    def list_datasets(
        self, instance_id: str, namespace: str, after: str | None, limit: int
    ) -> list[Dataset]:
        return self._read(lambda c: datasets.list_datasets(c, instance_id, namespace, after, limit))

    def update_dataset(
        self, instance_id: str, namespace: str, name: str, description: str | None, at: datetime
    ) -> Dataset:
        return self._write(
            lambda c: datasets.update_dataset(c, instance_id, namespace, name, description, at)
        )

    def delete_dataset(self, instance_id: str, namespace: str, name: str, arn: str) -> None:
        self._write(lambda c: datasets.delete_dataset(c, instance_id, namespace, name, arn))

    def get_tags(self, arn: str) -> dict[str, str]:
        return self._read(lambda c: sql_tags.get_tags(c, arn))

    def tag(self, arn: str, tags: dict[str, str], max_tags: int) -> None:
        self._write(lambda c: sql_tags.tag(c, arn, tags, max_tags))

    def untag(self, arn: str, keys: list[str]) -> None:
        self._write(lambda c: sql_tags.untag(c, arn, keys))

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
        return self._write(
            lambda c: flows.create_flow(
                c, instance_id, name, definition, request_hash, now, tags, arn
            )
        )

    def get_flow(self, instance_id: str, name: str) -> StoredFlow | None:
        return self._read(lambda c: flows.get_flow(c, instance_id, name))

    def list_flows(self, instance_id: str, after: str | None, limit: int) -> list[StoredFlow]:
        return self._read(lambda c: flows.list_flows(c, instance_id, after, limit))

    def all_flows(self, instance_id: str | None = None) -> list[StoredFlow]:
        return self._read(lambda c: flows.all_flows(c, instance_id))

    def update_flow(
        self, instance_id: str, name: str, definition: dict[str, Any], now: datetime
    ) -> StoredFlow | None:
        return self._write(lambda c: flows.update_flow(c, instance_id, name, definition, now))

    def delete_flow(self, instance_id: str, name: str, *, arn: str | None = None) -> bool:
        return self._write(lambda c: flows.delete_flow(c, instance_id, name, arn))

    def queue_flow_execution(
        self,
        instance_id: str,
        flow_name: str,
        execution_id: str,
        source_info: dict[str, Any],
        trigger: dict[str, Any],
        now: datetime,
    ) -> FlowExecution:
        return self._write(
            lambda c: flows.queue_flow_execution(
                c, instance_id, flow_name, execution_id, source_info, trigger, now
            )
        )

    def get_flow_execution(
        self, instance_id: str, flow_name: str, execution_id: str
    ) -> FlowExecution | None:
        return self._read(
            lambda c: flows.get_flow_execution(c, instance_id, flow_name, execution_id)
        )

    def list_flow_executions(
        self, instance_id: str, flow_name: str, before_seq: int | None, limit: int
    ) -> list[FlowExecution]:
        return self._read(
            lambda c: flows.list_flow_executions(c, instance_id, flow_name, before_seq, limit)
        )

    def next_flow_execution(self, instance_id: str, flow_name: str) -> FlowExecution | None:
        return self._read(lambda c: flows.next_flow_execution(c, instance_id, flow_name))

    def start_flow_execution(self, execution_id: str, now: datetime) -> None:
        self._write(lambda c: flows.start_flow_execution(c, execution_id, now))

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
        self._write(
            lambda c: flows.finish_flow_execution(
                c,
                execution_id,
                status,
                message,
                now,
                rows_read,
                rows_written,
                rows_rejected,
                diagnostics_uri,
            )
        )

    def flow_objects(self, instance_id: str, flow_name: str) -> dict[str, str]:
        return self._read(lambda c: flows.flow_objects(c, instance_id, flow_name))

    def set_flow_object(
        self, instance_id: str, flow_name: str, key: str, version: str | None
    ) -> None:
        self._write(lambda c: flows.set_flow_object(c, instance_id, flow_name, key, version))

    def expire_flow_executions(self, before: datetime) -> int:
        return self._write(lambda c: flows.expire_flow_executions(c, before))

    def append_event(
        self, event: NewEvent, idem: IdempotencyKey | None, max_pending: int
    ) -> Future[AppendResult]:
        return self._committer.submit(Batched(self._appends, append_item(event, idem, max_pending)))

    async def append_event_async(
        self, event: NewEvent, idem: IdempotencyKey | None, max_pending: int
    ) -> AppendResult:
        item = await append_item_async(event, idem, max_pending)
        return await self._committer.submit_async(Batched(self._appends, item))

    def get_event(self, instance_id: str, event_id: str, with_data: bool = False) -> Event | None:
        return self._read(lambda c: events.get_event(c, instance_id, event_id, with_data))

    def list_events(
        self, instance_id: str, event_type: str | None, before: int | None, limit: int
    ) -> list[Event]:
        return self._read(lambda c: events.list_events(c, instance_id, event_type, before, limit))

    def pending_datasets(self) -> list[DatasetRef]:
        return self._read(events.pending_datasets)

    def pending_events(self, ref: DatasetRef, limit: int) -> list[Event]:
        return self._read(lambda c: events.pending_events(c, ref, limit))

    def complete_events(self, outcomes: list[Outcome], at: datetime) -> None:
        self._write(lambda c: events.complete_events(c, outcomes, at))

    def purge_events(self, received_before: datetime, tokens_expired_before: datetime) -> int:
        return self._write(lambda c: events.purge_events(c, received_before, tokens_expired_before))

    def create_bom_job(
        self,
        instance_id: str,
        job_id: str,
        s3uri: str,
        client_token: str,
        request_hash: str,
        now: datetime,
    ) -> tuple[BomJob, bool]:
        return self._write(
            lambda c: sql_bom.create_bom_job(
                c, instance_id, job_id, s3uri, client_token, request_hash, now
            )
        )

    def get_bom_job(self, instance_id: str, job_id: str) -> BomJob | None:
        return self._read(lambda c: sql_bom.get_bom_job(c, instance_id, job_id))

    def list_bom_jobs(self, instance_id: str, before_seq: int | None, limit: int) -> list[BomJob]:
        return self._read(lambda c: sql_bom.list_bom_jobs(c, instance_id, before_seq, limit))

    def queue_bom_jobs(self) -> int:
        return self._write(sql_bom.queue_bom_jobs)

    def bom_job_instances(self) -> list[str]:
        return self._read(sql_bom.bom_job_instances)

    def next_bom_job(self, instance_id: str) -> BomJob | None:
        return self._read(lambda c: sql_bom.next_bom_job(c, instance_id))

    def start_bom_job(self, job_id: str, now: datetime) -> None:
        self._write(lambda c: sql_bom.start_bom_job(c, job_id, now))

    def finish_bom_job(
        self, job_id: str, status: BomJobStatus, message: str, now: datetime
    ) -> None:
        self._write(lambda c: sql_bom.finish_bom_job(c, job_id, status, message, now))

    def count_bom_jobs(self) -> dict[BomJobStatus, int]:
        return self._read(sql_bom.count_bom_jobs)

    def expire_bom_jobs(self, before: datetime) -> int:
        return self._write(lambda c: sql_bom.expire_bom_jobs(c, before))

    def take_tokens(
        self, bucket: str, wanted: int, rate: float, burst: float, at: float
    ) -> Future[int]:
        return self._submit(lambda c: buckets.take_tokens(c, bucket, wanted, rate, burst, at))
