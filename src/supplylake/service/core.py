"""What every handler shares: the request context, the service's parts, ARNs and look-ups."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.concurrency import run_in_threadpool

from supplylake.auth.access import Grant
from supplylake.aws.errors import ConflictException, ResourceNotFoundException
from supplylake.config import Settings
from supplylake.service.cache import ReadCache
from supplylake.store.base import Instance, Store

if TYPE_CHECKING:
    from supplylake.lake.catalog import Lake
    from supplylake.service.limits import RateLimiter

T = TypeVar("T")

ACTIVE = "Active"


@dataclass(frozen=True)
class RequestContext:
    """Who is calling, from where; set by the authentication step."""

    account_id: str
    access_key_id: str
    region: str
    request_id: str
    grant: Grant = field(default_factory=Grant)


@dataclass
class Services:
    """The parts handlers work with."""

    settings: Settings
    store: Store
    #: Opens the lake on first use: pyiceberg takes seconds to import, and the API should not wait.
    lake_factory: Callable[[], Lake]
    limiter: RateLimiter
    background: set[asyncio.Task[Any]] = field(default_factory=set)

    #: Keys, instances and datasets for the request path (see :mod:`supplylake.service.cache`).
    cache: ReadCache = field(init=False)

    _lake: Lake | None = None
    _lake_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.cache = ReadCache(self.store, self.settings.cache_seconds)

    @property
    def lake(self) -> Lake:
        if self._lake is None:
            with self._lake_lock:
                if self._lake is None:
                    self._lake = self.lake_factory()
        return self._lake

    def spawn(self, coro: Any) -> None:
        """Run a coroutine in the background, keeping a reference so it is not collected."""
        task = asyncio.get_running_loop().create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)


def now() -> datetime:
    return datetime.now(UTC)


class _RandomPool(threading.local):
    """Bytes of ``os.urandom`` read a few kilobytes at a time (one system call, not one per id)."""

    data = b""
    at = 0


_POOL = _RandomPool()
# A forked child must not hand out the ids its parent will.
os.register_at_fork(after_in_child=lambda: setattr(_POOL, "data", b""))
_VARIANT = {f"{d:x}": f"{(d & 0x3) | 0x8:x}" for d in range(16)}


def _random_hex() -> str:
    """16 random bytes as 32 hex digits."""
    pool = _POOL
    at = pool.at
    if at + 16 > len(pool.data):
        pool.data, at = os.urandom(4096), 0
    pool.at = at + 16
    return pool.data[at : at + 16].hex()


def random_uuid() -> str:
    """A random (version 4) UUID as text, like ``str(uuid.uuid4())`` but cheaper."""
    h = _random_hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def time_ordered_uuid() -> str:
    """A version 7 UUID (RFC 9562) as text: 48 bits of Unix milliseconds, then 74 random bits.

    Ids made later sort later (to the millisecond), so a store's unique index on them grows at
    its right edge: a batch of new events dirties one or two index pages instead of one random
    page each (a commit of 14 events on SQLite: 26 → 14 pages of 16 KiB written).
    """
    h = _random_hex()
    t = f"{time.time_ns() // 1_000_000:012x}"
    return f"{t[:8]}-{t[8:]}-7{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking store or lake work off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


# -- ARNs ---------------------------------------------------------------------------------
def instance_arn(region: str, account_id: str, instance_id: str) -> str:
    return f"arn:aws:scn:{region}:{account_id}:instance/{instance_id}"


def namespace_arn(inst: Instance, namespace: str) -> str:
    return f"{instance_arn(inst.region, inst.account_id, inst.instance_id)}/namespaces/{namespace}"


def dataset_arn(inst: Instance, namespace: str, name: str) -> str:
    return f"{namespace_arn(inst, namespace)}/datasets/{name}"


# -- look-ups -----------------------------------------------------------------------------
def find_instance(
    svc: Services, ctx: RequestContext, instance_id: str, cached: bool = False
) -> Instance:
    """The caller's instance; another account's instance is reported as missing, never shown.

    ``cached`` allows a copy up to ``cache_seconds`` old when another process changed it.
    """
    inst = svc.cache.instance(instance_id) if cached else svc.store.get_instance(instance_id)
    if inst is None or inst.account_id != ctx.account_id:
        raise ResourceNotFoundException(f"Instance {instance_id} does not exist.")
    return inst


def active_instance(
    svc: Services, ctx: RequestContext, instance_id: str, cached: bool = False
) -> Instance:
    """The caller's instance, which must be Active to hold namespaces, datasets and events."""
    inst = find_instance(svc, ctx, instance_id, cached)
    if inst.state == "Deleted":
        raise ResourceNotFoundException(f"Instance {instance_id} does not exist.")
    if inst.state != ACTIVE:
        raise ConflictException(
            f"Instance {instance_id} is {inst.state}, not Active: wait until it is Active."
        )
    return inst
