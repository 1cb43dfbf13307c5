"""Datasets of an instance: schema, keys, partitions, row count, freshness and a row preview."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from supplylake.aws.errors import AccessDeniedException
from supplylake.console.access import authorize, call
from supplylake.console.preview import (
    MAX_CONDITIONS,
    OPERATORS,
    FilterError,
    PreviewRequest,
    row_filter,
)
from supplylake.console.web import Console, Viewer, format_time
from supplylake.schema.asc import ASC_NAMESPACE, DEFAULT_NAMESPACE
from supplylake.service.blocking import blocking
from supplylake.service.context import RequestContext, Services
from supplylake.service.datasets import find_dataset

if TYPE_CHECKING:
    # Not at run time: pyiceberg takes seconds to import, and the API should not wait for it.
    from supplylake.lake import Lake


@dataclass(frozen=True)
class TableStats:
    rows: int
    last_commit: datetime | None
    snapshots: int


def table_stats(lake: Lake, instance_id: str, namespace: str, name: str) -> TableStats:
    """Row count and the time of the table's current snapshot (its last commit)."""
    table = lake.table(instance_id, namespace, name)
    snapshot = table.current_snapshot()
    last = (
        datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC) if snapshot is not None else None
    )
    return TableStats(lake.row_count(instance_id, namespace, name), last, len(table.snapshots()))


def cell(value: Any) -> str:
    """A preview or query value as text."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e15 else repr(value)
    return str(value)


async def _namespaces(services: Services, ctx: RequestContext, instance_id: str) -> list[str]:
    names = [ASC_NAMESPACE, DEFAULT_NAMESPACE]
    try:
        token = None
        while True:
            params: dict[str, Any] = {"instance_id": instance_id, "max_results": 100}
            if token:
                params["next_token"] = token
            out = await call(services, ctx, "ListDataLakeNamespaces", params)
            names += [ns["name"] for ns in out["namespaces"]]
            token = out.get("next_token")
            if not token:
                return names
    except AccessDeniedException:
        return names  # the key sees asc and default, which every instance has


async def _datasets(
    services: Services, ctx: RequestContext, instance_id: str, namespace: str
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token = None
    while True:
        params: dict[str, Any] = {"instance_id": instance_id, "namespace": namespace}
        params["max_results"] = 100
        if token:
            params["next_token"] = token
        out = await call(services, ctx, "ListDataLakeDatasets", params)
        found += out["datasets"]
        token = out.get("next_token")
        if not token:
            return found


def routes(console: Console) -> dict[str, Any]:
    services = console.services

    async def index(request: Request, viewer: Viewer) -> Response:
        iid = request.path_params["instance_id"]
        inst = await authorize(services, viewer.ctx, "ListDataLakeDatasets", iid)
        tables = set(await blocking(services.lake.list_tables, inst.instance_id))
        with_data: list[dict[str, Any]] = []
        empty: list[dict[str, Any]] = []
        for namespace in await _namespaces(services, viewer.ctx, iid):
            for ds in await _datasets(services, viewer.ctx, iid, namespace):
                if (namespace, ds["name"]) in tables:
                    stats = await blocking(
                        table_stats, services.lake, inst.instance_id, namespace, ds["name"]
                    )
                    with_data.append({**ds, "stats": stats})
                else:
                    empty.append(ds)
        return console.render(
            request,
            "datasets.html",
            {"inst": inst, "tab": "datasets", "with_data": with_data, "empty": empty},
            viewer,
        )

    async def detail(request: Request, viewer: Viewer) -> Response:
        iid = request.path_params["instance_id"]
        namespace, name = request.path_params["namespace"], request.path_params["name"]
        out = await call(
            services,
            viewer.ctx,
            "GetDataLakeDataset",
            {"instance_id": iid, "namespace": namespace, "name": name},
        )
        inst = await authorize(services, viewer.ctx, "GetDataLakeDataset", iid)
        schema = (await find_dataset(services, inst, namespace, name)).schema
        preview = PreviewRequest.from_query(request.query_params)
        exists = await blocking(services.lake.table_exists, inst.instance_id, namespace, name)
        stats = None
        columns: list[str] = []
        rows: list[list[str]] = []
        error = None
        if exists:
            stats = await blocking(table_stats, services.lake, inst.instance_id, namespace, name)
            try:
                where = row_filter(schema, preview.conditions)
                arrow = await blocking(
                    services.lake.scan,
                    inst.instance_id,
                    namespace,
                    name,
                    row_filter=where,
                    limit=preview.limit,
                )
                records = arrow.to_pylist()
                columns = [
                    f.name
                    for f in schema.fields
                    if preview.all_columns or any(r.get(f.name) is not None for r in records)
                ]
                rows = [[cell(r.get(c)) for c in columns] for r in records]
            except FilterError as exc:
                error = str(exc)
        slots = list(preview.conditions) + [None] * (MAX_CONDITIONS - len(preview.conditions))
        return console.render(
            request,
            "dataset.html",
            {
                "inst": inst,
                "tab": "datasets",
                "ds": out["dataset"],
                "fields": schema.fields,
                "primary_keys": schema.primary_keys,
                "exists": exists,
                "stats": stats,
                "columns": columns,
                "rows": rows,
                "preview": preview,
                "slots": slots,
                "operators": OPERATORS,
                "error": error,
                "hidden_columns": len(schema.fields) - len(columns) if exists else 0,
            },
            viewer,
        )

    return {"datasets": console.page(index), "dataset": console.page(detail)}
