"""What only PostgresStore does, above all across processes: several stores on one database, as
several servers run.

Each PostgresStore has its own connections and writer thread, so two of them in one test behave
as two processes do towards the database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from supplylake.store import open_store
from supplylake.store.base import AppendResult, DatasetRef, PendingQuotaExceeded, TokenConflict
from supplylake.store.postgres import PostgresStore
from supplylake.store.postgres.append import PostgresAppend
from supplylake.store.postgres.connection import PostgresConnection
from supplylake.store.sql import migrations, tokens

from .support import ARN, INST, batch_sizes, idem_key, make_instance, new_event, writer_paused

OTHER = "22222222-3333-4444-5555-666666666666"


@pytest.fixture
def stores(postgres_database: str) -> Iterator[tuple[PostgresStore, PostgresStore]]:
    a, b = PostgresStore(postgres_database), PostgresStore(postgres_database)
    a.create_instance(make_instance(), {}, ARN, None)
    a.create_instance(make_instance(OTHER), {}, ARN + "-other", None)
    yield a, b
    a.close()
    b.close()


def test_two_stores_racing_one_token_make_one_event(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = stores
    futures: list[tuple[Future[AppendResult], Future[AppendResult]]] = []
    for n in range(60):
        token = f"token-{n:04d}".ljust(40, "x")
        futures.append(
            (
                a.append_event(new_event(2 * n), idem_key(token), 10_000),
                b.append_event(new_event(2 * n + 1), idem_key(token), 10_000),
            )
        )
    for fa, fb in futures:
        ra, rb = fa.result(), fb.result()
        assert ra.event_id == rb.event_id and ra.position == rb.position
        assert [ra.replayed, rb.replayed].count(False) == 1
    assert len(a.list_events(INST, None, None, 1000)) == 60


def test_a_token_claimed_in_a_concurrent_transaction_is_replayed(postgres_database: str) -> None:
    """Without the writers' lock too: the second claim waits for the first and sees its row."""
    PostgresStore(postgres_database).close()  # creates the schema
    first = PostgresConnection(psycopg.connect(postgres_database, autocommit=True))
    second = PostgresConnection(psycopg.connect(postgres_database, autocommit=True))
    try:
        first.execute("BEGIN")
        assert tokens.claim_token(first, idem_key("t" * 40), "event-1") is None
        second.execute("BEGIN")
        with ThreadPoolExecutor(1) as pool:
            racing = pool.submit(tokens.claim_token, second, idem_key("t" * 40), "event-2")
            threading.Event().wait(0.3)
            assert not racing.done()  # waits on the first transaction's row
            first.execute("COMMIT")
            assert racing.result(10) == "event-1"
        second.execute("COMMIT")
        with pytest.raises(TokenConflict):
            tokens.claim_token(second, idem_key("t" * 40, "h2"), "event-4")
    finally:
        first.close()
        second.close()


