"""Instances: created and deleted asynchronously, as in AWS (Initializing → Active, Deleting → Deleted)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from supplylake.aws.errors import ConflictException, ValidationException
from supplylake.flows.buckets import bucket_name, buckets_for
from supplylake.schema.asc import ASC_NAMESPACE, DEFAULT_NAMESPACE
from supplylake.service.arns import instance_arn, namespace_arn
from supplylake.service.blocking import blocking
from supplylake.service.clock import now
from supplylake.service.context import RequestContext, Services
from supplylake.service.idempotency import idempotency_key
from supplylake.service.lookup import find_instance
from supplylake.service.paging import page_request
from supplylake.states import InstanceState
from supplylake.store.base import AlreadyExists, Instance, Namespace, TokenConflict

log = logging.getLogger(__name__)


def instance_to_api(inst: Instance) -> dict[str, Any]:
    """An instance as AWS answers it: a description (empty) and a key ARN, even if none was given."""
    return {
        "instance_id": inst.instance_id,
        "aws_account_id": inst.account_id,
        "state": inst.state,
        "error_message": inst.error_message,
        "web_app_dns_domain": inst.web_app_dns_domain,
        "created_time": inst.created_at,
        "last_modified_time": inst.updated_at,
        "instance_name": inst.name,
        "instance_description": inst.description or "",
        "kms_key_arn": inst.kms_key_arn or owned_key_arn(inst),
        "version_number": inst.version,
    }


def owned_key_arn(inst: Instance) -> str:
    """The key ARN an instance created without ``kmsKeyArn`` reports, as AWS reports its own key.

    supplylake encrypts nothing with KMS (protect the data folder with disk encryption): the ARN
    is a stable name, made from the instance id, for clients that expect one.
    """
    key_id = uuid.uuid5(uuid.NAMESPACE_URL, f"supplylake:instance-key:{inst.instance_id}")
    return f"arn:aws:kms:{inst.region}:{inst.account_id}:key/{key_id}"


async def create_instance(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    at = now()
    inst = Instance(
        instance_id=str(uuid.uuid4()),
        account_id=ctx.account_id,
        region=ctx.region,
        state=InstanceState.INITIALIZING,
        created_at=at,
        updated_at=at,
        name=params.get("instance_name"),
        description=params.get("instance_description"),
        kms_key_arn=params.get("kms_key_arn"),
        web_app_dns_domain=params.get("web_app_dns_domain"),
    )
    idem = idempotency_key(
        f"{ctx.account_id}:CreateInstance", params, at, svc.settings.token_ttl_hours
    )
    arn = instance_arn(inst.region, inst.account_id, inst.instance_id)
    try:
        created = await blocking(
            svc.store.create_instance, inst, params.get("tags") or {}, arn, idem
        )
    except TokenConflict:
        raise ConflictException(
            "The clientToken was already used with a different request; use a new clientToken."
        ) from None
    if created.instance_id == inst.instance_id:
        svc.spawn(_finish_create(svc, created))
    return {"instance": instance_to_api(created)}


async def get_instance(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    return {"instance": instance_to_api(await find_instance(svc, ctx, params["instance_id"]))}


async def list_instances(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    names = sorted(params.get("instance_name_filter") or [])
    states = sorted(params.get("instance_state_filter") or [])
    page = await page_request(svc, params, f"ListInstances:{ctx.account_id}:{names}:{states}")
    after = None if page.cursor is None else _instance_cursor(page.cursor)
    items = await blocking(
        svc.store.list_instances, ctx.account_id, after, page.limit + 1, names, states
    )
    return page.answer(
        "instances",
        items,
        instance_to_api,
        lambda i: [i.created_at.timestamp(), i.instance_id],
        # A key limited to some instances sees only those (a page may then hold fewer).
        shown=lambda i: ctx.grant.allows_instance(i.instance_id),
    )


def _instance_cursor(cursor: object) -> tuple[datetime, str]:
    """Where a ListInstances page ends: the creation time and id of its last instance."""
    match cursor:
        case [float() | int() as created, str() as instance_id]:
            return datetime.fromtimestamp(created, UTC), instance_id
    # A token of an earlier supplylake, which listed instances by id.
    raise ValidationException(
        "The nextToken is invalid: pass the nextToken of the previous page of the same request."
    )


async def update_instance(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await find_instance(svc, ctx, params["instance_id"])
    if inst.state in (InstanceState.DELETING, InstanceState.DELETED):
        raise ConflictException(f"Instance {inst.instance_id} is {inst.state} and cannot change.")
    changes = {}
    if "instance_name" in params:
        changes["name"] = params["instance_name"]
    if "instance_description" in params:
        changes["description"] = params["instance_description"]
    updated = await blocking(svc.store.update_instance, inst.instance_id, now(), **changes)
    return {"instance": instance_to_api(updated)}


async def delete_instance(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await find_instance(svc, ctx, params["instance_id"])
    if inst.state in (InstanceState.DELETING, InstanceState.DELETED):
        return {"instance": instance_to_api(inst)}
    if inst.state == InstanceState.INITIALIZING:
        raise ConflictException(
            f"Instance {inst.instance_id} is still Initializing: delete it once it is Active."
        )
    deleting = await blocking(
        svc.store.update_instance, inst.instance_id, now(), state=InstanceState.DELETING
    )
    svc.spawn(_finish_delete(svc, deleting))
    return {"instance": instance_to_api(deleting)}


# -- the asynchronous half ----------------------------------------------------------------
async def _finish_create(svc: Services, inst: Instance) -> None:
    await asyncio.sleep(svc.settings.instance_transition_seconds)
    try:
        await blocking(_provision, svc, inst)
        await blocking(
            svc.store.update_instance, inst.instance_id, now(), state=InstanceState.ACTIVE
        )
    except Exception as exc:
        log.exception("instance %s failed to initialize", inst.instance_id)
        await blocking(
            svc.store.update_instance,
            inst.instance_id,
            now(),
            state=InstanceState.CREATE_FAILED,
            error_message=f"Initialization failed: {exc}",
        )


def _provision(svc: Services, inst: Instance) -> None:
    """What an Active instance has: its predefined namespaces, and its bucket for flows' files."""
    at = now()
    buckets_for(svc.settings).ensure_bucket(bucket_name(inst.instance_id))
    for name in (ASC_NAMESPACE, DEFAULT_NAMESPACE):
        if svc.store.get_namespace(inst.instance_id, name) is None:
            # Another API process resuming the same creation may have made it first.
            with contextlib.suppress(AlreadyExists):
                svc.store.create_namespace(
                    Namespace(inst.instance_id, name, at, at), {}, namespace_arn(inst, name)
                )


