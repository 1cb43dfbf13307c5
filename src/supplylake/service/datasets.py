"""Data lake datasets: the predefined ``asc`` data model and custom datasets, each an Iceberg table.

An ``asc`` dataset is always there for events and look-ups, with the data model's schema. A
CreateDataLakeDataset of it (or an update) records what AWS lets a client give it: a
description and tags, and from then on its own creation time. Deleting it drops its table (its
rows) and that record; the dataset itself stays available, as every data-model dataset is.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any

from supplylake.aws.errors import ConflictException, ResourceNotFoundException, ValidationException
from supplylake.schema.asc import ASC_NAMESPACE, asc_datasets
from supplylake.schema.custom import build_dataset_schema, partition_spec_to_api, schema_to_api
from supplylake.schema.types import DatasetSchema
from supplylake.service.arns import dataset_arn
from supplylake.service.blocking import blocking
from supplylake.service.clock import now
from supplylake.service.context import RequestContext, Services
from supplylake.service.lookup import active_instance, find_namespace, stored_dataset
from supplylake.service.paging import page_request
from supplylake.service.schema_limits import schema_limits
from supplylake.store.base import AlreadyExists, Dataset, Instance, NotFound


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


def _asc_dataset(inst: Instance, name: str, stored: Dataset | None = None) -> Dataset | None:
    """An asc dataset: the data model's schema, with what a create or update ``stored``."""
    schema = asc_datasets().get(name)
    if schema is None:
        return None
    if stored is not None:
        # The data model gives the schema, whatever it was when the record was made.
        return replace(stored, schema=schema)
    return Dataset(inst.instance_id, ASC_NAMESPACE, name, schema, inst.created_at, inst.created_at)


async def lookup_dataset(
    svc: Services, inst: Instance, namespace: str, name: str, cached: bool = False
) -> Dataset | None:
    """A dataset of the instance: predefined in ``asc``, stored elsewhere.

    ``cached`` allows a copy up to ``cache_seconds`` old when another process changed it; for an
    asc dataset (the event path, which only needs its schema) it does not read the store at all.
    """
    if namespace == ASC_NAMESPACE:
        if cached or name not in asc_datasets():
            return _asc_dataset(inst, name)
        return _asc_dataset(inst, name, await stored_dataset(svc, inst, namespace, name))
    return await stored_dataset(svc, inst, namespace, name, cached)


async def find_dataset(svc: Services, inst: Instance, namespace: str, name: str) -> Dataset:
    ds = await lookup_dataset(svc, inst, namespace, name)
    if ds is None:
        await find_namespace(svc, inst, namespace)
        raise ResourceNotFoundException(
            f"Dataset {namespace}.{name} does not exist in instance {inst.instance_id}."
        )
    return ds


