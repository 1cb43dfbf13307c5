"""The one place where the domain's errors become AWS errors.

``schema`` and ``flows`` raise plain exceptions that say what is wrong; which AWS error a client
gets for them is a choice of the API, made here for every handler at once (the registry wraps each
handler with `answering_aws_errors`).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from supplylake.aws.errors import ResourceNotFoundException, ServiceError, ValidationException
from supplylake.flows.errors import FlowError, FlowResourceNotFoundError
from supplylake.schema.errors import RecordError, SchemaError, TableError
from supplylake.service.context import RequestContext, Services

Handler = Callable[[Services, RequestContext, dict[str, Any]], Awaitable[dict[str, Any]]]

#: Errors of the domain that a request can cause, all answered as its fault.
DOMAIN_ERRORS = (RecordError, SchemaError, TableError, FlowError)


def aws_error(exc: RecordError | SchemaError | TableError | FlowError) -> ServiceError:
    """The AWS error a domain error is answered as: a flow naming a dataset that does not exist
    is not found; every other one is invalid."""
    if isinstance(exc, FlowResourceNotFoundError):
        return ResourceNotFoundException(exc.message)
    return ValidationException(exc.message)


def answering_aws_errors(handler: Handler) -> Handler:
    """``handler``, with the domain errors it raises turned into their AWS errors."""

    @functools.wraps(handler)
    async def answered(
        svc: Services, ctx: RequestContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        try:
            return await handler(svc, ctx, params)
        except DOMAIN_ERRORS as exc:
            raise aws_error(exc) from None

    return answered
