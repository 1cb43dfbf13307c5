"""Data integration flows and their executions: the seven operations of the API.

A flow is checked here and kept by the store; the loader runs it (``supplylake.flows``, the
loader's flow job). An update takes effect at the flow's next execution: the loader reads the
definition when it starts one. Deleting a flow stops its queued executions; one already
running finishes and keeps its record until the executions are expired.
"""

from __future__ import annotations

import logging
from typing import Any

from supplylake.aws.errors import ConflictException, ResourceNotFoundException
from supplylake.flows.buckets import bucket_name, buckets_for
from supplylake.flows.definition import (
    UPDATABLE,
    DatasetRef,
    FlowDefinition,
    build_flow,
    dataset_sources,
    merge_update,
)
from supplylake.flows.errors import FlowError
from supplylake.flows.rules import check_flow
from supplylake.schema.types import DatasetSchema
from supplylake.service.arns import flow_arn
from supplylake.service.blocking import blocking
from supplylake.service.clock import now
from supplylake.service.context import RequestContext, Services
from supplylake.service.datasets import lookup_dataset
from supplylake.service.idempotency import request_hash
from supplylake.service.lookup import active_instance
from supplylake.service.paging import page_request
from supplylake.store.base import FlowExecution, Instance, StoredFlow

log = logging.getLogger(__name__)


def flow_to_api(flow: StoredFlow) -> dict[str, Any]:
    """A flow as Get and Update answer it: exactly the members it was given, and its times."""
    return {
        **flow.definition,
        "created_time": flow.created_at,
        "last_modified_time": flow.updated_at,
    }


def execution_to_api(ex: FlowExecution) -> dict[str, Any]:
    """An execution as the API answers it; a queued one shows when it was queued as its start."""
    out: dict[str, Any] = {
        "instance_id": ex.instance_id,
        "flow_name": ex.flow_name,
        "execution_id": ex.execution_id,
        "status": ex.status.value,
        "source_info": _source_info(ex.source_info),
        "message": ex.message,
        "start_time": ex.start_time or ex.created_at,
        "end_time": ex.end_time,
    }
    if ex.diagnostics_uri is not None:
        out["output_metadata"] = {"diagnostic_reports_root_s3_uri": ex.diagnostics_uri}
    return out


