"""Records and helpers the store tests share."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from supplylake.schema.types import Operation
from supplylake.store.base import IdempotencyKey, Instance, NewEvent, Store
from supplylake.store.sql.append import BatchedAppend

T0 = datetime(2026, 1, 1, tzinfo=UTC)
INST = "11111111-2222-3333-4444-555555555555"
ARN = f"arn:aws:scn:us-east-1:000000000000:instance/{INST}"


def make_instance(instance_id: str = INST, account: str = "000000000000", **kw: object) -> Instance:
    values: dict[str, object] = dict(
        instance_id=instance_id,
        account_id=account,
        region="us-east-1",
        state="Active",
        created_at=T0,
        updated_at=T0,
    )
    values.update(kw)
    return Instance(**values)  # type: ignore[arg-type]


def new_event(n: int, dataset: str = "orders", instance_id: str = INST) -> NewEvent:
    return NewEvent(
        event_id=f"00000000-0000-0000-0000-{n:012d}",
        instance_id=instance_id,
        event_type="scn.data.dataset",
        event_group_id=f"g{n % 3}",
        event_timestamp=T0,
        namespace="default",
        dataset=dataset,
        operation=Operation.UPSERT,
        data=f'{{"id": "{n}"}}',
        received_at=T0,
    )


def idem_key(token: str, digest: str = "h1", ttl: timedelta = timedelta(hours=8)) -> IdempotencyKey:
    return IdempotencyKey("scope", token, digest, datetime.now(UTC) + ttl)


def payload_count(store: Store) -> int:
    """How many event payloads the store holds."""
    count: int = store._read(  # type: ignore[attr-defined]
        lambda c: c.execute("SELECT count(*) FROM sl_event_data").fetchone()[0]
    )
    return count


def batch_sizes(monkeypatch: pytest.MonkeyPatch, append: type[BatchedAppend[Any]]) -> list[int]:
    """The sizes of the batches ``append`` runs from now on, filled in as it runs them."""
    sizes: list[int] = []
    run_many = append.run_many

    def counting(self: BatchedAppend[Any], conn: Any, items: Any) -> list[Any]:
        sizes.append(len(items))
        return run_many(self, conn, items)

    monkeypatch.setattr(append, "run_many", counting)
    return sizes


@contextlib.contextmanager
def writer_paused(store: Store) -> Iterator[None]:
    """Hold the store's writer, so that what is submitted meanwhile commits as one batch."""
    started, release = threading.Event(), threading.Event()
    held = store._committer.submit(lambda _c: (started.set(), release.wait(10)))  # type: ignore[attr-defined]
    started.wait(10)
    try:
        yield
    finally:
        release.set()
        held.result()