async def create_data_lake_dataset(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await active_instance(svc, ctx, params["instance_id"])
    namespace, name = params["namespace"], params["name"]
    if namespace == ASC_NAMESPACE:
        return await _create_asc_dataset(svc, inst, name, params)
    await find_namespace(svc, inst, namespace)
    if params.get("schema") is None:
        raise ValidationException(f"A schema is required for a dataset in namespace {namespace}.")
    schema = build_dataset_schema(
        name, params["schema"], params.get("partition_spec"), limits=schema_limits()
    )
    return await _create_dataset(svc, inst, namespace, name, schema, params)


async def _create_asc_dataset(
    svc: Services, inst: Instance, name: str, params: dict[str, Any]
) -> dict[str, Any]:
    """Record a description and tags for a data-model dataset (its schema is the model's)."""
    schema = asc_datasets().get(name)
    if schema is None:
        raise ValidationException(
            f"{name} is not a dataset of the AWS Supply Chain data model: the asc namespace "
            "holds only its entities (inbound_order, product, ...)."
        )
    if params.get("schema") is not None or params.get("partition_spec") is not None:
        raise ValidationException(
            f"asc.{name} takes its schema from the AWS Supply Chain data model: leave schema "
            "and partitionSpec out."
        )
    return await _create_dataset(svc, inst, ASC_NAMESPACE, name, schema, params)


async def _create_dataset(
    svc: Services,
    inst: Instance,
    namespace: str,
    name: str,
    schema: DatasetSchema,
    params: dict[str, Any],
) -> dict[str, Any]:
    """Make the dataset's table, then record the dataset with its description and tags."""
    if await stored_dataset(svc, inst, namespace, name) is not None:
        raise ConflictException(f"Dataset {namespace}.{name} already exists.")
    at = now()
    ds = Dataset(inst.instance_id, namespace, name, schema, at, at, params.get("description"))
    # The table first: a dataset is only visible once its table exists (and queries find an asc
    # dataset's empty table before its first event).
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
    inst = await active_instance(svc, ctx, params["instance_id"])
    ds = await find_dataset(svc, inst, params["namespace"], params["name"])
    return {"dataset": dataset_to_api(inst, ds)}


async def list_data_lake_datasets(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await active_instance(svc, ctx, params["instance_id"])
    namespace = params["namespace"]
    await find_namespace(svc, inst, namespace)
    page = await page_request(svc, params, f"ListDataLakeDatasets:{inst.instance_id}:{namespace}")
    limit = page.limit
    after = page.after_name or ""
    if namespace == ASC_NAMESPACE:
        names = sorted(n for n in asc_datasets() if n > after)[: limit + 1]
        stored = {
            d.name: d
            for d in await blocking(
                svc.store.list_datasets, inst.instance_id, namespace, after, len(asc_datasets())
            )
        }
        items = [d for d in (_asc_dataset(inst, n, stored.get(n)) for n in names) if d]
    else:
        items = await blocking(
            svc.store.list_datasets, inst.instance_id, namespace, after, limit + 1
        )
    return page.answer("datasets", items, lambda d: dataset_to_api(inst, d), lambda d: d.name)


async def update_data_lake_dataset(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await active_instance(svc, ctx, params["instance_id"])
    namespace, name = params["namespace"], params["name"]
    found = await find_dataset(svc, inst, namespace, name)
    if namespace == ASC_NAMESPACE:
        await _record_asc_dataset(svc, inst, found)
    ds = await blocking(
        svc.store.update_dataset,
        inst.instance_id,
        namespace,
        name,
        params.get("description"),
        now(),
    )
    if namespace == ASC_NAMESPACE:
        ds = _asc_dataset(inst, name, ds) or ds
    return {"dataset": dataset_to_api(inst, ds)}


async def _record_asc_dataset(svc: Services, inst: Instance, ds: Dataset) -> None:
    """Make sure the store holds a record of the asc dataset, for its description."""
    if await stored_dataset(svc, inst, ASC_NAMESPACE, ds.name) is not None:
        return
    arn = dataset_arn(inst, ASC_NAMESPACE, ds.name)
    with contextlib.suppress(AlreadyExists):  # another request recorded it first
        await blocking(svc.store.create_dataset, ds, {}, arn)


async def delete_data_lake_dataset(
    svc: Services, ctx: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    inst = await active_instance(svc, ctx, params["instance_id"])
    namespace, name = params["namespace"], params["name"]
    await find_dataset(svc, inst, namespace, name)
    arn = dataset_arn(inst, namespace, name)
    try:
        await blocking(svc.store.delete_dataset, inst.instance_id, namespace, name, arn)
    except NotFound:
        if namespace != ASC_NAMESPACE:
            raise
        # An asc dataset never created or updated has no record, but may have tags.
        tags = await blocking(svc.store.get_tags, arn)
        await blocking(svc.store.untag, arn, list(tags))
    await blocking(svc.lake.drop_table, inst.instance_id, namespace, name)
    return {"instance_id": inst.instance_id, "namespace": namespace, "name": name}
