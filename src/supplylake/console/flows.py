"""An instance's data integration flows, and one flow with its executions (live).

Executions carry more than the API answers (rows read, written and rejected), so the pages make
the API's access checks for the operations they stand for and read the store directly.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from supplylake.console.access import authorize
from supplylake.console.web import Console, Viewer, format_time
from supplylake.service.blocking import blocking
from supplylake.store.base import FlowExecution, Instance, Store, StoredFlow

#: Flows shown on the list page; an instance has few, the rest are counted.
FLOWS_SHOWN = 500
EXECUTIONS_PAGE = 50
_DATASET_ARN = re.compile(r"/namespaces/(?P<namespace>[^/]+)/datasets/(?P<name>[^/]+)$")


def endpoint_row(raw: dict[str, Any], kind_key: str) -> dict[str, Any]:
    """A source or target of a flow's definition, as the pages show it."""
    s3 = raw.get("s3_source") or raw.get("s3_target")
    dataset = raw.get("dataset_source") or raw.get("dataset_target")
    row: dict[str, Any] = {
        "type": raw.get(kind_key, ""),
        "name": raw.get("source_name", ""),
        "where": "",
        "arn": "",
        "options": [],
    }
    if s3:
        row["where"] = f"s3://{s3.get('bucket_name', '')}/{s3.get('prefix', '')}"
        file_type = (s3.get("options") or {}).get("file_type")
        row["options"].append(f"file type {file_type or 'by extension'}")
    if dataset:
        # The ARN is long; ``namespace.dataset`` is how the SQL page and the docs name it.
        row["arn"] = str(dataset.get("dataset_identifier", ""))
        found = _DATASET_ARN.search(row["arn"])
        row["where"] = f"{found['namespace']}.{found['name']}" if found else row["arn"]
        options = dataset.get("options") or {}
        if options.get("load_type"):
            row["options"].append(f"load type {options['load_type']}")
        if options.get("dedupe_records") is not None:
            row["options"].append(f"dedupe records {str(options['dedupe_records']).lower()}")
        fields = ((options.get("dedupe_strategy") or {}).get("field_priority") or {}).get("fields")
        if fields:
            order = ", ".join(f"{f.get('name')} {f.get('sort_order')}" for f in fields)
            row["options"].append(f"field priority: {order}")
    return row


def flow_view(flow: StoredFlow) -> dict[str, Any]:
    """A flow's sources, transformation and target from its stored definition."""
    d = flow.definition
    transformation = d.get("transformation") or {}
    return {
        "name": flow.name,
        "sources": [endpoint_row(s, "source_type") for s in d.get("sources") or []],
        "transformation": transformation.get("transformation_type", ""),
        "query": (transformation.get("sql_transformation") or {}).get("query"),
        "target": endpoint_row(d.get("target") or {}, "target_type"),
        "created": format_time(flow.created_at),
        "updated": format_time(flow.updated_at),
    }


def source_info_text(info: dict[str, Any]) -> str:
    """What an execution ran on: ``s3://bucket/key`` or the source dataset."""
    s3 = info.get("s3_source")
    if s3:
        key = s3.get("key") or ""
        return f"s3://{s3.get('bucket_name', '')}/{key}" if key else "every file under the prefix"
    dataset = info.get("dataset_source")
    if dataset:
        return str(dataset.get("dataset_identifier", ""))
    return str(info.get("source_type", ""))


def execution_row(ex: FlowExecution) -> dict[str, Any]:
    """One execution as the flow page shows it (also the JSON its live updates read)."""
    # Queued executions are IN_PROGRESS on the wire; the console tells them from running ones.
    state = "QUEUED" if ex.status == "IN_PROGRESS" and not ex.started else ex.status.value
    return {
        "id": ex.execution_id,
        "status": ex.status.value,
        "state": state,
        "source": source_info_text(ex.source_info),
        "start": format_time(ex.start_time or ex.created_at),
        "end": format_time(ex.end_time) if ex.end_time else "",
        "rows_read": ex.rows_read,
        "rows_written": ex.rows_written,
        "rows_rejected": ex.rows_rejected,
        "message": ex.message or "",
        "diagnostics": ex.diagnostics_uri or "",
    }


def latest_executions(store: Store, flows: list[StoredFlow]) -> dict[str, FlowExecution]:
    """Each flow's newest execution, by flow name."""
    found: dict[str, FlowExecution] = {}
    for flow in flows:
        newest = store.list_flow_executions(flow.instance_id, flow.name, None, 1)
        if newest:
            found[flow.name] = newest[0]
    return found


def routes(console: Console) -> dict[str, Any]:
    """The flow pages' endpoints by route name."""
    services = console.services
    store = services.store

    async def listing(request: Request, viewer: Viewer) -> Response:
        iid = request.path_params["instance_id"]
        inst = await authorize(services, viewer.ctx, "ListDataIntegrationFlows", iid)
        flows = await blocking(store.list_flows, inst.instance_id, None, FLOWS_SHOWN + 1)
        shown = flows[:FLOWS_SHOWN]
        latest = await blocking(latest_executions, store, shown)
        return console.render(
            request,
            "flows.html",
            {
                "inst": inst,
                "tab": "flows",
                "flows": [
                    {
                        **flow_view(f),
                        "last": execution_row(latest[f.name]) if f.name in latest else None,
                    }
                    for f in shown
                ],
                "more": len(flows) > FLOWS_SHOWN,
            },
            viewer,
        )

    async def _executions(
        request: Request, viewer: Viewer
    ) -> tuple[Instance, StoredFlow | None, list[FlowExecution], int | None]:
        iid, name = request.path_params["instance_id"], request.path_params["name"]
        inst = await authorize(services, viewer.ctx, "GetDataIntegrationFlow", iid)
        await authorize(services, viewer.ctx, "ListDataIntegrationFlowExecutions", iid)
        flow = await blocking(store.get_flow, inst.instance_id, name)
        raw_before = request.query_params.get("before", "")
        before = int(raw_before) if raw_before.isdigit() else None
        found = await blocking(
            store.list_flow_executions, inst.instance_id, name, before, EXECUTIONS_PAGE + 1
        )
        older = found[EXECUTIONS_PAGE - 1].seq if len(found) > EXECUTIONS_PAGE else None
        return inst, flow, found[:EXECUTIONS_PAGE], older

    async def detail(request: Request, viewer: Viewer) -> Response:
        inst, flow, executions, older = await _executions(request, viewer)
        name = request.path_params["name"]
        if flow is None:
            return console.error(
                request,
                viewer,
                404,
                "ResourceNotFoundException",
                f"Data integration flow {name} does not exist in instance {inst.instance_id}.",
            )
        live = "before" not in request.query_params
        return console.render(
            request,
            "flow.html",
            {
                "inst": inst,
                "tab": "flows",
                "flow": flow_view(flow),
                "rows": [execution_row(e) for e in executions],
                "older": older,
                "live": live,
            },
            viewer,
        )

    async def detail_json(request: Request, viewer: Viewer) -> Response:
        inst, flow, executions, _ = await _executions(request, viewer)
        if flow is None:
            name = request.path_params["name"]
            return JSONResponse(
                {
                    "code": "ResourceNotFoundException",
                    "message": f"Data integration flow {name} does not exist in instance "
                    f"{inst.instance_id}.",
                },
                404,
            )
        return JSONResponse({"executions": [execution_row(e) for e in executions]})

    return {
        "flows": console.page(listing),
        "flow": console.page(detail),
        "flow_json": console.json(detail_json),
    }
