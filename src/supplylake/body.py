"""Reading a request body whole: refused past a size, cut off past a deadline.

The API reads each body in full before it checks the signature (SigV4 signs the payload's hash),
so a client that sends its headers and then nothing must not hold a request forever.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import Receive


class BodyTooLarge(Exception):
    """The body is larger than the limit (by its Content-Length, or as it arrives)."""


class BodyDeadlines:
    """The requests still reading their body, and one sweep that cancels those past their time.

    ``asyncio.timeout`` arms and disarms a timer of the event loop for every request, which costs
    more than reading a small body does. Here a request only enters and leaves a dict; one sweep,
    run every ``interval`` seconds while any body is being read, cancels the late ones (so a
    body is cut off between ``timeout`` and ``timeout + interval`` after its reading began).
    """

    __slots__ = ("expired", "interval", "reading", "sweeping", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.interval = min(1.0, max(timeout / 4, 0.01))
        self.reading: dict[asyncio.Task[Any], float] = {}
        self.expired: set[asyncio.Task[Any]] = set()
        self.sweeping = False

    def enter(self, task: asyncio.Task[Any]) -> None:
        loop = task.get_loop()
        self.reading[task] = loop.time() + self.timeout
        if not self.sweeping:
            self.sweeping = True
            loop.call_later(self.interval, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        late = [task for task, deadline in self.reading.items() if deadline <= now]
        for task in late:
            del self.reading[task]
            self.expired.add(task)
            task.cancel()
        if self.reading:
            loop.call_later(self.interval, self._sweep, loop)
        else:
            self.sweeping = False

    def timed_out(self, task: asyncio.Task[Any]) -> bool:
        """Whether the sweep cancelled ``task``; if so, the cancellation is taken back."""
        if task not in self.expired:
            return False
        self.expired.discard(task)
        task.uncancel()
        return True


async def read_body(
    receive: Receive, declared: str | None, limit: int, deadlines: BodyDeadlines
) -> bytes:
    """The body, refused unread when Content-Length says it is too large (and cut off if it lies)."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    task = asyncio.current_task()
    assert task is not None
    deadlines.enter(task)
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
    except asyncio.CancelledError:
        if deadlines.timed_out(task):
            raise TimeoutError from None
        raise
    finally:
        deadlines.reading.pop(task, None)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
