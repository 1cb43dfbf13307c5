"""A clock the test moves by hand, so time-dependent code is checked without sleeping."""

from __future__ import annotations


class ManualClock:
    """Answers ``now`` when called; the test sets or advances ``now`` itself."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
