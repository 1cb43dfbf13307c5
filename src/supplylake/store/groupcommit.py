"""Group commit: one writer thread runs many small write jobs in one durable transaction.

Each job runs inside its own savepoint, so a job that raises is rolled back alone and its caller
gets the exception, while the others commit together. Callers wait on a Future that resolves only
after the COMMIT (and so the fsync) has returned; callers on an event loop get an asyncio future
instead (``submit_async``), resolved for the whole batch in one callback to their loop.

Jobs of a :class:`BatchRunner` (``Batched``) skip the per-job savepoints: the runner takes all of
a transaction's jobs at once (set-based SQL, a few statements for hundreds of jobs) and returns
each one's result or its domain error. Should it raise instead, the transaction is rolled back
and run again with those jobs one by one, each in its own savepoint, so one bad job never fails
the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from supplylake.store.base import StoreUnavailable

log = logging.getLogger(__name__)

C = TypeVar("C")
C_contra = TypeVar("C_contra", contravariant=True)
T = TypeVar("T")

_STOP = object()


class BatchRunner(Protocol[C_contra]):
    def run_one(self, conn: C_contra, item: Any) -> Any:
        """One job alone (inside a savepoint): its result, or raise its error."""

    def run_many(self, conn: C_contra, items: Sequence[Any]) -> list[Any]:
        """Many jobs: per item its result, or the Exception instance it fails with."""


@dataclass(frozen=True)
class Batched(Generic[C]):
    """A job the committer may hand to ``runner.run_many`` together with its peers."""

    runner: BatchRunner[C]
    item: Any

    def __call__(self, conn: C) -> Any:
        return self.runner.run_one(conn, self.item)


_Entry = tuple[Callable[[Any], Any], "Future[Any]"]
_Result = tuple["Future[Any]", bool, Any]  # the future, whether the job succeeded, its value


class CommitBackend(Protocol[C]):
    """How a backend opens the committer's connection and runs its transactions.

    The committer calls it from its own thread only, one connection at a time.
    """

    def connect(self) -> C:
        """A new writer connection, ready for :meth:`begin` (the schema migrated)."""

    def begin(self, conn: C) -> None:
        """Begin a write transaction, holding off every other writer until commit or rollback."""

    def savepoint(self, conn: C, statement: str) -> None:
        """Run a savepoint statement (``SAVEPOINT``, ``ROLLBACK TO``, ``RELEASE``)."""

    def commit(self, conn: C) -> None:
        """Commit durably, or raise: then nothing of the transaction is kept."""

    def rollback(self, conn: C) -> None:
        """Roll back the transaction, if one is open; harmless when none is."""

    def healthy(self, conn: C) -> bool:
        """False once the connection is broken for good (the committer opens a new one)."""

    def after_commit(self, conn: C) -> None:
        """Housekeeping between transactions, once a batch's callers have their answers."""


