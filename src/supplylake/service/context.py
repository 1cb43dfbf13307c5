"""What every handler is given: who is calling (`RequestContext`) and the parts it works with
(`Services`)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from supplylake.auth.access import Grant
from supplylake.config import Settings
from supplylake.service.blocking import blocking
from supplylake.service.cache import ReadCache
from supplylake.store.base import Store

if TYPE_CHECKING:
    from supplylake.lake import Lake
    from supplylake.service.limits import RateLimiter


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
    _secrets: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cache = ReadCache(self.store, self.settings.cache_seconds)

    @property
    def lake(self) -> Lake:
        if self._lake is None:
            with self._lake_lock:
                if self._lake is None:
                    self._lake = self.lake_factory()
        return self._lake

    async def secret(self, name: str) -> bytes:
        """The store's server secret ``name``, read once: a secret never changes once made."""
        found = self._secrets.get(name)
        if found is None:
            found = self._secrets[name] = await blocking(self.store.secret, name)
        return found

    def spawn(self, coro: Any) -> None:
        """Run a coroutine in the background, keeping a reference so it is not collected."""
        task = asyncio.get_running_loop().create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
