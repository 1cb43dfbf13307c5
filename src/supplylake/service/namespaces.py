"""Data lake namespaces: ``asc`` and ``default`` in every instance, plus custom ones."""

from __future__ import annotations

from typing import Any

from supplylake.aws.errors import ConflictException, ValidationException
from supplylake.schema.asc import ASC_NAMESPACE, DEFAULT_NAMESPACE
from supplylake.service.arns import namespace_arn
from supplylake.service.blocking import blocking
from supplylake.service.clock import now
from supplylake.service.context import RequestContext, Services
from supplylake.service.lookup import active_instance, find_namespace
from supplylake.service.paging import page_request
from supplylake.store.base import AlreadyExists, Instance, Namespace

PREDEFINED = (ASC_NAMESPACE, DEFAULT_NAMESPACE)
RESERVED_PREFIXES = ("asc", "default", "scn", "aws", "amazon", "amzn")


def namespace_to_api(inst: Instance, ns: Namespace) -> dict[str, Any]:
    return {
        "instance_id": ns.instance_id,
        "name": ns.name,
        "arn": namespace_arn(inst, ns.name),
        "description": ns.description,
        "created_time": ns.created_at,
        "last_modified_time": ns.updated_at,
    }


def _check_custom(name: str, verb: str) -> None:
    if name in PREDEFINED:
        raise ValidationException(f"The predefined namespace {name} cannot be {verb}.")


async def create_data_lake_namespace(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await active_instance(svc, ctx, params["instance_id"])
    name = params["name"]
    if name.startswith(RESERVED_PREFIXES):
        raise ValidationException(
            f"Namespace name {name} is reserved: custom namespace names may not start with "
            + ", ".join(RESERVED_PREFIXES)
            + "."
        )
    at = now()
    ns = Namespace(inst.instance_id, name, at, at, params.get("description"))
    try:
        await blocking(
            svc.store.create_namespace, ns, params.get("tags") or {}, namespace_arn(inst, name)
        )
    except AlreadyExists:
        raise ConflictException(
            f"Namespace {name} already exists in instance {inst.instance_id}."
        ) from None
    return {"namespace": namespace_to_api(inst, ns)}


async def get_data_lake_namespace(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await active_instance(svc, ctx, params["instance_id"])
    return {"namespace": namespace_to_api(inst, await find_namespace(svc, inst, params["name"]))}


async def list_data_lake_namespaces(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await active_instance(svc, ctx, params["instance_id"])
    page = await page_request(svc, params, f"ListDataLakeNamespaces:{inst.instance_id}")
    after = page.after_name
    items: list[Namespace] = []
    # Only custom namespaces are listed, as AWS does; skip the predefined ones while paging.
    while len(items) <= page.limit:
        batch = await blocking(svc.store.list_namespaces, inst.instance_id, after, page.limit + 1)
        if not batch:
            break
        items += [ns for ns in batch if ns.name not in PREDEFINED]
        after = batch[-1].name
    return page.answer(
        "namespaces", items, lambda ns: namespace_to_api(inst, ns), lambda ns: ns.name
    )


async def update_data_lake_namespace(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await active_instance(svc, ctx, params["instance_id"])
    name = params["name"]
    _check_custom(name, "updated")
    await find_namespace(svc, inst, name)
    ns = await blocking(
        svc.store.update_namespace, inst.instance_id, name, params.get("description"), now()
    )
    return {"namespace": namespace_to_api(inst, ns)}


async def delete_data_lake_namespace(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await active_instance(svc, ctx, params["instance_id"])
    name = params["name"]
    _check_custom(name, "deleted")
    await find_namespace(svc, inst, name)
    await blocking(svc.lake.drop_namespace, inst.instance_id, name)
    await blocking(svc.store.delete_namespace, inst.instance_id, name, namespace_arn(inst, name))
    return {"instance_id": inst.instance_id, "name": name}
