"""AWS-shaped errors.

Every exception a handler may raise carries its AWS error code. Modelled errors take their HTTP
status from the service model; the few unmodelled ones (authentication, routing) follow the
convention AWS uses across its JSON services.
"""

from __future__ import annotations

from functools import cache

from supplylake.aws.spec import service_model


class ServiceError(Exception):
    """An error answered to the client as ``X-Amzn-ErrorType: <code>`` and ``{"message": ...}``."""

    code: str = "InternalServerException"
    #: Used only when the service model does not define the error shape.
    default_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def status(self) -> int:
        return _modelled_status(self.code) or self.default_status


@cache
def _modelled_status(code: str) -> int | None:
    for shape in service_model().error_shapes:
        if shape.name == code:
            return int(shape.metadata["error"]["httpStatusCode"])
    return None


# Modelled in the supplychain service model: the status comes from there.
class ValidationException(ServiceError):
    code = "ValidationException"


class AccessDeniedException(ServiceError):
    code = "AccessDeniedException"


class ResourceNotFoundException(ServiceError):
    code = "ResourceNotFoundException"


class ConflictException(ServiceError):
    code = "ConflictException"


class ThrottlingException(ServiceError):
    code = "ThrottlingException"


class ServiceQuotaExceededException(ServiceError):
    code = "ServiceQuotaExceededException"


class InternalServerException(ServiceError):
    code = "InternalServerException"


# Not in the model: the codes AWS JSON services answer for these cases.
class MissingAuthenticationTokenException(ServiceError):
    code = "MissingAuthenticationTokenException"
    default_status = 403


class IncompleteSignatureException(ServiceError):
    code = "IncompleteSignatureException"
    default_status = 403


class InvalidSignatureException(ServiceError):
    code = "InvalidSignatureException"
    default_status = 403


class UnrecognizedClientException(ServiceError):
    code = "UnrecognizedClientException"
    default_status = 403


class UnknownOperationException(ServiceError):
    code = "UnknownOperationException"
    default_status = 404


class NotImplementedException(ServiceError):
    """A modelled operation this server does not implement (yet)."""

    code = "NotImplementedException"
    default_status = 501


class RequestEntityTooLargeException(ServiceError):
    code = "RequestEntityTooLargeException"
    default_status = 413


class RequestTimeoutException(ServiceError):
    code = "RequestTimeoutException"
    default_status = 408
