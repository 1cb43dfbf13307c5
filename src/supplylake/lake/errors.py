"""Errors the lake raises, so that callers never need to import pyiceberg."""

from __future__ import annotations


class LakeError(Exception):
    """Base class of the lake's errors."""


class TableNotFoundError(LakeError, LookupError):
    """The dataset has no table in the lake."""


class CommitConflictError(LakeError):
    """Concurrent commits kept conflicting with this one; it did not land. Transient."""


class PositionMovedError(CommitConflictError):
    """The table's recorded position is not the one the batch was planned after. Transient."""
