"""Data lake datasets: the predefined ``asc`` data model and custom datasets, each an Iceberg table."""

from __future__ import annotations

from typing import Any

from supplylake.aws.errors import ConflictException, ResourceNotFoundException, ValidationException
from supplylake.schema.asc import ASC_NAMESPACE, asc_datasets
from supplylake.schema.custom import (
    SchemaError,
    build_dataset_schema,
    partition_spec_to_api,
    schema_to_api,
)
from supplylake.service.core import (
    RequestContext,
    Services,
    active_instance,
    blocking,
    dataset_arn,
    now,
)
from supplylake.service.namespaces import find_namespace
from supplylake.service.paging import decode_token, encode_token
from supplylake.store.base import AlreadyExists, Dataset, Instance

_DEFAULT_PAGE = 20


def dataset_to_api(inst: Instance, ds: Dataset) -> dict[str, Any]:
    return {
        "instance_id": ds.instance_id,
        "namespace": ds.namespace,
        "name": ds.name,
        "arn": dataset_arn(inst, ds.namespace, ds.name),
        "schema": schema_to_api(ds.schema),
        "description": ds.description,
        "partition_spec": partition_spec_to_api(ds.schema),
        "created_time": ds.created_at,
        "last_modified_time": ds.updated_at,
    }


def _asc_dataset(inst: Instance, name: str) -> Dataset | None:
    schema = asc_datasets().get(name)
    if schema is None:
        return None
    return Dataset(inst.instance_id, ASC_NAMESPACE, name, schema, inst.created_at, inst.created_at)


def lookup_dataset(
    svc: Services, inst: Instance, namespace: str, name: str, cached: bool = False
) -> Dataset | None:
    """A dataset of the instance: predefined in ``asc``, stored elsewhere.

    ``cached`` allows a copy up to ``cache_seconds`` old when another process changed it.
    """
    if namespace == ASC_NAMESPACE:
        return _asc_dataset(inst, name)
    if cached:
        return svc.cache.dataset(inst.instance_id, namespace, name)
    return svc.store.get_dataset(inst.instance_id, namespace, name)


def find_dataset(svc: Services, inst: Instance, namespace: str, name: str) -> Dataset:
    ds = lookup_dataset(svc, inst, namespace, name)
    if ds is None:
        find_namespace(svc, inst, namespace)
        raise ResourceNotFoundException(
            f"Dataset {namespace}.{name} does not exist in instance {inst.instance_id}."
        )
    return ds


def _refuse_asc(namespace: str, verb: str) -> None:
    if namespace == ASC_NAMESPACE:
        raise ValidationException(
            f"Datasets of the asc namespace are predefined by the AWS Supply Chain data model and "
            f"cannot be {verb}; use the default namespace or a custom one."
        )


async def create_data_lake_dataset(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = active_instance(svc, ctx, params["instance_id"])
    namespace, name = params["namespace"], params["name"]
    _refuse_asc(namespace, "created")
    find_namespace(svc, inst, namespace)
    if params.get("schema") is None:
        raise ValidationException(f"A schema is required for a dataset in namespace {namespace}.")
    try:
        schema = build_dataset_schema(name, params["schema"], params.get("partition_spec"))
    except SchemaError as exc:
        raise ValidationException(str(exc)) from None
    if svc.store.get_dataset(inst.instance_id, namespace, name) is not None:
        raise ConflictException(f"Dataset {namespace}.{name} already exists.")
    at = now()
    ds = Dataset(inst.instance_id, namespace, name, schema, at, at, params.get("description"))
    # The table first: a dataset is only visible once its table exists.
    await blocking(svc.lake.create_table, inst.instance_id, namespace, schema)
    try:
        await blocking(
            svc.store.create_dataset,
            ds,
            params.get("tags") or {},
            dataset_arn(inst, namespace, name),
        )
    except AlreadyExists:
        raise ConflictException(f"Dataset {namespace}.{name} already exists.") from None
    return {"dataset": dataset_to_api(inst, ds)}


async def get_data_lake_dataset(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = active_instance(svc, ctx, params["instance_id"])
    ds = find_dataset(svc, inst, params["namespace"], params["name"])
    return {"dataset": dataset_to_api(inst, ds)}


async def list_data_lake_datasets(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = active_instance(svc, ctx, params["instance_id"])
    namespace = params["namespace"]
    find_namespace(svc, inst, namespace)
    limit = params.get("max_results") or _DEFAULT_PAGE
    scope = f"ListDataLakeDatasets:{inst.instance_id}:{namespace}"
    secret = svc.store.secret("page-token")
    after = (
        str(decode_token(secret, scope, params["next_token"])) if params.get("next_token") else ""
    )
    if namespace == ASC_NAMESPACE:
        names = sorted(n for n in asc_datasets() if n > after)[: limit + 1]
        items = [d for d in (_asc_dataset(inst, n) for n in names) if d is not None]
    else:
        items = svc.store.list_datasets(inst.instance_id, namespace, after, limit + 1)
    out: dict[str, Any] = {"datasets": [dataset_to_api(inst, d) for d in items[:limit]]}
    if len(items) > limit:
        out["next_token"] = encode_token(secret, scope, items[limit - 1].name)
    return out


async def update_data_lake_dataset(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = active_instance(svc, ctx, params["instance_id"])
    namespace, name = params["namespace"], params["name"]
    _refuse_asc(namespace, "updated")
    find_dataset(svc, inst, namespace, name)
    ds = await blocking(
        svc.store.update_dataset,
        inst.instance_id,
        namespace,
        name,
        params.get("description"),
        now(),
    )
    return {"dataset": dataset_to_api(inst, ds)}


async def delete_data_lake_dataset(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = active_instance(svc, ctx, params["instance_id"])
    namespace, name = params["namespace"], params["name"]
    _refuse_asc(namespace, "deleted")
    find_dataset(svc, inst, namespace, name)
    await blocking(
        svc.store.delete_dataset,
        inst.instance_id,
        namespace,
        name,
        dataset_arn(inst, namespace, name),
    )
    await blocking(svc.lake.drop_table, inst.instance_id, namespace, name)
    return {"instance_id": inst.instance_id, "namespace": namespace, "name": name}
