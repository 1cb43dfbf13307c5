"""Bill-of-materials import jobs: a CSV of the instance's bucket, loaded into ``asc.product_bom``.

Create checks only what it can see at once (the instance, the URI, that the bucket is the
instance's) and records a NEW job; a loader process runs it (``loader.bom``). A missing or bad
file fails the job, not the request. The job keeps its request's client token, so an SDK's retry
answers the first job and starts nothing.
"""

from __future__ import annotations

from typing import Any

from supplylake import metrics
from supplylake.aws.errors import (
    AccessDeniedException,
    ConflictException,
    ResourceNotFoundException,
    ValidationException,
)
from supplylake.flows.buckets import bucket_name
from supplylake.service.blocking import blocking
from supplylake.service.clock import now
from supplylake.service.context import RequestContext, Services
from supplylake.service.idempotency import request_hash
from supplylake.service.ids import random_uuid
from supplylake.service.lookup import active_instance, find_instance
from supplylake.states import InstanceState
from supplylake.store.base import BomJob, TokenConflict


def job_to_api(job: BomJob) -> dict[str, Any]:
    out: dict[str, Any] = {
        "instance_id": job.instance_id,
        "job_id": job.job_id,
        "status": job.status.value,
        "s3uri": job.s3uri,
    }
    if job.message is not None:
        out["message"] = job.message
    return out


def parse_s3uri(s3uri: str) -> tuple[str, str]:
    """The bucket and key of ``s3://bucket/key`` (the model has checked its shape)."""
    rest = s3uri.split("://", 1)[1] if "://" in s3uri else s3uri
    bucket, _, key = rest.partition("/")
    return bucket, key


def _check_uri(s3uri: str, instance_id: str) -> None:
    bucket, key = parse_s3uri(s3uri)
    own = bucket_name(instance_id)
    if bucket != own:
        raise AccessDeniedException(
            f"s3uri {s3uri} is not in the instance's bucket: bill-of-materials files are read "
            f"from s3://{own}/ only; upload the file there."
        )
    parts = key.split("/")
    if key.endswith("/") or any(p in (".", "..") for p in parts) or not key.strip("/"):
        raise ValidationException(
            f"s3uri {s3uri} does not name a file: give the key of a CSV object, like "
            f"s3://{own}/<path>/file.csv."
        )


async def create_bill_of_materials_import_job(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await active_instance(svc, ctx, params["instance_id"])
    s3uri: str = params["s3uri"]
    _check_uri(s3uri, inst.instance_id)
    job_id = random_uuid()
    # Without a token (SDKs always send one) the job is its own token: never a replay.
    token = params.get("client_token") or job_id
    try:
        job, created = await blocking(
            svc.store.create_bom_job,
            inst.instance_id,
            job_id,
            s3uri,
            token,
            request_hash({"instance_id": inst.instance_id, "s3uri": s3uri}),
            now(),
        )
    except TokenConflict:
        raise ConflictException(
            "The clientToken was already used with a different request; use a new clientToken."
        ) from None
    if created:
        metrics.BOM_JOBS_CREATED.inc()
    return {"job_id": job.job_id}


async def get_bill_of_materials_import_job(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await find_instance(svc, ctx, params["instance_id"])
    if inst.state == InstanceState.DELETED:
        raise ResourceNotFoundException(f"Instance {inst.instance_id} does not exist.")
    job = await blocking(svc.store.get_bom_job, inst.instance_id, params["job_id"])
    if job is None:
        raise ResourceNotFoundException(
            f"Bill of materials import job {params['job_id']} does not exist in instance "
            f"{inst.instance_id}."
        )
    return {"job": job_to_api(job)}
