"""CPU per request of supplylake's ASGI app driven in process: no HTTP server, no socket.

Run: ``uv run python bench/bench_asgi.py [--kind event] [--requests 6000] [--concurrency 64]``.

The same signed requests as ``bench_intake.py`` (``_workloads.py``) go straight to the app that
``serve`` runs, on uvloop, with a real SQLite store (durable group commit) in a temporary folder.
It prints requests/s and the CPU per request of the whole process and of each of its threads
(the event loop, the store's writer, validation threads). On a shared machine this is steadier
than the HTTP benchmark; the client's signing (~20 µs per 1 KB event) is counted in.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

from _workloads import Target, Workload, factory
from supplylake.config import Settings
from supplylake.server import assemble
from supplylake.store.base import Instance

_KEY, _SECRET = "AKIABENCHASGI0000001", "s" * 40


def _threads_cpu() -> dict[str, tuple[str, float, float]]:
    """User and system seconds of each thread of this process (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[tid] = (name, int(fields[11]) / tick, int(fields[12]) / tick)
    return out


def _scope(head: bytes) -> dict[str, Any]:
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ")
    path, _, query = target.partition("?")
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip().lower().encode("latin-1"), value.strip().encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8642),
    }


async def _run(kind: str, requests: int, concurrency: int) -> None:
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp(prefix="bench-asgi-")),
        loader=False,
        event_rate=1e9,
        event_burst=10**9,
        max_pending_events=10**9,
        access_key_id=_KEY,
        secret_access_key=_SECRET,
        log_level="warning",
    )
    assembled = assemble(settings)
    app = assembled.app
    instance_id = str(uuid.uuid4())
    at = datetime.now(UTC)
    inst = Instance(instance_id, settings.account_id, "us-east-1", "Active", at, at)
    assembled.services.store.create_instance(inst, {}, f"arn:{instance_id}", None)
    lifespan: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.Event()
    await lifespan.put({"type": "lifespan.startup"})

    async def life_send(message: dict[str, Any]) -> None:
        started.set()

    life = asyncio.create_task(app({"type": "lifespan", "state": {}}, lifespan.get, life_send))
    await started.wait()
    workload = Workload(kind, instance_id if kind != "health" else "", tag=f"asgi-{time.time()}")
    make, records = factory(Target("127.0.0.1", 8642, _KEY, _SECRET), workload, 0)
    statuses: dict[int, int] = {}

    async def one() -> None:
        head, *parts = make()
        pending = [{"type": "http.request", "body": b"".join(parts), "more_body": False}]

        async def receive() -> dict[str, Any]:
            if pending:
                return pending.pop()
            await asyncio.Event().wait()  # no disconnect while the app answers
            raise AssertionError

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses[message["status"]] = statuses.get(message["status"], 0) + 1

        await app(_scope(head), receive, send)

    async def client(n: int) -> None:
        for _ in range(n):
            await one()

    for _ in range(20):  # warm-up: caches, statement cache, validators
        await one()
    statuses.clear()
    per_client = max(1, requests // concurrency)
    total = per_client * concurrency
    before, times, wall = _threads_cpu(), os.times(), time.perf_counter()
    await asyncio.gather(*(client(per_client) for _ in range(concurrency)))
    wall = time.perf_counter() - wall
    after, times_after = _threads_cpu(), os.times()
    user = (times_after.user - times.user) / total * 1e6
    system = (times_after.system - times.system) / total * 1e6
    print(
        f"{kind}: {total:,} requests, {total / wall:,.0f}/s"
        + (f" = {total * records / wall:,.0f} records/s" if records > 1 else "")
        + f"; CPU per request {user + system:,.0f} µs (user {user:,.0f}, system {system:,.0f});"
        f" statuses {statuses}"
    )
    for tid, (name, u, s) in sorted(after.items()):
        u0, s0 = before.get(tid, (name, 0.0, 0.0))[1:]
        if (u - u0) + (s - s0) > 0:
            print(
                f"  thread {tid} ({name}): user {(u - u0) / total * 1e6:,.0f} µs,"
                f" system {(s - s0) / total * 1e6:,.0f} µs per request"
            )
    await lifespan.put({"type": "lifespan.shutdown"})
    await life


def main() -> None:
    parser = argparse.ArgumentParser(description="CPU per request of the ASGI app, in process.")
    parser.add_argument("--kind", choices=["health", "event", "bulk"], default="event")
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    uvloop.install()
    asyncio.run(_run(args.kind, args.requests, args.concurrency))


if __name__ == "__main__":
    main()
