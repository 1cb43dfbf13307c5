"""The names loaders take leases under, and waiting for one that another loader holds."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator

from supplylake.store.base import DatasetRef, Leases


def lease_name(ref: DatasetRef) -> str:
    """The name of a dataset's lease: whoever holds it applies the dataset's events."""
    return f"dataset:{ref.instance_id}/{ref.namespace}/{ref.name}"


def owner_name() -> str:
    """How this process shows up as a lease holder (host and process id)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@contextlib.contextmanager
def holding(leases: Leases, name: str, timeout: float = 60.0) -> Iterator[None]:
    """Hold the lease ``name``, waiting while a loader applies a batch under it."""
    deadline = time.monotonic() + timeout
    while not leases.try_acquire(name):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the lease {name} stayed taken for {timeout:.0f} s")
        time.sleep(0.01)
    try:
        yield
    finally:
        leases.release(name)
