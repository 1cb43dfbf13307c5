"""Freshness: time from an event's acknowledgement to its row being visible to a query.

Run: ``uv run python bench/bench_freshness.py [--rate 1000] [--duration 30] [--separate-loader]``.

A real ``supplylake serve`` (loader on, its default settings unless ``--loader-*`` are given;
with ``--separate-loader``, ``serve --no-loader`` plus one ``supplylake loader`` process) receives single-record events at ``--rate`` per second, open loop (sent when due, however the
server is doing), SigV4-signed over keep-alive HTTP/1.1 connections, round-robin over six
datasets: four custom datasets in ``default`` (two APPEND, two UPSERT over ``--key-space`` keys)
and two asc event types (``scn.data.inboundorder``, ``scn.data.inboundorderline``, UPSERT of new
orders), each event in one of ``--groups`` eventGroupIds. The client notes each event's
eventId and the wall time its 200 answer arrived (the acknowledgement).

Visibility is probed in a separate process that reads, every ``--probe-interval`` seconds, the
position each table's current Iceberg snapshot records (``Lake.last_position``: a catalog read
and a metadata file, no data files). The loader commits a batch's rows and the position of its
last event in one snapshot, so a query that loads the table at that moment sees every event of
the dataset up to that position. After the run the events' positions are read from the store
(``Store.list_events``); an event's visibility time is when the probe first saw its table at or
past its position. This overstates freshness by at most one probe interval plus one probe pass
(printed).

As cross-checks it also prints the time to SUCCEEDED (the store's ``applied_at``, written right
after the Iceberg commit: what a client polling GetDataIntegrationEvent would see), the time from
when each event was due to be sent (so intake delays show), and freshness per 5 s of sending (a
loader that cannot keep up shows as growing figures). It prints figures and never fails on them.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import multiprocessing
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from _lake_bench import (
    DATASET_EVENT,
    Busy,
    EventClient,
    active_instance,
    api_schema,
    event_body,
    percentile,
    record,
    signed_post,
    signer_for,
    small_schema,
)
from _workloads import Target, events_path
from supplylake.config import Settings
from supplylake.schema.asc import ASC_INTERNAL_FIELDS, asc_datasets, asc_event_types
from supplylake.schema.types import DatasetSchema, Operation
from supplylake.testing import child_pids, running_server

CUSTOM = [
    ("fresh_append_a", Operation.APPEND),
    ("fresh_append_b", Operation.APPEND),
    ("fresh_upsert_a", Operation.UPSERT),
    ("fresh_upsert_b", Operation.UPSERT),
]
#: Seconds of sending per line of the freshness-over-time table.
_SLICE = 5.0
ASC_TYPES = ["scn.data.inboundorder", "scn.data.inboundorderline"]


@dataclass(frozen=True)
class _Target:
    """Where an event goes: its table, its schema (as sent) and the request's fixed parts."""

    namespace: str
    name: str
    schema: DatasetSchema
    event_type: str
    operation: Operation
    arn: str | None = None
    key_space: int = 0  # 0: a new key per event
    instance_id: str = ""  # with --tables: the target's own instance

    def body(self, n: int, group: str) -> bytes:
        key = n % self.key_space if self.key_space else n
        data = orjson.dumps(record(self.schema, n, key)).decode()
        return event_body(self.event_type, data, group, self.arn, self.operation)


def _asc_schema(event_type: str) -> DatasetSchema:
    """The asc dataset's schema without the fields only the service fills."""
    s = asc_datasets()[asc_event_types()[event_type]]
    fields = tuple(f for f in s.fields if f.name not in ASC_INTERNAL_FIELDS)
    return DatasetSchema(s.name, fields, s.primary_keys)


# ---- the visibility probe (its own process) -------------------------------------------------


def _probe(
    data_dir: str,
    instance_id: str,
    tables: list[tuple[str, str]],
    interval: float,
    stop: Any,
    out: Any,
) -> None:
    """Note (table index, wall time, position) each time a table's position changes."""
    from supplylake.lake import TableNotFoundError, open_lake

    lake = open_lake(data_dir)
    seen = [0] * len(tables)
    changes: list[tuple[int, float, int]] = []
    passes: list[float] = []
    cpu, wall = time.process_time(), time.perf_counter()
    next_tick = wall
    while not stop.is_set():
        started = time.perf_counter()
        for i, (namespace, name) in enumerate(tables):
            try:
                position = lake.last_position(instance_id, namespace, name)
            except TableNotFoundError:
                position = 0
            if position != seen[i]:
                # The time after the read: the commit was visible by then (an upper bound).
                changes.append((i, time.time(), position))
                seen[i] = position
        passes.append(time.perf_counter() - started)
        next_tick += interval
        time.sleep(max(0.0, next_tick - time.perf_counter()))
    lake.close()
    out.put((changes, passes, (time.process_time() - cpu) / (time.perf_counter() - wall)))


