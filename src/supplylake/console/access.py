"""What a console session may do: exactly what its access key could do through the API.

Every page runs the API's own handler for its operation, after the same grant check as
``app.py``; pages that need more than the handler answers (receive times, records, rows) make
the same check for the operation they stand for, then read the store or the lake.
"""

from __future__ import annotations

import uuid
from typing import Any

from supplylake.auth.access import Grant, check_access
from supplylake.aws.errors import NotImplementedException
from supplylake.service.arns import instance_arn
from supplylake.service.context import RequestContext, Services
from supplylake.service.lookup import active_instance
from supplylake.service.registry import HANDLERS
from supplylake.store.base import AccessKey, Instance


def context_for(key: AccessKey, region: str) -> RequestContext:
    """The request context of a console request made with ``key``."""
    return RequestContext(
        account_id=key.account_id,
        access_key_id=key.access_key_id,
        region=region,
        request_id=str(uuid.uuid4()),
        grant=Grant(actions=key.actions, instances=key.instances),
    )


def check(ctx: RequestContext, operation: str, instance_id: str | None) -> None:
    """Raise AccessDeniedException unless the key's grant allows ``operation`` (on the instance)."""
    arn = (
        instance_arn(ctx.region, ctx.account_id, instance_id)
        if instance_id is not None
        else f"arn:aws:scn:{ctx.region}:{ctx.account_id}:instance/*"
    )
    check_access(ctx.grant, f"scn:{operation}", instance_id, arn, principal=ctx.access_key_id)


async def call(
    services: Services, ctx: RequestContext, operation: str, params: dict[str, Any]
) -> dict[str, Any]:
    """Run the API handler of ``operation`` (snake_case params) after the API's access check."""
    check(ctx, operation, params.get("instance_id"))
    handler = HANDLERS.get(operation)
    if handler is None:
        raise NotImplementedException(f"{operation} is not implemented by supplylake yet.")
    return await handler(services, ctx, params)


async def authorize(
    services: Services, ctx: RequestContext, operation: str, instance_id: str
) -> Instance:
    """The caller's active instance, once the grant allows ``operation`` on it."""
    check(ctx, operation, instance_id)
    return await active_instance(services, ctx, instance_id)
