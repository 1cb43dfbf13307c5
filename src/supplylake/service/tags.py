"""Tags on instances, namespaces, datasets and data integration flows."""

from __future__ import annotations

from typing import Any

from supplylake.aws.errors import ResourceNotFoundException, ValidationException
from supplylake.service.arns import parse_arn
from supplylake.service.blocking import blocking
from supplylake.service.context import RequestContext, Services
from supplylake.service.datasets import find_dataset
from supplylake.service.lookup import find_instance, find_namespace
from supplylake.states import InstanceState
from supplylake.store.base import StoreError

MAX_TAGS = 200


async def _check_resource(svc: Services, ctx: RequestContext, arn: str) -> None:
    """The ARN must name an existing resource of the caller's account."""
    parts = parse_arn(arn)
    if parts.account_id != ctx.account_id:
        raise ResourceNotFoundException(f"Resource {arn} does not exist.")
    inst = await find_instance(svc, ctx, parts.instance_id)
    if inst.state == InstanceState.DELETED or parts.region != inst.region:
        raise ResourceNotFoundException(f"Resource {arn} does not exist.")
    if parts.flow:
        if await blocking(svc.store.get_flow, inst.instance_id, parts.flow) is None:
            raise ResourceNotFoundException(f"Resource {arn} does not exist.")
    elif parts.namespace and parts.dataset:
        await find_dataset(svc, inst, parts.namespace, parts.dataset)
    elif parts.namespace:
        await find_namespace(svc, inst, parts.namespace)


def _check_keys(keys: list[str]) -> None:
    for key in keys:
        if key.lower().startswith("aws:"):
            raise ValidationException(f"Tag key {key} uses the reserved prefix aws:.")


async def tag_resource(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    arn = params["resource_arn"]
    await _check_resource(svc, ctx, arn)
    tags: dict[str, str] = params["tags"]
    _check_keys(list(tags))
    try:
        await blocking(svc.store.tag, arn, tags, MAX_TAGS)
    except StoreError:
        raise ValidationException(f"A resource can have at most {MAX_TAGS} tags.") from None
    return {}


async def untag_resource(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    arn = params["resource_arn"]
    await _check_resource(svc, ctx, arn)
    keys: list[str] = params["tag_keys"]
    _check_keys(keys)
    await blocking(svc.store.untag, arn, keys)
    return {}


async def list_tags_for_resource(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    arn = params["resource_arn"]
    await _check_resource(svc, ctx, arn)
    return {"tags": await blocking(svc.store.get_tags, arn)}
