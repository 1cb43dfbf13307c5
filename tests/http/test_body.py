"""Reading a request body: the size limit, and the deadline that one sweep enforces."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import ClientDisconnect

from supplylake.body import BodyDeadlines, BodyTooLarge, read_body


def _receiver(*messages: dict[str, Any]) -> Any:
    """A receive() that hands out ``messages``, then waits forever (a client gone quiet)."""
    pending = list(messages)

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return receive


def _part(body: bytes, more: bool = False) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": more}


def test_a_body_in_parts_is_read_whole_and_leaves_nothing_behind() -> None:
    async def run() -> tuple[bytes, BodyDeadlines]:
        deadlines = BodyDeadlines(5.0)
        # The empty part without more_body ends the body: the part after it is never read.
        receive = _receiver(_part(b"ab", more=True), _part(b""), _part(b"c"))
        return await read_body(receive, None, 10, deadlines), deadlines

    body, deadlines = asyncio.run(run())
    assert body == b"ab"
    assert deadlines.reading == {}
    assert deadlines.expired == set()


def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    async def run() -> None:
        async def receive() -> dict[str, Any]:
            raise AssertionError("the body must not be read")

        await read_body(receive, "11", 10, BodyDeadlines(5.0))

    with pytest.raises(BodyTooLarge):
        asyncio.run(run())


def test_a_body_longer_than_it_said_is_cut_off_at_the_limit() -> None:
    async def run() -> None:
        receive = _receiver(_part(b"x" * 8, more=True), _part(b"x" * 8))
        await read_body(receive, "4", 10, BodyDeadlines(5.0))

    with pytest.raises(BodyTooLarge):
        asyncio.run(run())


def test_a_client_that_leaves_is_reported_as_gone() -> None:
    async def run() -> None:
        await read_body(_receiver({"type": "http.disconnect"}), None, 10, BodyDeadlines(5.0))

    with pytest.raises(ClientDisconnect):
        asyncio.run(run())


def test_a_body_that_stops_arriving_times_out_and_the_request_goes_on() -> None:
    async def run() -> tuple[str, BodyDeadlines]:
        deadlines = BodyDeadlines(0.2)
        try:
            await read_body(_receiver(_part(b"ab", more=True)), None, 10, deadlines)
        except TimeoutError:
            pass
        else:
            raise AssertionError("the body never ended, yet reading it returned")
        # The request's task was not left cancelled: it can still await, to answer 408.
        await asyncio.sleep(0)
        task = asyncio.current_task()
        assert task is not None
        return ("cancelling" if task.cancelling() else "running"), deadlines

    state, deadlines = asyncio.run(run())
    assert state == "running"
    assert deadlines.reading == {}
    assert deadlines.expired == set()


def test_only_late_bodies_are_cut_off_and_a_cancel_from_elsewhere_stays_a_cancel() -> None:
    async def run() -> list[str]:
        deadlines = BodyDeadlines(0.3)
        outcomes: list[str] = []

        async def slow() -> None:
            try:
                await read_body(_receiver(_part(b"a", more=True)), None, 10, deadlines)
            except TimeoutError:
                outcomes.append("slow: timed out")

        async def prompt() -> None:
            await asyncio.sleep(0.05)
            outcomes.append(
                f"prompt: {await read_body(_receiver(_part(b'ok')), None, 10, deadlines)!r}"
            )

        async def cancelled() -> None:
            try:
                await read_body(_receiver(), None, 10, deadlines)
            except asyncio.CancelledError:
                outcomes.append("cancelled: cancelled")
                raise

        other = asyncio.create_task(cancelled())
        await asyncio.sleep(0.01)
        other.cancel()
        await asyncio.gather(slow(), prompt(), asyncio.wait([other]))
        assert deadlines.reading == {}
        return sorted(outcomes)

    assert asyncio.run(run()) == ["cancelled: cancelled", "prompt: b'ok'", "slow: timed out"]