class GroupCommitter(Generic[C]):
    """Runs ``job(conn)`` callables on one connection of ``backend``, many per transaction."""

    def __init__(
        self,
        backend: CommitBackend[C],
        max_batch: int = 1000,
        name: str = "supplylake-writer",
        on_commit: Callable[[int, float], object] | None = None,
    ) -> None:
        self._backend = backend
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # Jobs submitted on each event loop during its current step, handed over at its end.
        self._handoff: dict[asyncio.AbstractEventLoop, list[tuple[Any, _LoopResult[Any]]]] = {}
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._conn: C  # the writer thread's own, set once it runs
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

    def submit_async(self, job: Callable[[C], T]) -> asyncio.Future[T]:
        """Like :meth:`submit`, for a caller on an event loop: an asyncio future of that loop.

        Hand-overs are batched both ways. The jobs a loop submits during one step of it reach
        the writer together, at the end of that step, so that the writer wakes (and takes the
        GIL) once for them instead of once per job, and finds them all in its next transaction.
        The writer hands each batch's results back to a loop in one callback, instead of one
        thread hand-over per job, which a concurrent Future and ``asyncio.wrap_future`` would
        each cost.
        """
        loop = asyncio.get_running_loop()
        # Not ``_LoopResult[T](...)``: calling a subscripted generic goes through typing's
        # alias, which tries (and fails, slots) to set ``__orig_class__`` on every call.
        result: _LoopResult[T] = _LoopResult(loop)
        if not self._thread.is_alive():
            result.future.set_exception(RuntimeError("the store is closed"))
            return result.future
        waiting = self._handoff.get(loop)
        if waiting is None:
            waiting = self._handoff[loop] = []
            loop.call_soon(self._hand_over, loop)
        waiting.append((job, result))
        return result.future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the loop, at the end of a step: its jobs to the writer, as one queue entry."""
        jobs = self._handoff.pop(loop, None)
        if not jobs:
            return
        if self._thread.is_alive():
            self._queue.put(jobs)
            return
        for _job, result in jobs:
            if not result.future.done():
                result.future.set_exception(RuntimeError("the store is closed"))

    def run(self, job: Callable[[C], T]) -> T:
        """Submit and wait."""
        return self.submit(job).result()

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def _run(self) -> None:
        try:
            self._conn = self._backend.connect()
        except BaseException as exc:  # surfaced to the constructor
            self._start_error = exc
            self._ready.set()
            return
        self._ready.set()
        stopping = False
        while not stopping:
            # An entry is one job, the jobs of one event loop step (a list), or _STOP.
            first = self._queue.get()
            batch: list[Any] = first if type(first) is list else [first]
            started = time.perf_counter()
            # Take the write lock before gathering the batch: jobs that come in while another
            # process holds the lock join this transaction instead of waiting for the next.
            began = batch[0] is not _STOP and self._begin_early()
            while len(batch) < self._max_batch:
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
                if type(entry) is list:
                    batch += entry
                else:
                    batch.append(entry)
            if _STOP in batch:
                stopping = True
                batch = [item for item in batch if item is not _STOP]
            if batch:
                committed = self._run_batch(batch, began)
                _LoopResult.deliver([fut for _job, fut in batch])
                if not committed:
                    self._reconnect_if_broken()
                    continue
                if self._on_commit is not None:
                    self._observe(len(batch), time.perf_counter() - started)
                self._housekeeping()
        _close(self._conn)

    def _observe(self, jobs: int, seconds: float) -> None:
        assert self._on_commit is not None
        try:
            self._on_commit(jobs, seconds)
        except Exception:
            log.exception("observing a store commit failed")

    def _housekeeping(self) -> None:
        """``after_commit``, once a batch's callers have their answers: it delays no one."""
        try:
            self._backend.after_commit(self._conn)
        except Exception:
            log.exception("store housekeeping after a commit failed; will try again")

    def _reconnect_if_broken(self) -> bool:
        """Replace a connection that broke (server restart, network); True if replaced."""
        if self._backend.healthy(self._conn):
            return False
        log.warning("store connection lost: reconnecting")
        try:
            fresh = self._backend.connect()
        except Exception as exc:
            log.error("store reconnect failed, trying again at the next write: %s", exc)
            return False
        _close(self._conn)
        self._conn = fresh
        return True

    def _begin_early(self) -> bool:
        """Begin the next transaction now; False if that failed (the batch then tries again)."""
        try:
            self._begin_or_reconnect()
        except Exception:
            return False
        return True

    def _begin_or_reconnect(self) -> None:
        # A connection that died while idle is found out only here; nothing has run yet, so
        # the batch can go on over a new one.
        try:
            self._backend.begin(self._conn)
        except Exception:
            if not self._reconnect_if_broken():
                raise
            self._backend.begin(self._conn)

    def _run_batch(self, batch: list[_Entry], began: bool) -> bool:
        """Run and commit one batch (in the transaction begun already, if ``began``); False if
        the transaction failed as a whole."""
        live = [(job, fut) for job, fut in batch if fut.set_running_or_notify_cancel()]
        try:
            try:
                results = self._run_transaction(live, bulk=True, began=began)
            except _BulkFailed as failed:
                log.warning("batched write failed (%s): running its jobs one by one", failed)
                self._backend.rollback(self._conn)
                results = self._run_transaction(live, bulk=False)
        except Exception as exc:
            # The transaction itself failed (disk full, I/O error, lock, lost connection):
            # nothing of it is durable, so every caller is told, and none is acknowledged.
            log.error("store commit failed: %s", exc)
            try:
                self._backend.rollback(self._conn)
            except Exception:
                log.exception("rollback after a failed commit failed too")
            for _job, fut in live:
                if not fut.done():
                    failure = StoreUnavailable(f"the store could not commit: {exc}")
                    failure.__cause__ = exc
                    fut.set_exception(failure)
            return False
        for fut, ok, value in results:
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)
        return True

    def _run_transaction(
        self, live: list[_Entry], bulk: bool, began: bool = False
    ) -> list[_Result]:
        """Begin (unless ``began``), run every job, commit; with ``bulk``, batched jobs go to
        their runner."""
        if not began:
            self._begin_or_reconnect()
        conn = self._conn
        results: list[_Result] = []
        groups: dict[int, list[tuple[Batched[C], Future[Any]]]] = {}
        for job, fut in live:
            if bulk and isinstance(job, Batched):
                groups.setdefault(id(job.runner), []).append((job, fut))
            else:
                results.append(self._run_alone(conn, job, fut))
        for members in groups.values():
            try:
                values = members[0][0].runner.run_many(conn, [job.item for job, _ in members])
            except Exception as exc:
                raise _BulkFailed(exc) from exc
            results += [
                (fut, not isinstance(v, Exception), v)
                for (_, fut), v in zip(members, values, strict=True)
            ]
        self._backend.commit(conn)
        return results

    def _run_alone(self, conn: C, job: Callable[[C], Any], fut: Future[Any]) -> _Result:
        self._backend.savepoint(conn, "SAVEPOINT j")
        try:
            value = job(conn)
        except Exception as exc:
            self._backend.savepoint(conn, "ROLLBACK TO j")
            self._backend.savepoint(conn, "RELEASE j")
            return (fut, False, exc)
        self._backend.savepoint(conn, "RELEASE j")
        return (fut, True, value)