def _no_flow(inst: Instance, name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(
        f"Data integration flow {name} does not exist in instance {inst.instance_id}."
    )


def _source_info(stored: dict[str, Any]) -> dict[str, Any]:
    """The wire's ``sourceInfo`` members of what the loader recorded (nothing else it may keep)."""
    out: dict[str, Any] = {"source_type": stored.get("source_type", "S3")}
    s3 = stored.get("s3_source")
    if s3:
        out["s3_source"] = {"bucket_name": s3.get("bucket_name", ""), "key": s3.get("key", "")}
    dataset = stored.get("dataset_source")
    if dataset:
        out["dataset_source"] = {"dataset_identifier": dataset.get("dataset_identifier", "")}
    return out


async def find_flow(svc: Services, inst: Instance, name: str) -> StoredFlow:
    flow = await blocking(svc.store.get_flow, inst.instance_id, name)
    if flow is None:
        raise _no_flow(inst, name)
    return flow


async def _checked(svc: Services, inst: Instance, flow: FlowDefinition) -> None:
    """Check the rules that need the instance's datasets and its other flows."""
    refs = [endpoint.ref for _, endpoint in dataset_sources(flow)]
    if flow.target.dataset is not None:
        refs.append(flow.target.dataset.ref)
    schemas: dict[DatasetRef, DatasetSchema] = {}
    for ref in dict.fromkeys(refs):
        # A dataset ARN of another region or account names nothing of this instance.
        if (ref.region, ref.account_id) != (inst.region, inst.account_id):
            continue
        ds = await lookup_dataset(svc, inst, ref.namespace, ref.name)
        if ds is not None:
            schemas[ref] = ds.schema
    others = []
    for stored in await blocking(svc.store.all_flows, inst.instance_id):
        try:
            others.append(build_flow(stored.definition))
        except FlowError:  # kept by an older version with other rules: it still runs as is
            log.warning("flow %s of instance %s no longer builds", stored.name, inst.instance_id)
    check_flow(flow, schemas.get, others)


def _ensure_bucket(svc: Services, instance_id: str, flow: FlowDefinition | None = None) -> None:
    buckets = buckets_for(svc.settings)
    bucket = bucket_name(instance_id)
    buckets.ensure_bucket(bucket)
    # The source prefixes exist as soon as the flow does, ready for a plain `cp`.
    for source in flow.sources if flow is not None else ():
        if source.s3 is not None and source.s3.bucket_name == bucket:
            buckets.ensure_prefix(bucket, source.s3.key_prefix)


async def create_data_integration_flow(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await active_instance(svc, ctx, params["instance_id"])
    name: str = params["name"]
    answer = {"instance_id": inst.instance_id, "name": name}
    digest = request_hash(params)
    existing = await blocking(svc.store.get_flow, inst.instance_id, name)
    if existing is None:
        flow = build_flow(params)
        await _checked(svc, inst, flow)
        # An instance made before flows existed gets its bucket with its first flow.
        await blocking(_ensure_bucket, svc, inst.instance_id, flow)
        stored, created = await blocking(
            svc.store.create_flow,
            inst.instance_id,
            name,
            flow.to_params(),
            digest,
            now(),
            tags=params.get("tags") or {},
            arn=flow_arn(inst, name),
        )
        if created:
            return answer
        existing = stored
    if existing.request_hash != digest:
        raise ConflictException(
            f"Data integration flow {name} already exists in instance {inst.instance_id} "
            "with a different request: update it, or delete it first."
        )
    return answer


async def get_data_integration_flow(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await active_instance(svc, ctx, params["instance_id"])
    return {"flow": flow_to_api(await find_flow(svc, inst, params["name"]))}


async def list_data_integration_flows(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await active_instance(svc, ctx, params["instance_id"])
    page = await page_request(svc, params, f"ListDataIntegrationFlows:{inst.instance_id}")
    flows = await blocking(svc.store.list_flows, inst.instance_id, page.after_name, page.limit + 1)
    return page.answer("flows", flows, flow_to_api, lambda f: f.name)


async def update_data_integration_flow(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await active_instance(svc, ctx, params["instance_id"])
    name: str = params["name"]
    current = await find_flow(svc, inst, name)
    if all(params.get(member) is None for member in UPDATABLE):
        return {"flow": flow_to_api(current)}  # nothing to replace
    flow = merge_update(build_flow(current.definition), params)
    await _checked(svc, inst, flow)
    updated = await blocking(svc.store.update_flow, inst.instance_id, name, flow.to_params(), now())
    if updated is None:  # deleted meanwhile
        raise _no_flow(inst, name)
    return {"flow": flow_to_api(updated)}


async def delete_data_integration_flow(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await active_instance(svc, ctx, params["instance_id"])
    name: str = params["name"]
    deleted = await blocking(
        svc.store.delete_flow, inst.instance_id, name, arn=flow_arn(inst, name)
    )
    if not deleted:
        raise _no_flow(inst, name)
    return {"instance_id": inst.instance_id, "name": name}


async def get_data_integration_flow_execution(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await active_instance(svc, ctx, params["instance_id"])
    flow = await find_flow(svc, inst, params["flow_name"])
    execution_id: str = params["execution_id"]
    ex = await blocking(svc.store.get_flow_execution, inst.instance_id, flow.name, execution_id)
    if ex is None:
        raise ResourceNotFoundException(
            f"Execution {execution_id} of data integration flow {flow.name} does not exist."
        )
    return {"flow_execution": execution_to_api(ex)}


async def list_data_integration_flow_executions(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await active_instance(svc, ctx, params["instance_id"])
    flow = await find_flow(svc, inst, params["flow_name"])
    scope = f"ListDataIntegrationFlowExecutions:{inst.instance_id}:{flow.name}"
    page = await page_request(svc, params, scope)
    before = page.cursor if isinstance(page.cursor, int) else None
    found = await blocking(
        svc.store.list_flow_executions, inst.instance_id, flow.name, before, page.limit + 1
    )
    return page.answer("flow_executions", found, execution_to_api, lambda e: e.seq)
