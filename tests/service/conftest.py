"""Services over a real SQLite store, for driving the service's handlers without HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supplylake.config import Settings
from supplylake.service.context import RequestContext, Services
from supplylake.service.limits import RateLimiter
from supplylake.service.registry import HANDLERS
from supplylake.states import InstanceState
from supplylake.store import open_store

ACCOUNT = "123456789012"


def _no_lake() -> Any:
    raise AssertionError("these tests do not open the lake")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    settings = Settings(data_dir=tmp_path, instance_transition_seconds=0.0)
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        yield Services(settings, store, _no_lake, RateLimiter(1000.0, 1000))
    finally:
        store.close()


@pytest.fixture
def ctx() -> RequestContext:
    return RequestContext(ACCOUNT, "SLAKTEST", "us-east-1", "request-1")


async def call(svc: Services, ctx: RequestContext, op: str, **params: Any) -> dict[str, Any]:
    """Run the handler of ``op`` as the API does (snake_case parameters)."""
    return await HANDLERS[op](svc, ctx, params)


async def active_instance_id(svc: Services, ctx: RequestContext) -> str:
    """A new instance, once its creation has finished in the background."""
    out = await call(svc, ctx, "CreateInstance")
    iid: str = out["instance"]["instance_id"]
    for _ in range(500):
        got = await call(svc, ctx, "GetInstance", instance_id=iid)
        if got["instance"]["state"] == InstanceState.ACTIVE:
            return iid
        await asyncio.sleep(0.01)
    raise AssertionError("the instance never became Active")
