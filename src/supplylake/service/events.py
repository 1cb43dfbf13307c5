"""Data-integration events: validated, committed durably (group commit), then loaded in order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from supplylake import metrics
from supplylake.aws.errors import (
    ConflictException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ThrottlingException,
    ValidationException,
)
from supplylake.schema.asc import ASC_NAMESPACE, asc_datasets, asc_event_types, internal_fields
from supplylake.schema.types import DatasetSchema, Operation
from supplylake.schema.validate import check_records
from supplylake.service.arns import dataset_arn, parse_arn
from supplylake.service.blocking import blocking
from supplylake.service.clock import now
from supplylake.service.context import RequestContext, Services
from supplylake.service.datasets import lookup_dataset
from supplylake.service.idempotency import idempotency_key
from supplylake.service.ids import time_ordered_uuid
from supplylake.service.lookup import active_instance
from supplylake.service.paging import page_request
from supplylake.store.base import (
    Event,
    Instance,
    NewEvent,
    NotFound,
    PendingQuotaExceeded,
    TokenConflict,
)

DATASET_EVENT = "scn.data.dataset"
#: Bodies larger than this are validated off the event loop, so small requests keep flowing.
_INLINE_VALIDATION_CHARS = 64 * 1024


async def _target(
    svc: Services, inst: Instance, params: dict[str, Any]
) -> tuple[str, str, DatasetSchema, Operation]:
    """The namespace, dataset, schema and operation an event writes to."""
    event_type = params["event_type"]
    target = params.get("dataset_target")
    if event_type != DATASET_EVENT:
        if target is not None:
            raise ValidationException(
                f"datasetTarget is only allowed with eventType {DATASET_EVENT}; "
                f"{event_type} always writes to its asc dataset."
            )
        name = asc_event_types()[event_type]
        return ASC_NAMESPACE, name, asc_datasets()[name], Operation.UPSERT
    if target is None:
        raise ValidationException(
            f"eventType {DATASET_EVENT} needs datasetTarget with datasetIdentifier and operationType."
        )
    arn = target["dataset_identifier"]
    parts = parse_arn(arn)
    if (
        parts.namespace is None
        or parts.dataset is None
        or parts.instance_id != inst.instance_id
        or parts.account_id != inst.account_id
        or parts.region != inst.region
    ):
        raise ResourceNotFoundException(
            f"datasetIdentifier {arn} does not name a dataset of instance {inst.instance_id}."
        )
    namespace, name = parts.namespace, parts.dataset
    ds = await lookup_dataset(svc, inst, namespace, name, cached=True)
    if ds is None:
        raise ResourceNotFoundException(f"Dataset {arn} does not exist.")
    op = Operation(target["operation_type"])
    if op is not Operation.APPEND and not ds.schema.primary_keys:
        raise ValidationException(
            f"{op.value} needs a dataset with primary keys, and {namespace}.{name} has none: "
            "use APPEND, or create the dataset with primaryKeys."
        )
    return namespace, name, ds.schema, op


_ACCEPTED: dict[tuple[str, str], Any] = {}


def _accepted(namespace: str, name: str) -> Any:
    """The accepted-events counter of a dataset, looked up once (``labels()`` is not free)."""
    counter = _ACCEPTED.get((namespace, name))
    if counter is None:
        if len(_ACCEPTED) >= 10_000:
            _ACCEPTED.clear()
        counter = _ACCEPTED[(namespace, name)] = metrics.EVENTS_ACCEPTED.labels(namespace, name)
    return counter


async def send_data_integration_event(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    received = now()
    inst = await active_instance(svc, ctx, params["instance_id"], cached=True)
    # Throttle before the costly validation, so overload cannot buy CPU.
    if not await svc.limiter.acquire(inst.instance_id):
        raise ThrottlingException(
            f"Rate exceeded for instance {inst.instance_id}: at most "
            f"{svc.settings.event_rate:g} events per second; retry with backoff."
        )
    namespace, name, schema, op = await _target(svc, inst, params)
    data: str = params["data"]
    internal = internal_fields(namespace)
    if len(data) > _INLINE_VALIDATION_CHARS:
        await blocking(check_records, data, schema, op, internal_fields=internal)
    else:
        check_records(data, schema, op, internal_fields=internal)
    event = NewEvent(
        event_id=time_ordered_uuid(),
        instance_id=inst.instance_id,
        event_type=params["event_type"],
        event_group_id=params["event_group_id"],
        event_timestamp=params.get("event_timestamp") or received,
        namespace=namespace,
        dataset=name,
        operation=op,
        data=data,
        received_at=received,
    )
    idem = idempotency_key(
        f"{ctx.account_id}:{inst.instance_id}:SendDataIntegrationEvent",
        params,
        received,
        svc.settings.token_ttl_hours,
    )
    try:
        result = await svc.store.append_event_async(event, idem, svc.settings.max_pending_events)
    except TokenConflict:
        raise ConflictException(
            "The clientToken was already used with a different request; use a new clientToken."
        ) from None
    except PendingQuotaExceeded:
        raise ServiceQuotaExceededException(
            f"Instance {inst.instance_id} has {svc.settings.max_pending_events} events not yet "
            "loaded into the data lake; retry once the loader has caught up."
        ) from None
    except NotFound:
        raise ResourceNotFoundException(f"Instance {inst.instance_id} does not exist.") from None
    if not result.replayed:
        _accepted(namespace, name).inc()
    return {"event_id": result.event_id}


def event_to_api(inst: Instance, ev: Event) -> dict[str, Any]:
    load: dict[str, Any] = {"status": ev.status}
    if ev.message:
        load["message"] = ev.message
    return {
        "instance_id": ev.instance_id,
        "event_id": ev.event_id,
        "event_type": ev.event_type,
        "event_group_id": ev.event_group_id,
        "event_timestamp": ev.event_timestamp,
        "dataset_target_details": {
            "dataset_identifier": dataset_arn(inst, ev.namespace, ev.dataset),
            "operation_type": ev.operation.value,
            "dataset_load_execution": load,
        },
    }


async def get_data_integration_event(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await active_instance(svc, ctx, params["instance_id"], cached=True)
    ev = await blocking(svc.store.get_event, inst.instance_id, params["event_id"])
    if ev is None:
        raise ResourceNotFoundException(
            f"Event {params['event_id']} does not exist in instance {inst.instance_id}."
        )
    return {"event": event_to_api(inst, ev)}


async def list_data_integration_events(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await active_instance(svc, ctx, params["instance_id"], cached=True)
    event_type = params.get("event_type")
    scope = f"ListDataIntegrationEvents:{inst.instance_id}:{event_type or ''}"
    page = await page_request(svc, params, scope)
    before = page.cursor
    if before is not None and not isinstance(before, int):
        raise ValidationException("The nextToken is invalid.")
    items = await blocking(
        svc.store.list_events, inst.instance_id, event_type, before, page.limit + 1
    )
    return page.answer("events", items, lambda e: event_to_api(inst, e), lambda e: e.position)


async def purge_expired(svc: Services) -> int:
    """Forget events past their retention and tokens past their lifetime."""
    at = now()
    return await blocking(
        svc.store.purge_events, at - timedelta(days=svc.settings.event_retention_days), at
    )
