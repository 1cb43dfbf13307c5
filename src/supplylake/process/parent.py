"""Children that stop when the process that started them dies.

A supervisor may die without stopping its children (SIGKILL, a crash); a loader or API worker
left behind would go on holding leases and the port. Each child asks the kernel for SIGTERM when
its parent dies (Linux's parent-death signal), or watches its parent elsewhere, and stops as it
would on any SIGTERM: gracefully, through its own signal handling.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading

log = logging.getLogger(__name__)

#: Set by a supervisor in the environment of the children it starts: the pid they must not outlive.
PARENT_ENV = "SUPPLYLAKE_PARENT_PID"
_PR_SET_PDEATHSIG = 1
_WATCH_SECONDS = 1.0


def parent_environment() -> dict[str, str]:
    """What a supervisor adds to a child's environment so the child follows it."""
    return {PARENT_ENV: str(os.getpid())}


def follow_parent(parent: int | None = None) -> bool:
    """Get SIGTERM when ``parent`` dies; False if it is already gone.

    ``parent`` defaults to the pid in ``SUPPLYLAKE_PARENT_PID``; without either, the process
    was started by hand and follows nobody.
    """
    if parent is None:
        named = os.environ.get(PARENT_ENV)
        if not named:
            return True
        parent = int(named)
    if not _ask_kernel():
        threading.Thread(
            target=_watch, args=(parent,), name="supplylake-parent-watch", daemon=True
        ).start()
    # The parent may have died before the signal was asked for.
    return os.getppid() == parent


def _ask_kernel() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM) == 0)
    except (OSError, AttributeError):
        return False  # not Linux


def _watch(parent: int) -> None:
    """Where the kernel cannot signal a parent's death: notice the process being re-parented."""
    while os.getppid() == parent:
        threading.Event().wait(_WATCH_SECONDS)
    signal.raise_signal(signal.SIGTERM)
