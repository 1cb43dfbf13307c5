"""Handlers read the store off the event loop; cached look-ups answer from a fresh copy."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import orjson

from supplylake.config import Settings
from supplylake.schema.asc import ASC_INTERNAL_FIELDS, asc_datasets
from supplylake.schema.types import FieldType
from supplylake.service.context import RequestContext, Services
from supplylake.service.limits import RateLimiter
from supplylake.service.lookup import active_instance, find_instance
from supplylake.store.base import Store

from .conftest import _no_lake, active_instance_id, call

#: Store calls that may run on the loop: they hand the work to another thread themselves.
_NON_BLOCKING = {"append_event_async", "changes"}


class ThreadRecorder:
    """A real store that notes which thread makes each call."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.calls: list[tuple[str, int]] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def recorded(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, threading.get_ident()))
            return attr(*args, **kwargs)

        return recorded


_SAMPLE = {
    FieldType.STRING: "x",
    FieldType.INT: 1,
    FieldType.LONG: 1,
    FieldType.DOUBLE: 1.5,
    FieldType.TIMESTAMP: "2024-01-02T03:04:05Z",
}


def _record(dataset: str) -> dict[str, Any]:
    """A record of an asc dataset holding its required and key fields."""
    schema = asc_datasets()[dataset]
    must = {f.name for f in schema.fields if f.required} | set(schema.primary_keys)
    return {
        f.name: _SAMPLE[f.type]
        for f in schema.fields
        if f.name in must and f.name not in ASC_INTERNAL_FIELDS
    }


def _recording(services: Services) -> tuple[Services, ThreadRecorder]:
    recorder = ThreadRecorder(services.store)
    svc = Services(
        Settings(data_dir=services.settings.data_dir, instance_transition_seconds=0.0),
        recorder,
        _no_lake,
        RateLimiter(1000.0, 1000),
    )  # type: ignore[arg-type]
    return svc, recorder


def test_no_handler_reads_the_store_on_the_event_loop(services, ctx):
    svc, recorder = _recording(services)
    loop_threads: set[int] = set()

    async def requests() -> None:
        loop_threads.add(threading.get_ident())
        iid = await active_instance_id(svc, ctx)
        sent = await call(
            svc,
            ctx,
            "SendDataIntegrationEvent",
            instance_id=iid,
            event_type="scn.data.inboundorder",
            event_group_id="g",
            data=orjson.dumps(_record("inbound_order")).decode(),
            client_token="token-1",
        )
        await call(svc, ctx, "GetDataIntegrationEvent", instance_id=iid, event_id=sent["event_id"])
        await call(svc, ctx, "ListDataIntegrationEvents", instance_id=iid, max_results=1)
        await call(svc, ctx, "ListInstances")
        await call(svc, ctx, "UpdateInstance", instance_id=iid, instance_description="d")
        await call(svc, ctx, "CreateDataLakeNamespace", instance_id=iid, name="mine")
        await call(svc, ctx, "GetDataLakeNamespace", instance_id=iid, name="mine")
        await call(svc, ctx, "ListDataLakeNamespaces", instance_id=iid)
        await call(svc, ctx, "UpdateDataLakeNamespace", instance_id=iid, name="mine")
        await call(svc, ctx, "ListDataLakeDatasets", instance_id=iid, namespace="mine")
        await call(svc, ctx, "ListDataLakeDatasets", instance_id=iid, namespace="asc")
        await call(
            svc, ctx, "GetDataLakeDataset", instance_id=iid, namespace="asc", name="inbound_order"
        )
        arn = (await call(svc, ctx, "GetDataLakeNamespace", instance_id=iid, name="mine"))[
            "namespace"
        ]["arn"]
        await call(svc, ctx, "TagResource", resource_arn=arn, tags={"k": "v"})
        await call(svc, ctx, "ListTagsForResource", resource_arn=arn)
        await call(svc, ctx, "UntagResource", resource_arn=arn, tag_keys=["k"])

    asyncio.run(requests())
    assert recorder.calls, "the recorder saw no store call"
    on_loop = [
        name
        for name, thread in recorder.calls
        if thread in loop_threads and name not in _NON_BLOCKING
    ]
    assert on_loop == []


def test_a_fresh_cached_instance_is_answered_without_the_store(services, ctx):
    svc, recorder = _recording(services)

    async def look() -> None:
        iid = await active_instance_id(svc, ctx)
        await active_instance(svc, ctx, iid, cached=True)
        recorder.calls.clear()
        inst = await find_instance(svc, ctx, iid, cached=True)
        assert inst.instance_id == iid
        assert recorder.calls == []
        # Uncached, the same look-up goes to the store.
        await find_instance(svc, ctx, iid)
        assert [name for name, _ in recorder.calls] == ["get_instance"]

    asyncio.run(look())


def test_another_accounts_instance_is_reported_missing(services, ctx):
    other = RequestContext("210987654321", "SLAKOTHER", "us-east-1", "request-2")

    async def look() -> str:
        iid = await active_instance_id(services, ctx)
        try:
            await find_instance(services, other, iid)
        except Exception as exc:
            return type(exc).__name__
        return "found"

    assert asyncio.run(look()) == "ResourceNotFoundException"
