"""A budget of request body bytes in flight: large requests wait their turn before being read.

Each 1 MiB event costs several MiB while it is handled (the body, the decoded ``data``, the
parsed records), and nothing else bounds how many are handled at once: a few dozen connections
sending 1 MiB events multiplied one API process's memory. Requests declaring a body of at least
``large`` bytes first take their Content-Length from the budget (a chunked one takes the most a
body may be), and give it back once answered. A request that waits holds its connection, not its
body, which stays unread in the socket: memory stays bounded, and clients see latency, not errors.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send


class BodyBudget:
    """ASGI middleware: at most ``budget`` bytes of large request bodies handled at once."""

    def __init__(self, app: ASGIApp, budget: int, largest: int, large: int = 256 * 1024) -> None:
        self.app = app
        self.budget = budget
        self.largest = largest
        self.large = large
        self.in_flight = 0
        self._freed: asyncio.Condition | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.budget <= 0:
            await self.app(scope, receive, send)
            return
        size = _declared_size(scope, self.largest)
        if size < self.large:
            await self.app(scope, receive, send)
            return
        # Never more than the whole budget, so that one large request can always go alone.
        size = min(size, self.budget)
        freed = self._freed or asyncio.Condition()
        self._freed = freed
        async with freed:
            await freed.wait_for(lambda: self.in_flight + size <= self.budget)
            self.in_flight += size
        try:
            await self.app(scope, receive, send)
        finally:
            async with freed:
                self.in_flight -= size
                freed.notify_all()


def _declared_size(scope: Scope, largest: int) -> int:
    """The body size a request declares: its Content-Length, or ``largest`` if chunked."""
    length = None
    chunked = False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            length = value
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if length is not None:
        try:
            # Larger than the most a body may be is refused unread by the app (413): no cost.
            declared = int(length)
        except ValueError:
            return 0  # the app answers it
        return declared if declared <= largest else 0
    return largest if chunked else 0
