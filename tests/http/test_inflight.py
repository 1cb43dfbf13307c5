"""The budget of large request bodies in flight."""

from __future__ import annotations

import asyncio
from typing import Any

from supplylake.inflight import BodyBudget

MIB = 1024 * 1024


class Handler:
    """An ASGI app that reads its body slowly and records how many large ones it held at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.now += 1
        self.most = max(self.most, self.now)
        await asyncio.sleep(0.02)
        self.now -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/", "headers": headers}


async def _call(app: BodyBudget, headers: list[tuple[bytes, bytes]]) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    await app(_scope(headers), receive, send)


def _length(n: int) -> list[tuple[bytes, bytes]]:
    return [(b"content-length", str(n).encode())]


def test_large_bodies_wait_for_the_budget_and_all_are_answered() -> None:
    inner = Handler()
    app = BodyBudget(inner, budget=3 * MIB, largest=8 * MIB)

    async def run() -> None:
        await asyncio.gather(*(_call(app, _length(MIB)) for _ in range(12)))

    asyncio.run(run())
    assert inner.most == 3
    assert app.in_flight == 0


def test_small_bodies_do_not_wait() -> None:
    inner = Handler()
    app = BodyBudget(inner, budget=3 * MIB, largest=8 * MIB)

    async def run() -> None:
        await asyncio.gather(*(_call(app, _length(1000)) for _ in range(12)))

    asyncio.run(run())
    assert inner.most == 12


def test_a_chunked_body_counts_as_the_largest_and_one_larger_than_the_budget_goes_alone() -> None:
    inner = Handler()
    app = BodyBudget(inner, budget=8 * MIB, largest=8 * MIB)

    async def run() -> None:
        chunked = [(b"transfer-encoding", b"chunked")]
        await asyncio.gather(*(_call(app, chunked) for _ in range(3)))

    asyncio.run(run())
    assert inner.most == 1

    huge = BodyBudget(Handler(), budget=2 * MIB, largest=8 * MIB)
    asyncio.run(_call(huge, _length(5 * MIB)))  # clamped to the budget: it does not wait forever
    assert huge.in_flight == 0


def test_bodies_over_the_limit_and_bad_lengths_pass_to_the_app_which_refuses_them() -> None:
    inner = Handler()
    app = BodyBudget(inner, budget=MIB, largest=8 * MIB)
    asyncio.run(_call(app, _length(9 * MIB)))
    asyncio.run(_call(app, [(b"content-length", b"nope")]))
    assert app.in_flight == 0
