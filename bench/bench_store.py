"""Durable appends per second through the store API: SQLite against PostgreSQL.

Run: ``uv run python bench/bench_store.py [--duration 5] [--threads 1,16,64] [--processes 2]``.

No server: each process opens the store (``SqliteStore`` on a fresh file, ``PostgresStore`` on a
private cluster started from the machine's PostgreSQL binaries, or ``--postgres-url``) and runs
N threads that each append one ~1 KB event and wait for its commit, again and again (a closed
loop, as request handlers do). ``--processes`` runs that many processes on the same PostgreSQL
database, as several API servers would. Both backends commit durably: SQLite WAL with
synchronous=FULL, PostgreSQL with synchronous_commit on (fsync on).

Event ids are made as the server makes them (time-ordered, version 7 UUIDs);
``--event-ids random`` uses version 4 UUIDs instead, to show what ordered ids save: a random id
lands on a random page of the unique index, so each event of a commit dirties a page of its own.

It prints appends/s, p50 and p99 commit latency, and the events per commit transaction.
It never fails on a figure.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from supplylake.schema.types import Operation
from supplylake.service.ids import time_ordered_uuid
from supplylake.store import open_store
from supplylake.store.base import Instance, NewEvent

INSTANCE = "4f1c2e0a-9b7d-4c3e-8f6a-5b4c3d2e1f0a"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
DATA = '[{"id": "%s", "pad": "' + "x" * 960 + '"}]'


def _random_uuid() -> str:
    return str(uuid.uuid4())


ID_MAKERS: dict[str, Callable[[], str]] = {"ordered": time_ordered_uuid, "random": _random_uuid}


def _event(n: int, make_id: Callable[[], str]) -> NewEvent:
    return NewEvent(
        event_id=make_id(),
        instance_id=INSTANCE,
        event_type="scn.data.inboundorderline",
        event_group_id=f"g{n % 97}",
        event_timestamp=T0,
        namespace="asc",
        dataset="inbound_order_line",
        operation=Operation.UPSERT,
        data=DATA % n,
        received_at=datetime.now(UTC),
    )


def _prepare(url: str) -> None:
    store = open_store(url)
    try:
        if store.get_instance(INSTANCE) is None:
            inst = Instance(INSTANCE, "000000000000", "us-east-1", "Active", T0, T0)
            store.create_instance(inst, {}, f"arn:bench:{INSTANCE}", None)
    finally:
        store.close()


def _worker(
    url: str, threads: int, warmup: float, duration: float, ids: str, start: Any, out: Any
) -> None:
    """One process: ``threads`` closed loops; puts (count, latencies in s) on ``out``."""
    store = open_store(url)
    make_id = ID_MAKERS[ids]
    start.wait()
    begin = time.perf_counter() + warmup
    end = begin + duration
    counts = [0] * threads
    latencies: list[list[float]] = [[] for _ in range(threads)]

    def loop(t: int) -> None:
        n = t * 10_000_000
        while True:
            sent = time.perf_counter()
            if sent >= end:
                return
            store.append_event(_event(n, make_id), None, 10**12).result()
            n += 1
            if sent >= begin:
                counts[t] += 1
                latencies[t].append(time.perf_counter() - sent)

    workers = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    store.close()
    out.put((sum(counts), [x for lat in latencies for x in lat]))


def _transactions(url: str) -> int | None:
    """Committed transactions of the PostgreSQL database so far (None on SQLite)."""
    if not url.startswith("postgresql"):
        return None
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else None


def run(
    url: str, processes: int, threads: int, warmup: float, duration: float, ids: str = "ordered"
) -> dict[str, Any]:
    _prepare(url)
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(url, threads, warmup, duration, ids, start, out))
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    time.sleep(1.0)  # let every process open its store
    start.set()
    time.sleep(warmup)
    before = _transactions(url)
    time.sleep(duration)
    after = _transactions(url)
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join()
    count = sum(c for c, _ in results)
    lat = sorted(x for _, xs in results for x in xs)
    per_commit = None
    if before is not None and after is not None and after > before:
        per_commit = count / (after - before)  # over the same window, roughly
    return {
        "appends_s": count / duration,
        "p50_ms": 1000 * statistics.median(lat) if lat else float("nan"),
        "p99_ms": 1000 * lat[int(0.99 * (len(lat) - 1))] if lat else float("nan"),
        "per_commit": per_commit,
    }


@contextlib.contextmanager
def _postgres(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from _postgres_cluster import create_database, postgres_cluster

    with postgres_cluster() as admin:
        yield create_database(admin, "bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--threads", default="1,16,64", help="comma-separated thread counts")
    parser.add_argument("--processes", type=int, default=2, help="PostgreSQL processes to add")
    parser.add_argument("--postgres-url", default=os.environ.get("SUPPLYLAKE_BENCH_PG"))
    parser.add_argument(
        "--event-ids", choices=sorted(ID_MAKERS), default="ordered", help="how event ids are made"
    )
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]

    rows: list[tuple[str, int, int, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-store-") as folder:
        for t in threads:
            url = f"sqlite:///{folder}/store-{t}.db"
            rows.append(
                ("sqlite", 1, t, run(url, 1, t, args.warmup, args.duration, args.event_ids))
            )
            print(_line(*rows[-1]), file=sys.stderr)
    with _postgres(args.postgres_url) as pg:
        for procs in sorted({1, args.processes}):
            for t in threads:
                rows.append(
                    (
                        "postgres",
                        procs,
                        t,
                        run(pg, procs, t, args.warmup, args.duration, args.event_ids),
                    )
                )
                print(_line(*rows[-1]), file=sys.stderr)
    print(
        f"\n{'backend':<9} {'procs':>5} {'threads':>7} {'appends/s':>10} {'p50 ms':>7}"
        f" {'p99 ms':>7} {'events/commit':>13}"
    )
    for row in rows:
        print(_line(*row))


def _line(backend: str, procs: int, threads: int, r: dict[str, Any]) -> str:
    per_commit = "" if r["per_commit"] is None else f"{r['per_commit']:.1f}"
    return (
        f"{backend:<9} {procs:>5} {threads:>7} {r['appends_s']:>10,.0f} {r['p50_ms']:>7.2f}"
        f" {r['p99_ms']:>7.2f} {per_commit:>13}"
    )


if __name__ == "__main__":
    main()
