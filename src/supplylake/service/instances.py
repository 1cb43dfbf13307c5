"""Instances: created and deleted asynchronously, as in AWS (Initializing → Active, Deleting → Deleted)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from datetime import timedelta
from typing import Any

import orjson

from supplylake.aws.errors import ConflictException
from supplylake.schema.asc import ASC_NAMESPACE, DEFAULT_NAMESPACE
from supplylake.service.core import (
    RequestContext,
    Services,
    blocking,
    find_instance,
    instance_arn,
    now,
)
from supplylake.service.paging import decode_token, encode_token
from supplylake.store.base import AlreadyExists, IdempotencyKey, Instance, Namespace, TokenConflict

log = logging.getLogger(__name__)

INITIALIZING, ACTIVE, DELETING, DELETED = "Initializing", "Active", "Deleting", "Deleted"
_DEFAULT_PAGE = 20


def instance_to_api(inst: Instance) -> dict[str, Any]:
    return {
        "instance_id": inst.instance_id,
        "aws_account_id": inst.account_id,
        "state": inst.state,
        "error_message": inst.error_message,
        "web_app_dns_domain": inst.web_app_dns_domain,
        "created_time": inst.created_at,
        "last_modified_time": inst.updated_at,
        "instance_name": inst.name,
        "instance_description": inst.description,
        "kms_key_arn": inst.kms_key_arn,
        "version_number": inst.version,
    }


def request_hash(params: dict[str, Any], exclude: tuple[str, ...] = ("client_token",)) -> str:
    """A stable digest of a request, to tell a retry from a different request with one token."""
    body = {k: v for k, v in params.items() if k not in exclude}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


async def create_instance(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    at = now()
    inst = Instance(
        instance_id=str(uuid.uuid4()),
        account_id=ctx.account_id,
        region=ctx.region,
        state=INITIALIZING,
        created_at=at,
        updated_at=at,
        name=params.get("instance_name"),
        description=params.get("instance_description"),
        kms_key_arn=params.get("kms_key_arn"),
        web_app_dns_domain=params.get("web_app_dns_domain"),
    )
    idem = None
    if params.get("client_token"):
        idem = IdempotencyKey(
            scope=f"{ctx.account_id}:CreateInstance",
            token=params["client_token"],
            request_hash=request_hash(params),
            expires_at=at + timedelta(hours=svc.settings.token_ttl_hours),
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
    return {"instance": instance_to_api(find_instance(svc, ctx, params["instance_id"]))}


async def list_instances(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    names = sorted(params.get("instance_name_filter") or [])
    states = sorted(params.get("instance_state_filter") or [])
    limit = params.get("max_results") or _DEFAULT_PAGE
    scope = f"ListInstances:{ctx.account_id}:{names}:{states}"
    secret = svc.store.secret("page-token")
    after = None
    if params.get("next_token"):
        after = str(decode_token(secret, scope, params["next_token"]))
    items = svc.store.list_instances(ctx.account_id, after, limit + 1, names, states)
    # A key limited to some instances sees only those (a page may then hold fewer).
    visible = [i for i in items[:limit] if ctx.grant.allows_instance(i.instance_id)]
    out: dict[str, Any] = {"instances": [instance_to_api(i) for i in visible]}
    if len(items) > limit:
        out["next_token"] = encode_token(secret, scope, items[limit - 1].instance_id)
    return out


async def update_instance(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = find_instance(svc, ctx, params["instance_id"])
    if inst.state in (DELETING, DELETED):
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
    inst = find_instance(svc, ctx, params["instance_id"])
    if inst.state in (DELETING, DELETED):
        return {"instance": instance_to_api(inst)}
    if inst.state == INITIALIZING:
        raise ConflictException(
            f"Instance {inst.instance_id} is still Initializing: delete it once it is Active."
        )
    deleting = await blocking(svc.store.update_instance, inst.instance_id, now(), state=DELETING)
    svc.spawn(_finish_delete(svc, deleting))
    return {"instance": instance_to_api(deleting)}


# -- the asynchronous half ----------------------------------------------------------------
async def _finish_create(svc: Services, inst: Instance) -> None:
    await asyncio.sleep(svc.settings.instance_transition_seconds)
    try:
        await blocking(_provision, svc, inst)
        await blocking(svc.store.update_instance, inst.instance_id, now(), state=ACTIVE)
    except Exception as exc:
        log.exception("instance %s failed to initialize", inst.instance_id)
        await blocking(
            svc.store.update_instance,
            inst.instance_id,
            now(),
            state="CreateFailed",
            error_message=f"Initialization failed: {exc}",
        )


def _provision(svc: Services, inst: Instance) -> None:
    at = now()
    for name in (ASC_NAMESPACE, DEFAULT_NAMESPACE):
        if svc.store.get_namespace(inst.instance_id, name) is None:
            arn = (
                f"{instance_arn(inst.region, inst.account_id, inst.instance_id)}/namespaces/{name}"
            )
            # Another API process resuming the same creation may have made it first.
            with contextlib.suppress(AlreadyExists):
                svc.store.create_namespace(Namespace(inst.instance_id, name, at, at), {}, arn)


async def _finish_delete(svc: Services, inst: Instance) -> None:
    await asyncio.sleep(svc.settings.instance_transition_seconds)
    try:
        await blocking(svc.lake.drop_instance, inst.instance_id)
        arn = instance_arn(inst.region, inst.account_id, inst.instance_id)
        await blocking(svc.store.purge_instance, inst.instance_id, arn)
        await blocking(svc.store.update_instance, inst.instance_id, now(), state=DELETED)
        svc.limiter.forget(inst.instance_id)
    except Exception as exc:
        log.exception("instance %s failed to delete", inst.instance_id)
        await blocking(
            svc.store.update_instance,
            inst.instance_id,
            now(),
            state="DeleteFailed",
            error_message=f"Deletion failed: {exc}",
        )


def resume_transitions(svc: Services) -> None:
    """Finish creations and deletions that a stop interrupted."""
    for inst in svc.store.list_instances_in_state([INITIALIZING, DELETING]):
        svc.spawn(
            _finish_create(svc, inst) if inst.state == INITIALIZING else _finish_delete(svc, inst)
        )
