"""Lifecycle states, spelled as the wire spells them: an instance's state, an event's load status,
a flow execution's status, a bill-of-materials import job's status.

A small domain module of its own, so the store (which keeps them), the service (which moves
instances through them) and the loader (which records outcomes) share one spelling without
importing each other. They are ``StrEnum``: a member *is* its wire string, so values read back
from the store compare equal to the members. Their values are botocore's enums (tested).
"""

from __future__ import annotations

from enum import StrEnum


class InstanceState(StrEnum):
    """An instance's lifecycle: Initializing → Active, Deleting → Deleted, or a failure."""

    INITIALIZING = "Initializing"
    ACTIVE = "Active"
    CREATE_FAILED = "CreateFailed"
    DELETE_FAILED = "DeleteFailed"
    DELETING = "Deleting"
    DELETED = "Deleted"


#: States of an instance that is gone or going: it holds nothing that may still change.
GONE = frozenset({InstanceState.DELETING, InstanceState.DELETED, InstanceState.DELETE_FAILED})


class LoadStatus(StrEnum):
    """Where an event's load into its dataset stands."""

    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class FlowExecutionStatus(StrEnum):
    """Where a data integration flow's execution stands (queued ones are IN_PROGRESS too)."""

    IN_PROGRESS = "IN_PROGRESS"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class BomJobStatus(StrEnum):
    """Where a bill-of-materials import job stands: NEW when accepted, QUEUED once a loader has
    seen it (it waits for the instance's earlier jobs), IN_PROGRESS while a loader runs it, then
    SUCCESS or FAILED."""

    NEW = "NEW"
    QUEUED = "QUEUED"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


#: Statuses of a job that is over: nothing will change it again.
BOM_JOB_FINISHED = frozenset({BomJobStatus.SUCCESS, BomJobStatus.FAILED})
