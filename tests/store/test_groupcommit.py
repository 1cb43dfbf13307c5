"""The group committer's hook after a commit: it runs once callers have their answers."""

from __future__ import annotations

import threading
from typing import Any

from supplylake.store._groupcommit import GroupCommitter


class _Conn:
    def __init__(self) -> None:
        self.log: list[str] = []


def _committer(after: Any) -> tuple[GroupCommitter[_Conn], _Conn]:
    conn = _Conn()
    committer: GroupCommitter[_Conn] = GroupCommitter(
        connect=lambda: conn,
        begin=lambda c: c.log.append("begin"),
        savepoint=lambda c, sql: None,
        commit=lambda c: c.log.append("commit"),
        rollback=lambda c: c.log.append("rollback"),
        after_commit=after,
    )
    return committer, conn


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