async def _finish_delete(svc: Services, inst: Instance) -> None:
    # The instance's bucket is left as it is: its files are the user's (they were uploaded, not
    # made here), and with the instance's flows gone nothing reads it any more.
    await asyncio.sleep(svc.settings.instance_transition_seconds)
    try:
        await blocking(svc.lake.drop_instance, inst.instance_id)
        arn = instance_arn(inst.region, inst.account_id, inst.instance_id)
        await blocking(svc.store.purge_instance, inst.instance_id, arn)
        await blocking(
            svc.store.update_instance, inst.instance_id, now(), state=InstanceState.DELETED
        )
        svc.limiter.forget(inst.instance_id)
    except Exception as exc:
        log.exception("instance %s failed to delete", inst.instance_id)
        await blocking(
            svc.store.update_instance,
            inst.instance_id,
            now(),
            state=InstanceState.DELETE_FAILED,
            error_message=f"Deletion failed: {exc}",
        )


def resume_transitions(svc: Services) -> None:
    """Finish creations and deletions that a stop interrupted.

    It reads the store on the event loop, once, in the server's startup: before the server
    takes requests, so no request waits behind it.
    """
    for inst in svc.store.list_instances_in_state(
        [InstanceState.INITIALIZING, InstanceState.DELETING]
    ):
        svc.spawn(
            _finish_create(svc, inst)
            if inst.state == InstanceState.INITIALIZING
            else _finish_delete(svc, inst)
        )