# ---- the open-loop sender -------------------------------------------------------------------


@dataclass
class _Sent:
    due: list[float] = field(default_factory=list)  # perf_counter seconds
    ack_wall: list[float] = field(default_factory=list)  # time.time() at the 200 answer
    ack_latency: list[float] = field(default_factory=list)  # seconds from due to answer
    target: list[int] = field(default_factory=list)
    event_id: list[str] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)


class _Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send a request, read the answer (Content-Length bodies); reconnect when closed."""
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _send_open_loop(
    target: Target,
    instance_id: str,
    targets: list[_Target],
    rate: float,
    seconds: float,
    connections: int,
    groups: int,
) -> _Sent:
    signer = signer_for(target)
    paths = [events_path(x.instance_id or instance_id) for x in targets]
    sent = _Sent()
    due: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    clock = time.perf_counter

    async def consume(conn: _Connection) -> None:
        while (item := await due.get()) is not None:
            n, when = item
            t = n % len(targets)
            raw = signed_post(signer, target, paths[t], targets[t].body(n, f"g{n % groups}"))
            try:
                status, body = await conn.request(raw)
            except (OSError, asyncio.IncompleteReadError) as exc:
                conn.close()
                conn.writer = None
                sent.errors[type(exc).__name__] = sent.errors.get(type(exc).__name__, 0) + 1
                continue
            done = clock()
            if status != 200:
                key = f"{status} {body[:80]!r}"
                sent.errors[key] = sent.errors.get(key, 0) + 1
                continue
            sent.due.append(when)
            sent.ack_wall.append(time.time())
            sent.ack_latency.append(done - when)
            sent.target.append(t)
            sent.event_id.append(orjson.loads(body)["eventId"])

    conns = [_Connection(target.host, target.port) for _ in range(connections)]
    consumers = [asyncio.create_task(consume(c)) for c in conns]
    start = clock()
    end = start + seconds
    interval = 1.0 / rate
    n = 0
    next_due = start
    while (now := clock()) < end:
        while next_due <= now and next_due < end:
            due.put_nowait((n, next_due))
            n += 1
            next_due += interval
        await asyncio.sleep(max(0.0, next_due - clock()))
    for _ in consumers:
        due.put_nowait(None)
    await asyncio.gather(*consumers)
    for c in conns:
        c.close()
    return sent


def _run_sender(*args: Any) -> _Sent:
    try:
        import uvloop

        return uvloop.run(_send_open_loop(*args))
    except ImportError:
        return asyncio.run(_send_open_loop(*args))


# ---- set-up, waiting and figures ------------------------------------------------------------


def _setup(server: Any, key_space: int) -> tuple[str, list[_Target]]:
    client = server.client()
    instance_id = active_instance(client, "bench-freshness")
    targets = []
    for name, op in CUSTOM:
        schema = small_schema(name)
        arn = client.create_data_lake_dataset(
            instanceId=instance_id, namespace="default", name=name, schema=api_schema(schema)
        )["dataset"]["arn"]
        keys = key_space if op is Operation.UPSERT else 0
        targets.append(_Target("default", name, schema, DATASET_EVENT, op, arn, keys))
    for event_type in ASC_TYPES:
        schema = _asc_schema(event_type)
        targets.append(_Target("asc", schema.name, schema, event_type, Operation.UPSERT))
    return instance_id, targets


def _warm_up(
    server: Any, instance_id: str, targets: list[_Target], loader: subprocess.Popen[bytes] | None
) -> None:
    """One event per dataset, applied, so that pyiceberg is loaded and asc tables exist."""
    t = Target("127.0.0.1", server.port, server.access_key_id, server.secret_access_key)
    sender = EventClient(t, instance_id)
    ids = [sender.send(x.body(10**9 + i, "warm-up")) for i, x in enumerate(targets)]
    sender.close()
    client = server.client()
    deadline = time.monotonic() + 120
    for event_id in ids:
        while True:
            event = client.get_data_integration_event(instanceId=instance_id, eventId=event_id)
            status = event["event"]["datasetTargetDetails"]["datasetLoadExecution"]["status"]
            if status == "SUCCEEDED":
                break
            if loader is not None and loader.poll() is not None:
                log = (server.data_dir / "loader.log").read_text(errors="replace")
                raise RuntimeError(f"supplylake loader exited:\n{log[-3000:]}")
            if status == "FAILED" or time.monotonic() > deadline:
                raise RuntimeError(f"warm-up event {event_id} ended {status}: {event}")
            time.sleep(0.1)


def _wait_applied(store: Any, instance_id: str, timeout: float) -> dict[str, Any]:
    """Every event of the instance once none is IN_PROGRESS, by eventId."""
    deadline = time.monotonic() + timeout
    while True:
        events = store.list_events(instance_id, None, None, 10**7)
        pending = sum(e.status == "IN_PROGRESS" for e in events)
        if not pending:
            return {e.event_id: e for e in events}
        if time.monotonic() > deadline:
            raise RuntimeError(f"{pending} events still IN_PROGRESS after {timeout:g} s")
        time.sleep(0.2)


def _line(label: str, values: list[float]) -> str:
    v = sorted(values)
    return (
        f"{label:<34} p50 {percentile(v, 50):6.3f} s   p90 {percentile(v, 90):6.3f} s   "
        f"p99 {percentile(v, 99):6.3f} s   max {v[-1] if v else float('nan'):6.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Freshness from acknowledgement to visibility.")
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second, in all")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds sent, not counted")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--groups", type=int, default=500, help="distinct eventGroupIds")
    parser.add_argument("--key-space", type=int, default=2000, help="keys of UPSERT datasets")
    parser.add_argument("--probe-interval", type=float, default=0.1)
    parser.add_argument("--loader-batch-events", type=int, default=None)
    parser.add_argument("--loader-max-wait", type=float, default=None)
    parser.add_argument(
        "--separate-loader",
        action="store_true",
        help="serve --no-loader plus a `supplylake loader` process (default: loader in serve)",
    )
    parser.add_argument("--dir", default=None, help="data folder (default: a temp dir, removed)")
    parser.add_argument(
        "--tables",
        default=None,
        help="comma-separated table counts (e.g. 4,40,400): asc tables over count/4 instances, "
        "ack -> SUCCEEDED per count, instead of the six-dataset visibility run",
    )
    parser.add_argument("--loader-processes", type=int, default=None)
    args = parser.parse_args()

    settings: dict[str, Any] = {"event_rate": max(5000.0, 2 * args.rate)}
    if args.loader_batch_events is not None:
        settings["loader_batch_events"] = args.loader_batch_events
    if args.loader_max_wait is not None:
        settings["loader_max_wait_seconds"] = args.loader_max_wait
    defaults = Settings()
    batch = settings.get("loader_batch_events", defaults.loader_batch_events)
    wait = settings.get("loader_max_wait_seconds", defaults.loader_max_wait_seconds)
    if args.loader_processes is not None:
        settings["loader_processes"] = args.loader_processes
    if args.separate_loader:
        settings["loader"] = "false"
    if args.tables:
        print(
            f"supplylake freshness benchmark: {os.cpu_count()} cores, "
            f"Python {sys.version.split()[0]}; loader batch {batch} events, max wait {wait:g} s"
        )
        main_tables(args, [int(c) for c in args.tables.split(",")], settings)
        return
    data_dir = Path(args.dir or tempfile.mkdtemp(prefix="supplylake-fresh-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"supplylake freshness benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}"
    )
    where = (
        "its own `supplylake loader` process"
        if args.separate_loader
        else "the process serve starts"
    )
    print(
        f"{args.rate:,.0f} events/s open loop for {args.warmup:g} + {args.duration:g} s over "
        f"{args.connections} connections, {args.groups} eventGroupIds; loader in {where}, "
        f"batch {batch} events, max wait {wait:g} s; probe every {args.probe_interval:g} s"
    )
    try:
        with running_server(data_dir=data_dir, **settings) as server:
            run = _run(args, server, data_dir)
    finally:
        if args.dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)
    _report(args, run)


@contextlib.contextmanager
def _loader_process(server: Any, separate: bool) -> Iterator[subprocess.Popen[bytes] | None]:
    """``supplylake loader`` on the server's data folder, if asked for."""
    if not separate:
        yield None
        return
    log = open(server.data_dir / "loader.log", "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [sys.executable, "-m", "supplylake", "loader", "--data-dir", str(server.data_dir)],
        env=server.cli_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class _Run:
    targets: list[_Target]
    sent: _Sent
    events: dict[str, Any]
    changes: list[tuple[int, float, int]]
    passes: list[float]
    probe_cores: float
    send_seconds: float
    drain_seconds: float
    server: Busy
    client: Busy


def _run(args: Any, server: Any, data_dir: Path) -> _Run:
    instance_id, targets = _setup(server, args.key_space)
    print(
        "datasets: " + ", ".join(f"{t.namespace}.{t.name} ({t.operation.value})" for t in targets)
    )
    # Started once the server has made the Iceberg catalog: two processes creating its tables
    # at once race (one fails with "table iceberg_tables already exists").
    with _loader_process(server, args.separate_loader) as loader:
        _warm_up(server, instance_id, targets, loader)
        return _measure(args, server, loader, data_dir, instance_id, targets)


def _measure(
    args: Any,
    server: Any,
    loader: subprocess.Popen[bytes] | None,
    data_dir: Path,
    instance_id: str,
    targets: list[_Target],
) -> _Run:
    assert server.process is not None

    ctx = multiprocessing.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    tables = [(t.namespace, t.name) for t in targets]
    probe = ctx.Process(
        target=_probe,
        args=(str(data_dir), instance_id, tables, args.probe_interval, stop, out),
        daemon=True,
    )
    probe.start()
    time.sleep(2.0)  # the probe imports pyiceberg and reads every table once

    http = Target("127.0.0.1", server.port, server.access_key_id, server.secret_access_key)
    # serve's own loader is a child process of it.
    pids = [server.process.pid, *child_pids(server.process.pid)]
    pids += [loader.pid] if loader is not None else []
    server_busy, client_busy = Busy(*pids), Busy()
    wall = time.perf_counter()
    sent = _run_sender(
        http,
        instance_id,
        targets,
        args.rate,
        args.warmup + args.duration,
        args.connections,
        args.groups,
    )
    send_seconds = time.perf_counter() - wall

    from supplylake.store import open_store

    store = open_store(Settings.from_env(data_dir=data_dir).resolved_database_url)
    try:
        events = _wait_applied(store, instance_id, timeout=300)
    finally:
        store.close()
    drain_seconds = time.perf_counter() - wall - send_seconds
    server_busy.stop()
    client_busy.stop()
    time.sleep(3 * args.probe_interval + 0.5)
    stop.set()
    try:
        changes, passes, probe_cores = out.get(timeout=60)
    except queue.Empty:
        raise RuntimeError("the probe process did not report") from None
    probe.join(10)
    return _Run(
        targets,
        sent,
        events,
        changes,
        passes,
        probe_cores,
        send_seconds,
        drain_seconds,
        server_busy,
        client_busy,
    )


def _report(args: Any, run: _Run) -> None:
    targets, sent, events, changes = run.targets, run.sent, run.events, run.changes
    passes, send_seconds = run.passes, run.send_seconds
    by_table: list[tuple[list[float], list[int]]] = [([], []) for _ in targets]
    for i, at, position in changes:
        by_table[i][0].append(at)
        by_table[i][1].append(position)
    start = min(sent.due) if sent.due else 0.0
    visible: list[float] = []
    succeeded: list[float] = []
    end_to_end: list[float] = []
    by_slice: dict[int, list[float]] = {}
    per_table: list[list[float]] = [[] for _ in targets]
    early = unseen = failed = 0
    for due, ack, latency, t, event_id in zip(
        sent.due, sent.ack_wall, sent.ack_latency, sent.target, sent.event_id, strict=True
    ):
        if due - start < args.warmup:
            continue
        ev = events.get(event_id)
        if ev is None or ev.status != "SUCCEEDED":
            failed += 1
            continue
        times, positions = by_table[t]
        k = bisect.bisect_left(positions, ev.position)
        if k == len(positions):
            unseen += 1
            continue
        delay = times[k] - ack
        early += delay < 0
        visible.append(max(0.0, delay))
        per_table[t].append(max(0.0, delay))
        by_slice.setdefault(int((due - start - args.warmup) // _SLICE), []).append(max(0.0, delay))
        succeeded.append(ev.applied_at.timestamp() - ack)
        end_to_end.append(times[k] - (ack - latency))
    counted = len(visible) + failed + unseen
    lat = sorted(sent.ack_latency)
    print()
    print(
        f"sent: {len(sent.due):,} events acknowledged in {send_seconds:.1f} s "
        f"({len(sent.due) / send_seconds:,.0f}/s; scheduled {args.rate:,.0f}/s for "
        f"{args.warmup + args.duration:g} s, then the last answers awaited); "
        f"errors {sent.errors or 'none'}"
    )
    print(
        f"acknowledgement latency from when due: p50 {percentile(lat, 50) * 1000:.1f} ms, "
        f"p99 {percentile(lat, 99) * 1000:.1f} ms, max {lat[-1] * 1000 if lat else 0:.0f} ms"
    )
    print(
        f"events measured: {counted:,} ({failed} not SUCCEEDED, {unseen} never seen by the "
        f"probe, {early} visible before their acknowledgement, counted as 0)"
    )
    print()
    print(_line("ack -> visible to a query", visible))
    print(_line("ack -> SUCCEEDED (applied_at)", succeeded))
    print(_line("due to send -> visible (with intake)", end_to_end))
    for t, values in zip(targets, per_table, strict=True):
        print(_line(f"  {t.namespace}.{t.name}", values))
    print(
        f"ack -> visible by when the event was due ({_SLICE:g} s slices; growing means the "
        "loader falls behind):"
    )
    for k in sorted(by_slice):
        v = sorted(by_slice[k])
        print(
            f"  {k * _SLICE:>4.0f}-{(k + 1) * _SLICE:<4.0f}s {len(v):>6,} events   "
            f"p50 {percentile(v, 50):6.3f} s   p99 {percentile(v, 99):6.3f} s"
        )
    commits = [len(set(p)) for _, p in by_table]
    print()
    print(
        f"snapshots with a new position seen by the probe per table: {commits}; "
        f"events per commit ~{len(sent.due) / max(1, sum(commits)):.0f}"
    )
    sp = sorted(passes)
    print(
        f"probe: {len(passes)} passes, pass time p50 {percentile(sp, 50) * 1000:.0f} ms, "
        f"p99 {percentile(sp, 99) * 1000:.0f} ms; freshness is "
        f"overstated by at most {args.probe_interval:g} s + one pass"
    )
    print(f"\np99 ack -> visible = {percentile(sorted(visible), 99):.3f} s (aim <= 2 s)")
    server = "server and loader" if args.separate_loader else "server"
    print(
        f"cores busy while sending and draining ({run.drain_seconds:.1f} s after the last "
        f"send): {server} {run.server.ours:.2f}, load generator {run.client.ours:.2f}, probe "
        f"{run.probe_cores:.2f}, whole machine {run.server.machine:.2f} of {os.cpu_count()}"
    )
    warning = run.server.warning(also_ours=run.client.ours + run.probe_cores)
    if warning:
        print(warning)


# ---- many tables: tables as a parameter, ack -> SUCCEEDED per table count -------------------

#: The asc event types each instance receives with ``--tables`` (one table each).
TABLE_TYPES = [
    "scn.data.inboundorder",
    "scn.data.inboundorderline",
    "scn.data.shipment",
    "scn.data.outboundorderline",
]


def _setup_tables(server: Any, count: int) -> list[_Target]:
    """``count`` asc tables: ``count / 4`` instances, each sent four asc event types."""
    client = server.client()
    targets: list[_Target] = []
    for i in range(-(-count // len(TABLE_TYPES))):
        instance_id = active_instance(client, f"bench-tables-{i}")
        for event_type in TABLE_TYPES:
            if len(targets) == count:
                break
            schema = _asc_schema(event_type)
            targets.append(
                _Target(
                    "asc", schema.name, schema, event_type, Operation.UPSERT, None, 0, instance_id
                )
            )
    return targets


def _warm_up_tables(server: Any, targets: list[_Target]) -> None:
    """One event per table, all applied: every table exists and pyiceberg is loaded."""
    t = Target("127.0.0.1", server.port, server.access_key_id, server.secret_access_key)
    senders: dict[str, EventClient] = {}
    for i, x in enumerate(targets):
        if x.instance_id not in senders:
            senders[x.instance_id] = EventClient(t, x.instance_id)
        senders[x.instance_id].send(x.body(10**9 + i, "warm-up"))
    for sender in senders.values():
        sender.close()
    _wait_settled(server.data_dir, 600)


def _wait_settled(data_dir: Path, timeout: float) -> None:
    """Until no dataset has events waiting for the loader."""
    from supplylake.store import open_store

    store = open_store(Settings.from_env(data_dir=data_dir).resolved_database_url)
    try:
        deadline = time.monotonic() + timeout
        while store.pending_datasets():
            if time.monotonic() > deadline:
                raise RuntimeError(f"events still pending after {timeout:g} s")
            time.sleep(0.2)
    finally:
        store.close()


def _events_of(data_dir: Path, targets: list[_Target]) -> dict[str, Any]:
    from supplylake.store import open_store

    store = open_store(Settings.from_env(data_dir=data_dir).resolved_database_url)
    try:
        events: dict[str, Any] = {}
        for instance_id in dict.fromkeys(x.instance_id for x in targets):
            events.update(
                (e.event_id, e) for e in store.list_events(instance_id, None, None, 10**7)
            )
        return events
    finally:
        store.close()


@dataclass
class _TablesRun:
    tables: int
    succeeded: list[float]  # ack -> SUCCEEDED of every measured event, seconds
    worst_by_table: list[float]  # the slowest event of each table
    sent: int
    errors: dict[str, int]
    not_succeeded: int
    server: Busy
    commits: int  # Iceberg commits of the events sent, warm-up seconds included


def _run_tables(args: Any, count: int, settings: dict[str, Any]) -> _TablesRun:
    data_dir = Path(tempfile.mkdtemp(prefix="supplylake-fresh-tables-"))
    try:
        with running_server(data_dir=data_dir, **settings) as server:
            assert server.process is not None
            targets = _setup_tables(server, count)
            _warm_up_tables(server, targets)
            http = Target("127.0.0.1", server.port, server.access_key_id, server.secret_access_key)
            busy = Busy(server.process.pid, *child_pids(server.process.pid))
            sent = _run_sender(
                http,
                "",
                targets,
                args.rate,
                args.warmup + args.duration,
                args.connections,
                args.groups,
            )
            _wait_settled(data_dir, 600)
            busy.stop()
            events = _events_of(data_dir, targets)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    start = min(sent.due) if sent.due else 0.0
    succeeded: list[float] = []
    worst: dict[int, float] = {}
    missing = 0
    # A batch's events share their applied_at: one commit per table and applied_at.
    commits = {
        (t, ev.applied_at)
        for t, event_id in zip(sent.target, sent.event_id, strict=True)
        if (ev := events.get(event_id)) is not None and ev.applied_at is not None
    }
    for due, ack, t, event_id in zip(
        sent.due, sent.ack_wall, sent.target, sent.event_id, strict=True
    ):
        if due - start < args.warmup:
            continue
        ev = events.get(event_id)
        if ev is None or ev.status != "SUCCEEDED" or ev.applied_at is None:
            missing += 1
            continue
        delay = max(0.0, ev.applied_at.timestamp() - ack)
        succeeded.append(delay)
        worst[t] = max(worst.get(t, 0.0), delay)
    return _TablesRun(
        count,
        sorted(succeeded),
        sorted(worst.values()),
        len(sent.due),
        sent.errors,
        missing,
        busy,
        len(commits),
    )


def main_tables(args: Any, counts: list[int], settings: dict[str, Any]) -> None:
    print(
        f"{args.rate:,.0f} single-record events/s in all, open loop for {args.warmup:g} + "
        f"{args.duration:g} s, round robin over the tables (asc UPSERT, 4 event types per "
        "instance); ack -> SUCCEEDED from the store's applied_at, every event"
    )
    runs = []
    for count in counts:
        run = _run_tables(args, count, settings)
        runs.append(run)
        s, w = run.succeeded, run.worst_by_table
        print(
            f"{count:>5} tables: {len(s):,} events measured ({run.not_succeeded} not SUCCEEDED, "
            f"errors {run.errors or 'none'}); slowest table's worst {w[-1] if w else 0:.2f} s, "
            f"median table's worst {percentile(w, 50):.2f} s; cores busy "
            f"{run.server.ours:.2f} (API {run.server.each[0]:.2f}, loaders "
            f"{sum(run.server.each[1:]):.2f}; machine {run.server.machine:.2f}); "
            f"{run.commits:,} commits, "
            f"{run.server.ours * run.server.seconds / max(run.commits, 1) * 1000:.0f} ms of "
            "server and loader CPU per commit",
            flush=True,
        )
    print()
    print("| active tables | p50 | p99 | max | median table's slowest |")
    print("|---|---|---|---|---|")
    for run in runs:
        s = run.succeeded
        print(
            f"| {run.tables:,} | {percentile(s, 50):.2f} s | {percentile(s, 99):.2f} s | "
            f"{s[-1] if s else float('nan'):.2f} s | {percentile(run.worst_by_table, 50):.2f} s |"
        )


if __name__ == "__main__":
    main()
