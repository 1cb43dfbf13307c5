"""Finding the resources a request names: the caller's instance, a namespace, a stored dataset.

Each look-up reads the store off the event loop (`blocking`). ``cached`` look-ups, for the hot
request path, first take a copy from the `ReadCache` that is still fresh (a dictionary read,
fine on the loop) and go to the store only when there is none. A resource of another account
is reported as missing, never shown.
"""

from __future__ import annotations

from supplylake.aws.errors import ConflictException, ResourceNotFoundException
from supplylake.service.blocking import blocking
from supplylake.service.context import RequestContext, Services
from supplylake.states import InstanceState
from supplylake.store.base import Dataset, Instance, Namespace


async def find_instance(
    svc: Services, ctx: RequestContext, instance_id: str, cached: bool = False
) -> Instance:
    """The caller's instance, in any state.

    ``cached`` allows a copy up to ``cache_seconds`` old when another process changed it.
    """
    if cached:
        inst = svc.cache.fresh_instance(instance_id) or await blocking(
            svc.cache.instance, instance_id
        )
    else:
        inst = await blocking(svc.store.get_instance, instance_id)
    if inst is None or inst.account_id != ctx.account_id:
        raise ResourceNotFoundException(f"Instance {instance_id} does not exist.")
    return inst


async def active_instance(
    svc: Services, ctx: RequestContext, instance_id: str, cached: bool = False
) -> Instance:
    """The caller's instance, which must be Active to hold namespaces, datasets and events."""
    inst = await find_instance(svc, ctx, instance_id, cached)
    if inst.state == InstanceState.DELETED:
        raise ResourceNotFoundException(f"Instance {instance_id} does not exist.")
    if inst.state != InstanceState.ACTIVE:
        raise ConflictException(
            f"Instance {instance_id} is {inst.state}, not Active: wait until it is Active."
        )
    return inst


async def find_namespace(svc: Services, inst: Instance, name: str) -> Namespace:
    """A namespace of the instance (``asc`` and ``default`` included)."""
    ns = await blocking(svc.store.get_namespace, inst.instance_id, name)
    if ns is None:
        raise ResourceNotFoundException(
            f"Namespace {name} does not exist in instance {inst.instance_id}."
        )
    return ns


async def stored_dataset(
    svc: Services, inst: Instance, namespace: str, name: str, cached: bool = False
) -> Dataset | None:
    """A dataset the store holds (custom datasets), or None.

    ``cached`` allows a copy up to ``cache_seconds`` old when another process changed it.
    """
    iid = inst.instance_id
    if cached:
        found = svc.cache.fresh_dataset(iid, namespace, name)
        return found or await blocking(svc.cache.dataset, iid, namespace, name)
    return await blocking(svc.store.get_dataset, iid, namespace, name)