def test_positions_follow_commit_order_across_stores(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    """A reader never finds an event below a position it has already read past.

    The stores write to different instances, so no row lock orders their transactions: only
    the writers' advisory lock does.
    """
    a, b = stores
    refs = [DatasetRef(INST, "default", "orders"), DatasetRef(OTHER, "default", "stock")]
    done = threading.Event()
    violations: list[str] = []
    polls = 0

    def check(seen: set[int], now: set[int]) -> None:
        late = {p for p in now - seen if seen and p < max(seen)}
        if late:
            violations.append(f"{sorted(late)[:5]} appeared below {max(seen)}")
        seen |= now

    def poll() -> None:
        nonlocal polls
        seen: list[set[int]] = [set(), set(), set()]
        with psycopg.connect(a.url, autocommit=True) as conn:
            while not done.is_set() or polls < 3:
                for i, ref in enumerate(refs):
                    check(seen[i], {e.position for e in a.pending_events(ref, 100_000)})
                check(seen[2], {r[0] for r in conn.execute("SELECT position FROM sl_events")})
                polls += 1

    def send(store: PostgresStore, ref: DatasetRef, base: int) -> None:
        for wave in range(0, 400, 20):  # many commits, so that the reader polls in between
            futures = [
                store.append_event(new_event(base + n, ref.name, ref.instance_id), None, 100_000)
                for n in range(wave, wave + 20)
            ]
            for f in futures:
                f.result()

    reader = threading.Thread(target=poll)
    reader.start()
    with ThreadPoolExecutor(4) as pool:
        jobs = [
            pool.submit(send, s, ref, 1000 * i)
            for i, (s, ref) in enumerate(zip((a, b, a, b), refs * 2, strict=True))
        ]
        for job in jobs:
            job.result()
    done.set()
    reader.join()
    assert violations == []
    assert [len(a.pending_events(ref, 100_000)) for ref in refs] == [800, 800]


def test_the_pending_quota_holds_across_stores(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    a, b = stores
    futures = [
        store.append_event(new_event(n + 1000 * i), None, 50)
        for n in range(60)
        for i, store in enumerate((a, b))
    ]
    outcomes: list[Any] = []
    for f in futures:
        try:
            outcomes.append(f.result())
        except PendingQuotaExceeded:
            outcomes.append(None)
    assert sum(o is not None for o in outcomes) == 50


def test_servers_starting_together_migrate_once(postgres_database: str) -> None:
    barrier = threading.Barrier(4)

    def start() -> PostgresStore:
        barrier.wait()
        return PostgresStore(postgres_database)

    with ThreadPoolExecutor(4) as pool:
        opened = list(pool.map(lambda _: start(), range(4)))
    for s in opened:
        s.close()
    with psycopg.connect(postgres_database) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM sl_schema_version")]
    assert versions == list(range(1, len(migrations.MIGRATIONS) + 1))


def test_batched_appends_commit_in_few_statements(
    stores: tuple[PostgresStore, PostgresStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = stores
    sizes = batch_sizes(monkeypatch, PostgresAppend)
    with writer_paused(a):
        futures = [a.append_event(new_event(n), None, 1000) for n in range(200)]
    positions = [f.result().position for f in futures]
    assert sizes == [200]
    assert positions == sorted(positions) and len(set(positions)) == 200


def test_a_failing_batch_runs_again_one_append_at_a_time(
    stores: tuple[PostgresStore, PostgresStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = stores

    def broken(self: PostgresAppend, conn: Any, items: Any) -> list[Any]:
        conn.raw.execute("INSERT INTO sl_tokens VALUES ('s', 't', 'h', 'r', 0)")
        raise psycopg.errors.InternalError("injected")

    monkeypatch.setattr(PostgresAppend, "run_many", broken)
    with writer_paused(a):
        futures = [a.append_event(new_event(n), idem_key(f"tok{n}"), 2) for n in range(4)]
    results = [f.exception() or f.result() for f in futures]
    assert [type(r).__name__ for r in results] == ["AppendResult"] * 2 + [
        "PendingQuotaExceeded"
    ] * 2
    with psycopg.connect(a.url) as conn:
        assert conn.execute("SELECT count(*) FROM sl_tokens WHERE scope = 's'").fetchone() == (0,)
    # The refused appends kept neither their tokens nor a count.
    assert not a.append_event(new_event(3), idem_key("tok3"), 3).result().replayed


def test_the_writer_and_readers_reconnect_after_losing_their_connections(
    stores: tuple[PostgresStore, PostgresStore], postgres_url: str
) -> None:
    a, _ = stores
    assert a.get_instance(INST) is not None  # a pooled reader connection exists now
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (a.url.rsplit("/", 1)[1],),
        )
    assert a.append_event(new_event(1), None, 10).result().position > 0
    assert a.get_instance(INST) is not None


def test_the_event_rate_limit_holds_across_stores(
    stores: tuple[PostgresStore, PostgresStore],
) -> None:
    """Two API processes draw on one bucket: together they admit no more than it holds."""
    import asyncio

    from supplylake.service.limits import SharedRateLimiter

    async def admitted(store: PostgresStore) -> int:
        limiter = SharedRateLimiter(store, rate=0.0, burst=300, slice_seconds=0.1)
        answers = await asyncio.gather(*(limiter.acquire(INST) for _ in range(400)))
        return sum(answers)

    with ThreadPoolExecutor(2) as pool:
        counts = list(pool.map(lambda s: asyncio.run(admitted(s)), stores))
    assert sum(counts) == 300, counts


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_open_store_picks_postgres_by_url(postgres_database: str, scheme: str) -> None:
    s = open_store(scheme + "://" + postgres_database.split("://", 1)[1])
    try:
        assert isinstance(s, PostgresStore)
        assert s.secret("x") == s.secret("x")
    finally:
        s.close()
