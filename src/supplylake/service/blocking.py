"""The one way a coroutine calls the store or the lake: on a worker thread, off the event loop.

Every store call is a round trip (a file lock and a page read on SQLite, a network round trip
on PostgreSQL) and every lake call is file or object-store I/O. On the event loop, each would
stall every other request of the process for its duration. So handlers, the console and the
API's own steps call them through `blocking`, reads as well as writes. The only store calls made
on the loop are those that cannot block: `Store.append_event_async` (it hands the event to the
group committer's thread) and a `ReadCache` hit (see :mod:`supplylake.service.lookup`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking store or lake work off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)
