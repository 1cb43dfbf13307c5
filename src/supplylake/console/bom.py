"""The bill-of-materials import jobs of an instance, newest first, with their status and message."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from supplylake.console.access import authorize
from supplylake.console.web import Console, Viewer, format_time
from supplylake.service.blocking import blocking
from supplylake.store.base import BomJob

PAGE_SIZE = 50


def job_row(job: BomJob) -> dict[str, Any]:
    return {
        "id": job.job_id,
        "s3uri": job.s3uri,
        "status": job.status.value,
        "message": job.message or "",
        "created": format_time(job.created_at),
        "finished": format_time(job.finished_at) if job.finished_at else "",
    }


def routes(console: Console) -> dict[str, Any]:
    """The BOM jobs page's endpoint by route name."""
    services = console.services

    async def jobs(request: Request, viewer: Viewer) -> Response:
        iid = request.path_params["instance_id"]
        inst = await authorize(services, viewer.ctx, "GetBillOfMaterialsImportJob", iid)
        raw_before = request.query_params.get("before", "")
        before = int(raw_before) if raw_before.isdigit() else None
        found = await blocking(
            services.store.list_bom_jobs, inst.instance_id, before, PAGE_SIZE + 1
        )
        older = found[PAGE_SIZE - 1].seq if len(found) > PAGE_SIZE else None
        return console.render(
            request,
            "bom_jobs.html",
            {
                "inst": inst,
                "tab": "bom-jobs",
                "rows": [job_row(j) for j in found[:PAGE_SIZE]],
                "older": older,
                "paged": before is not None,
            },
            viewer,
        )

    return {"bom_jobs": console.page(jobs)}