class _LoopResult(Generic[T]):
    """Where the writer puts the outcome of a job submitted from an event loop.

    It answers the few calls the writer makes on a concurrent Future, keeps the outcome, and
    :meth:`deliver` passes the outcomes of a batch to their loops, one callback per loop.
    """

    __slots__ = ("future", "loop", "outcome")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[T] = loop.create_future()
        self.outcome: tuple[bool, Any] | None = None

    def set_running_or_notify_cancel(self) -> bool:
        # A caller that gave up before its job started (its request was cancelled) is skipped,
        # as a cancelled concurrent Future would be. Reading the state from this thread is safe.
        return not self.future.cancelled()

    def done(self) -> bool:
        return self.outcome is not None

    def set_result(self, value: Any) -> None:
        self.outcome = (True, value)

    def set_exception(self, exc: BaseException) -> None:
        self.outcome = (False, exc)

    @staticmethod
    def deliver(futures: list[Any]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_LoopResult[Any]]] = {}
        for fut in futures:
            if isinstance(fut, _LoopResult) and fut.outcome is not None:
                by_loop.setdefault(fut.loop, []).append(fut)
        for loop, results in by_loop.items():
            # A closed loop raises RuntimeError: nobody waits there any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, results)


def _settle(results: list[_LoopResult[Any]]) -> None:
    """On the loop: resolve the futures of a batch (those whose caller still waits)."""
    for result in results:
        if result.future.done() or result.outcome is None:
            continue
        ok, value = result.outcome
        if ok:
            result.future.set_result(value)
        else:
            result.future.set_exception(value)


class _BulkFailed(Exception):
    """A BatchRunner raised: the transaction is redone with its jobs run one by one."""


def _close(conn: object) -> None:
    close = getattr(conn, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            log.exception("closing a store connection failed")
