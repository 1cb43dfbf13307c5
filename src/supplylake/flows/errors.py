"""Why a flow is refused or an execution fails: plain domain errors.

A definition error carries the AWS error ``code`` the service answers it with (the service maps
it to its exception; this package knows nothing of the wire). An execution error is not answered
to a request: its message becomes the execution's ``message``, so it says what went wrong and
where, and never echoes the flow's SQL (the model marks the query sensitive).
"""

from __future__ import annotations


class FlowError(Exception):
    """A flow definition that cannot be accepted."""

    code = "ValidationException"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FlowValidationError(FlowError):
    """A definition that breaks a rule across members; the message names the member."""

    code = "ValidationException"


class FlowResourceNotFoundError(FlowError):
    """A dataset the definition names does not exist."""

    code = "ResourceNotFoundException"


class ExecutionError(Exception):
    """Why an execution failed, in words a person can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SqlError(ExecutionError):
    """The transformation's SQL does not parse, is not allowed, or failed in the engine."""


class FileFormatError(ExecutionError):
    """A source file that cannot be read as its file type (the message names file and line)."""


class StorageError(ExecutionError):
    """A bucket or object that cannot be reached (missing, no access, store unavailable)."""
