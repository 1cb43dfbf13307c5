"""The batched append: the outline both backends follow, their SQL in the hooks.

The group committer hands a backend's :class:`BatchedAppend` every append of a transaction at
once (see :mod:`supplylake.store.groupcommit`). The outcome of each must be the one it would
have had alone, in submission order: a replay or TokenConflict for a live token, NotFound,
PendingQuotaExceeded once the counter reaches the quota, else a new position. An append whose
token an earlier append of the same batch used runs afterwards, alone, in a savepoint.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from supplylake.store.base import (
    AppendResult,
    IdempotencyKey,
    NewEvent,
    NotFound,
    PendingQuotaExceeded,
    StoreError,
    TokenConflict,
)
from supplylake.store.codec import PACK_FROM, Stored, pack
from supplylake.store.sql.connection import Connection
from supplylake.store.sql.events import append_event

C = TypeVar("C", bound=Connection)


@dataclass(frozen=True)
class AppendItem:
    event: NewEvent
    idem: IdempotencyKey | None
    max_pending: int
    #: The event's payload as stored (see store.codec), packed before the job reaches the writer.
    stored: Stored


def append_item(event: NewEvent, idem: IdempotencyKey | None, max_pending: int) -> AppendItem:
    return AppendItem(event, idem, max_pending, pack(event.data))


async def append_item_async(
    event: NewEvent, idem: IdempotencyKey | None, max_pending: int
) -> AppendItem:
    """:func:`append_item` for a caller on an event loop: a large payload is packed on a thread
    (LZ4 in pyarrow lets go of the GIL), not on the loop."""
    data = event.data
    stored = pack(data) if len(data) < PACK_FROM else await asyncio.to_thread(pack, data)
    return AppendItem(event, idem, max_pending, stored)


class ClaimRaced(StoreError):
    """A token checked as free was live when claimed: redo the batch one append at a time."""


def token_key(idem: IdempotencyKey) -> tuple[str, str]:
    return (idem.scope, idem.token)


def split_repeated_tokens(items: Sequence[AppendItem]) -> tuple[list[int], list[int]]:
    """Indexes of the appends to run together, and of those repeating an earlier one's token."""
    seen: set[tuple[str, str]] = set()
    fresh: list[int] = []
    later: list[int] = []
    for i, item in enumerate(items):
        if item.idem is not None:
            key = token_key(item.idem)
            if key in seen:
                later.append(i)
                continue
            seen.add(key)
        fresh.append(i)
    return fresh, later


def answer_live_tokens(
    items: Sequence[AppendItem],
    fresh: list[int],
    live: dict[tuple[str, str], tuple[str, str]],
    positions: Callable[[list[str]], dict[str, int]],
    results: list[Any],
) -> list[int]:
    """Answer the appends whose token is live (``live``: key → request hash, event id); return
    the others. ``positions`` reads the positions of the earlier events."""
    replayed: dict[int, str] = {}
    for i in fresh:
        idem = items[i].idem
        found = live.get(token_key(idem)) if idem is not None else None
        if idem is None or found is None:
            continue
        request_hash, event_id = found
        if request_hash != idem.request_hash:
            results[i] = TokenConflict(idem.token)
        else:
            replayed[i] = event_id
    if replayed:
        known = positions(sorted(set(replayed.values())))
        for i, event_id in replayed.items():
            results[i] = AppendResult(event_id, known.get(event_id, 0), replayed=True)
    return [i for i in fresh if results[i] is None]


def count_against_quota(
    items: Sequence[AppendItem], fresh: list[int], pending: dict[str, int], results: list[Any]
) -> tuple[list[int], Counter[str]]:
    """Check each append against its instance's quota, in order (``pending``: the counters)."""
    accepted: list[int] = []
    added: Counter[str] = Counter()
    for i in fresh:
        item = items[i]
        instance_id = item.event.instance_id
        if instance_id not in pending:
            results[i] = NotFound(instance_id)
        elif pending[instance_id] + added[instance_id] >= item.max_pending:
            results[i] = PendingQuotaExceeded(instance_id)
        else:
            added[instance_id] += 1
            accepted.append(i)
    return accepted, added


class BatchedAppend(ABC, Generic[C]):
    """The group committer's BatchRunner of appends on a backend's connection ``C``.

    Appends repeating a token already in the batch wait for the rest; live tokens answer their
    first event; the others count against their instance's quota in order; those accepted are
    written together; then the repeats go one by one, each in its own savepoint.
    """

    def run_one(self, conn: C, item: AppendItem) -> AppendResult:
        return append_event(conn, item.event, item.idem, item.max_pending, item.stored)

    def run_many(self, conn: C, items: Sequence[AppendItem]) -> list[Any]:
        results: list[Any] = [None] * len(items)
        fresh, later = split_repeated_tokens(items)
        fresh = self.replay_live_tokens(conn, items, fresh, results)
        accepted, added = self.count(conn, items, fresh, results)
        if accepted:
            self.insert(conn, items, accepted, added, results)
        for i in later:
            results[i] = self._alone(conn, items[i])
        return results

    def _alone(self, conn: C, item: AppendItem) -> Any:
        """One append in its own savepoint: its result, or its domain error."""
        self.savepoint(conn, "SAVEPOINT a")
        try:
            result = self.run_one(conn, item)
        except StoreError as exc:
            self.savepoint(conn, "ROLLBACK TO a")
            self.savepoint(conn, "RELEASE a")
            return exc
        self.savepoint(conn, "RELEASE a")
        return result

    @abstractmethod
    def replay_live_tokens(
        self, conn: C, items: Sequence[AppendItem], fresh: list[int], results: list[Any]
    ) -> list[int]:
        """Answer the appends whose token is live; the others."""

    @abstractmethod
    def count(
        self, conn: C, items: Sequence[AppendItem], fresh: list[int], results: list[Any]
    ) -> tuple[list[int], Counter[str]]:
        """The appends within their quota, in order, and what to add to each instance's count."""

    @abstractmethod
    def insert(
        self,
        conn: C,
        items: Sequence[AppendItem],
        accepted: list[int],
        added: Counter[str],
        results: list[Any],
    ) -> None:
        """Write the accepted appends, claim their tokens, move the counters; fill results."""

    @abstractmethod
    def savepoint(self, conn: C, statement: str) -> None:
        """Run a savepoint statement (``SAVEPOINT``, ``ROLLBACK TO``, ``RELEASE``)."""
