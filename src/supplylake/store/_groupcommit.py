"""Group commit: one writer thread runs many small write jobs in one durable transaction.

Each job runs inside its own savepoint, so a job that raises is rolled back alone and its caller
gets the exception, while the others commit together. Callers wait on a Future that resolves only
after the COMMIT (and so the fsync) has returned.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

C = TypeVar("C")
T = TypeVar("T")

_STOP = object()


class GroupCommitter(Generic[C]):
    """Runs ``job(conn)`` callables on one connection, many per transaction."""

    def __init__(
        self,
        connect: Callable[[], C],
        begin: Callable[[C], object],
        savepoint: Callable[[C, str], object],
        commit: Callable[[C], object],
        rollback: Callable[[C], object],
        max_batch: int = 1000,
        name: str = "supplylake-writer",
    ) -> None:
        self._connect = connect
        self._begin = begin
        self._savepoint = savepoint
        self._commit = commit
        self._rollback = rollback
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._thread.start()
        self._ready.wait()
        if self._start_error is not None:
            raise self._start_error

    def submit(self, job: Callable[[C], T]) -> Future[T]:
        fut: Future[T] = Future()
        if not self._thread.is_alive():
            fut.set_exception(RuntimeError("the store is closed"))
            return fut
        self._queue.put((job, fut))
        return fut

    def run(self, job: Callable[[C], T]) -> T:
        """Submit and wait."""
        return self.submit(job).result()

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def _run(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:  # surfaced to the constructor
            self._start_error = exc
            self._ready.set()
            return
        self._ready.set()
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if _STOP in batch:
                stopping = True
                batch = [item for item in batch if item is not _STOP]
            if batch:
                self._run_batch(conn, batch)
        close = getattr(conn, "close", None)
        if close is not None:
            close()

    def _run_batch(self, conn: C, batch: list[tuple[Callable[[C], Any], Future[Any]]]) -> None:
        results: list[tuple[Future[Any], bool, Any]] = []
        try:
            self._begin(conn)
            for i, (job, fut) in enumerate(batch):
                if not fut.set_running_or_notify_cancel():
                    continue
                name = f"j{i}"
                self._savepoint(conn, f"SAVEPOINT {name}")
                try:
                    value = job(conn)
                except Exception as exc:
                    self._savepoint(conn, f"ROLLBACK TO {name}")
                    self._savepoint(conn, f"RELEASE {name}")
                    results.append((fut, False, exc))
                else:
                    self._savepoint(conn, f"RELEASE {name}")
                    results.append((fut, True, value))
            self._commit(conn)
        except Exception as exc:
            # The transaction itself failed (disk full, I/O error, lock): nothing of it is
            # durable, so every caller is told, and none is acknowledged.
            log.error("store commit failed: %s", exc)
            try:
                self._rollback(conn)
            except Exception:
                log.exception("rollback after a failed commit failed too")
            for job_fut in batch:
                fut = job_fut[1]
                if not fut.done():
                    fut.set_exception(exc)
            return
        for fut, ok, value in results:
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)
