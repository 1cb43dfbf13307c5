"""The group committer: its hook after a commit, and how it gathers a batch."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from supplylake.store.groupcommit import CommitBackend, GroupCommitter


class _Conn:
    def __init__(self) -> None:
        self.log: list[str] = []


class _Backend(CommitBackend[_Conn]):
    """Logs what the committer asks of it; ``begin`` and ``after`` replace those steps."""

    def __init__(self, conn: _Conn, begin: Any, after: Any) -> None:
        self._conn, self._begin, self._after = conn, begin, after

    def connect(self) -> _Conn:
        return self._conn

    def begin(self, conn: _Conn) -> None:
        if self._begin is not None:
            self._begin(conn)
        else:
            conn.log.append("begin")

    def savepoint(self, conn: _Conn, statement: str) -> None:
        pass

    def commit(self, conn: _Conn) -> None:
        conn.log.append("commit")

    def rollback(self, conn: _Conn) -> None:
        conn.log.append("rollback")

    def healthy(self, conn: _Conn) -> bool:
        return True

    def after_commit(self, conn: _Conn) -> None:
        if self._after is not None:
            self._after(conn)


def _committer(
    after: Any = None, begin: Any = None, conn: _Conn | None = None
) -> tuple[GroupCommitter[_Conn], _Conn]:
    conn = conn or _Conn()
    return GroupCommitter(_Backend(conn, begin, after)), conn


def test_after_commit_runs_once_the_batch_is_answered() -> None:
    answered = threading.Event()
    seen: list[bool] = []

    def after(conn: _Conn) -> None:
        seen.append(answered.wait(5))
        conn.log.append("after")

    committer, conn = _committer(after)
    try:
        fut = committer.submit(lambda c: "done")
        assert fut.result(5) == "done"
        answered.set()
        committer.run(lambda c: None)  # the writer has finished with the first batch by now
    finally:
        committer.close()
    assert seen[0] is True
    assert conn.log[:3] == ["begin", "commit", "after"]


def test_a_failing_after_commit_is_logged_and_the_writer_goes_on() -> None:
    def after(conn: _Conn) -> None:
        raise OSError("checkpoint failed")

    committer, _ = _committer(after)
    try:
        assert committer.run(lambda c: 1) == 1
        assert committer.run(lambda c: 2) == 2
    finally:
        committer.close()


def test_jobs_that_come_while_the_lock_is_awaited_join_that_transaction() -> None:
    """The writer takes the write lock first and gathers the batch after: a job submitted while
    another writer holds the lock commits with the job that was waiting, not one round later."""
    conn = _Conn()
    lock = threading.Lock()
    waiting = threading.Event()

    def begin(c: _Conn) -> None:
        waiting.set()
        with lock:  # another process's transaction, held until the test lets go
            c.log.append("begin")

    committer, _ = _committer(begin=begin, conn=conn)
    try:
        lock.acquire()
        first = committer.submit(lambda c: c.log.append("first"))
        assert waiting.wait(5)
        second = committer.submit(lambda c: c.log.append("second"))
        lock.release()
        first.result(5)
        second.result(5)
    finally:
        committer.close()
    assert conn.log == ["begin", "first", "second", "commit"]


def test_a_failed_early_begin_is_tried_again_and_reported_to_the_batch() -> None:
    conn = _Conn()
    fails = [True, True]  # the early begin, then the batch's own try

    def begin(c: _Conn) -> None:
        if fails:
            fails.pop()
            raise OSError("database is locked")
        c.log.append("begin")

    committer, _ = _committer(begin=begin, conn=conn)
    try:
        failed = committer.submit(lambda c: "never")
        try:
            failed.result(5)
        except Exception as exc:
            assert "could not commit" in str(exc)
            assert "database is locked" in str(exc)
        else:
            raise AssertionError("a batch whose transaction never began was answered")
        assert committer.run(lambda c: "then") == "then"
    finally:
        committer.close()
    assert "never" not in conn.log
    assert conn.log[-2:] == ["begin", "commit"]


def test_the_jobs_of_one_event_loop_step_reach_the_writer_together_in_order() -> None:
    committer, conn = _committer()
    ran = threading.Event()

    async def submit_all() -> tuple[bool, list[Any]]:
        futures = [
            committer.submit_async(lambda c, i=i: c.log.append(f"job {i}")) for i in range(5)
        ]
        futures.append(committer.submit_async(lambda c: ran.set()))
        # Still the same step of the loop (this blocks it): nothing has been handed over yet,
        # though the writer is idle and would run a job handed to it at once.
        early = ran.wait(0.2)
        return early, await asyncio.gather(*futures)

    try:
        early, _ = asyncio.run(submit_all())
    finally:
        committer.close()
    assert early is False
    assert conn.log == ["begin", *[f"job {i}" for i in range(5)], "commit"]


def test_jobs_handed_over_after_the_store_closed_are_refused() -> None:
    committer, _ = _committer()

    async def submit_then_close() -> BaseException | None:
        fut = committer.submit_async(lambda c: "never run")
        committer.close()  # before the loop step ends, so before the hand-over
        try:
            await fut
        except RuntimeError as exc:
            return exc
        return None

    refused = asyncio.run(submit_then_close())
    assert isinstance(refused, RuntimeError)
    assert "closed" in str(refused)
