"""The loader process: ``supplylake loader``, run by hand or as a child that ``serve`` supervises.

A loader process runs every kind of work listed by :func:`job_kinds`, each on threads of its
own (:mod:`supplylake.loader.jobs`): dataset loads, woken when any process commits events
(``LISTEN`` on PostgreSQL, ``PRAGMA data_version`` on SQLite), BOM imports, flow executions,
and table maintenance on a timer.
It gets a process (and a GIL) of its own, so pyiceberg's commits never hold up the API.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

from supplylake.config import Settings
from supplylake.loader.bom import BomImports
from supplylake.loader.flows import POLL_SECONDS as FLOW_POLL_SECONDS
from supplylake.loader.flows import FlowRunner
from supplylake.loader.jobs import Context, JobKind, run_jobs
from supplylake.loader.loop import Loader, Share, Turns
from supplylake.loader.maintenance import DueTables, Maintainer
from supplylake.process.garbage import settle_garbage_collector
from supplylake.process.metrics_file import (
    MetricsWriter,
    loader_metrics_file,
    show_loader_metrics,
)
from supplylake.process.parent import follow_parent, parent_environment
from supplylake.process.signals import run_until_signalled
from supplylake.process.supervisor import Child, Command, Restarts

log = logging.getLogger(__name__)

#: Without a wake-up, loaders look for events this often: what a dead loader left, a lost wake-up.
_POLL_SECONDS = 2.0
#: How long a stopping loader waits for a maintenance pass to end; a compaction in flight is
#: left to finish on its own, its commit is atomic either way.
_MAINTAIN_STOP_SECONDS = 10.0
#: A loader process that dies is restarted after a pause that grows while it keeps dying.
_RESTARTS = Restarts(first=1.0, longest=30.0, steady=1.0)
#: How long a loader may take to finish its batches once asked to stop.
_STOP_SECONDS = 15.0
#: Loader processes of ``serve`` on a machine of many cores, unless set: each holds pyiceberg's
#: and pyarrow's heap, and the API's cores are needed too.
_MOST_PROCESSES_BY_DEFAULT = 4


def job_kinds(settings: Settings) -> list[JobKind]:
    """The kinds of work a loader process runs. A new kind of work is one more entry here."""
    return [
        JobKind(
            "loader",
            _dataset_loads,
            threads=settings.loader_threads,
            poll_seconds=_POLL_SECONDS,
            gather_seconds=settings.loader_max_wait_seconds,
        ),
        JobKind("bom-imports", BomImports, poll_seconds=_POLL_SECONDS),
        JobKind("flows", FlowRunner, woken=False, poll_seconds=FLOW_POLL_SECONDS),
        JobKind(
            "maintainer",
            lambda ctx: Maintainer(ctx.store, ctx.lake, ctx.due),
            woken=False,
            poll_seconds=min(1.0, settings.loader_maintain_seconds),
            stop_seconds=_MAINTAIN_STOP_SECONDS,
        ),
    ]


def _dataset_loads(ctx: Context) -> Loader:
    return Loader(
        ctx.store,
        ctx.lake,
        ctx.settings.loader_batch_events,
        batch_bytes=ctx.settings.loader_batch_bytes,
        due=ctx.due,
        turns=ctx.turns,
    )


class LoaderFailed(RuntimeError):
    """The loader process stopped on an error, not on a signal."""


def main(settings: Settings, metrics_file: Path | None = None, share: Share | None = None) -> None:
    """Run the loader in this process until SIGTERM or SIGINT (or its parent dies).

    With ``share``, it takes the datasets of that share first (see :class:`.loop.Share`).
    Raises :class:`LoaderFailed` if it stopped on an error.
    """
    from supplylake.lake import open_lake
    from supplylake.store import open_store

    if not follow_parent():
        return  # the serve that started this loader is gone
    store = open_store(settings.resolved_database_url)
    lake = open_lake(settings)
    settle_garbage_collector()
    due = DueTables(settings.loader_maintain_seconds)
    ctx = Context(settings, store, lake, due, Turns(share))
    stop = threading.Event()
    failed: list[BaseException] = []

    def work() -> None:
        try:
            with MetricsWriter(metrics_file):
                run_jobs(job_kinds(settings), ctx, stop)
        except BaseException as exc:
            failed.append(exc)
            raise

    try:
        run_until_signalled(threading.Thread(target=work, name="supplylake-loader"), stop)
    finally:
        store.close()
        lake.close()
    if failed:
        raise LoaderFailed(str(failed[0])) from failed[0]


def loader_processes(settings: Settings) -> int:
    """How many loader processes ``serve`` runs: as set, or one per core up to a few."""
    if settings.loader_processes > 0:
        return settings.loader_processes
    return max(1, min(os.cpu_count() or 1, _MOST_PROCESSES_BY_DEFAULT))


def loader_children(settings: Settings) -> list[Child]:
    """The loader processes of ``serve``, for its supervisor; their metrics shown by ``/metrics``.

    Several processes share the datasets through their leases as the threads of one do, and
    each has an interpreter (and a GIL) of its own: pyiceberg's commits are mostly Python, so
    the threads of one process use about one core between them. Each is given a share of the
    datasets to take first, so that a table stays with one process while they keep up.
    """
    show_loader_metrics(settings, fresh=True)

    count = loader_processes(settings)

    def child(n: int) -> Child:
        def start() -> Command:
            env = {**os.environ, **settings.environment(), **parent_environment()}
            command = [sys.executable, "-m", "supplylake", "loader"]
            command += ["--metrics-file", str(loader_metrics_file(settings, n))]
            if count > 1:
                command += ["--share", f"{n + 1}/{count}"]
            return Command(subprocess.Popen(command, env=env))

        return Child("loader process", start, _RESTARTS, _STOP_SECONDS)

    return [child(n) for n in range(count)]
