"""Tags on instances, namespaces and datasets."""

from __future__ import annotations

import re
from typing import Any

from supplylake.aws.errors import ResourceNotFoundException, ValidationException
from supplylake.service.core import RequestContext, Services, blocking, find_instance
from supplylake.service.datasets import find_dataset
from supplylake.service.namespaces import find_namespace
from supplylake.store.base import StoreError

MAX_TAGS = 200
_ARN = re.compile(
    r"arn:aws:scn:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):instance/(?P<instance>[a-f0-9-]{36})"
    r"(?:/namespaces/(?P<namespace>[a-z0-9_]+)(?:/datasets/(?P<dataset>[a-z0-9_]+))?)?"
)


def parse_arn(arn: str) -> dict[str, str | None]:
    """The parts of a supplylake resource ARN, or ValidationException."""
    m = _ARN.fullmatch(arn)
    if m is None:
        raise ValidationException(
            f"{arn} is not the ARN of an instance, namespace or dataset "
            "(arn:aws:scn:<region>:<account>:instance/<id>[/namespaces/<ns>[/datasets/<name>]])."
        )
    return m.groupdict()


def _check_resource(svc: Services, ctx: RequestContext, arn: str) -> None:
    """The ARN must name an existing resource of the caller's account."""
    parts = parse_arn(arn)
    if parts["account"] != ctx.account_id:
        raise ResourceNotFoundException(f"Resource {arn} does not exist.")
    inst = find_instance(svc, ctx, str(parts["instance"]))
    if inst.state == "Deleted" or parts["region"] != inst.region:
        raise ResourceNotFoundException(f"Resource {arn} does not exist.")
    if parts["dataset"]:
        find_dataset(svc, inst, str(parts["namespace"]), parts["dataset"])
    elif parts["namespace"]:
        find_namespace(svc, inst, parts["namespace"])


def _check_keys(keys: list[str]) -> None:
    for key in keys:
        if key.lower().startswith("aws:"):
            raise ValidationException(f"Tag key {key} uses the reserved prefix aws:.")


async def tag_resource(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    arn = params["resource_arn"]
    _check_resource(svc, ctx, arn)
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
    _check_resource(svc, ctx, arn)
    keys: list[str] = params["tag_keys"]
    _check_keys(keys)
    await blocking(svc.store.untag, arn, keys)
    return {}


async def list_tags_for_resource(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    arn = params["resource_arn"]
    _check_resource(svc, ctx, arn)
    return {"tags": svc.store.get_tags(arn)}
