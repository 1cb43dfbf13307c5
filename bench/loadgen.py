"""A SigV4-signing HTTP/1.1 load generator for supplylake: several processes, keep-alive connections.

Closed loop: each connection sends its next request as soon as the last one is answered.
Open loop: requests are due at a fixed total rate; latency counts from when a request was due,
so a server that falls behind is charged for the wait (no coordinated omission).

Run against a server already listening on loopback, e.g.:

    uv run python bench/loadgen.py --port 8642 --workload event --instance-id <id> \\
        --access-key-id AK --secret-access-key SK --duration 10 --connections 64

``bench/bench_intake.py`` starts its own server and runs every phase.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import multiprocessing
import os
import queue
import socket
import threading
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from _workloads import Factory, Target, Workload, factory
from supplylake.testing import child_pids

LOOPBACK = ("127.0.0.1", "localhost")
#: How long in-flight requests may take to finish once a phase is over.
_GRACE_SECONDS = 30.0


class _Connection(asyncio.Protocol):
    """One keep-alive connection, one request at a time; responses need a Content-Length."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._waiter: asyncio.Future[tuple[int, str]] | None = None
        self._need = -1  # body bytes still to come; -1 while reading the head
        self._status = 0
        self._code = ""
        self._close_after = False
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(str(exc or "connection closed")))

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._need < 0:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            try:
                self._read_head(bytes(self._buf[:end]).decode("latin-1"))
            except (ValueError, IndexError, ConnectionError) as exc:
                self.abandon(ConnectionError(f"unreadable response: {exc}"))
                return
            del self._buf[: end + 4]
        if len(self._buf) >= self._need:
            del self._buf[: self._need]
            self._need = -1
            if self._close_after:
                self.abandon(None)
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result((self._status, self._code))

    def abandon(self, exc: Exception | None) -> None:
        """Stop using this connection; a pending request, if any, fails with ``exc``."""
        self.lost = True
        if self.transport is not None:
            self.transport.close()
        if exc is not None and self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    def _read_head(self, head: str) -> None:
        lines = head.split("\r\n")
        self._status = int(lines[0].split(" ", 2)[1])
        self._code = ""
        self._need = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                self._need = int(value)
            elif name == "x-amzn-errortype":
                self._code = value.strip().split(":", 1)[0]
            elif name == "connection" and value.strip().lower() == "close":
                self._close_after = True
            elif name == "transfer-encoding":
                raise ConnectionError("chunked responses are not supported")

    def request(self, parts: tuple[bytes, ...]) -> asyncio.Future[tuple[int, str]]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        if self.transport.is_closing():
            self._waiter.set_exception(ConnectionError("connection closed"))
        else:
            self.transport.writelines(parts)
        return self._waiter


@dataclass(frozen=True)
class _WorkerSpec:
    index: int
    processes: int
    target: Target
    workload: Workload
    connections: int
    duration: float
    warmup: float
    #: Requests per second for this process (open loop), or None (closed loop).
    rate: float | None


@dataclass
class _Tally:
    """What one process saw inside its measurement window."""

    latency_ms: array[float] = field(default_factory=lambda: array("d"))
    service_ms: array[float] = field(default_factory=lambda: array("d"))
    statuses: Counter[tuple[int, str]] = field(default_factory=Counter)
    outside_errors: int = 0
    #: Answered 200 outside the window (warm-up, or the tail after it): acknowledged all the same.
    outside_ok: int = 0
    unsent: int = 0
    cpu_seconds: float = 0.0
    records_per_request: int = 0


class _Driver:
    def __init__(self, spec: _WorkerSpec, make: Factory) -> None:
        self.spec = spec
        self.make = make
        self.tally = _Tally()
        self.start = self.window_from = self.window_to = 0.0

    async def connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(
            _Connection, self.spec.target.host, self.spec.target.port
        )
        return conn

    async def send(self, conn: _Connection) -> tuple[_Connection, int, str]:
        """One request; a lost connection is reopened and reported as status 0."""
        try:
            if conn.lost:
                conn = await self.connect()
            status, code = await conn.request(self.make())
        except (ConnectionError, OSError) as exc:
            conn.abandon(None)
            return conn, 0, type(exc).__name__
        return conn, status, code

    def record(self, status: int, code: str, latency: float, service: float, inside: bool) -> None:
        if inside:
            self.tally.latency_ms.append(latency * 1000)
            self.tally.service_ms.append(service * 1000)
            self.tally.statuses[(status, code)] += 1
        elif status != 200:
            self.tally.outside_errors += 1
        else:
            self.tally.outside_ok += 1

    async def closed_loop(self, conn: _Connection) -> None:
        clock = time.perf_counter
        while clock() < self.window_to:
            sent = clock()
            conn, status, code = await self.send(conn)
            done = clock()
            inside = self.window_from <= done < self.window_to
            self.record(status, code, done - sent, done - sent, inside)

    async def open_loop(self, conns: list[_Connection]) -> None:
        assert self.spec.rate is not None
        clock = time.perf_counter
        due: asyncio.Queue[float | None] = asyncio.Queue()

        async def consume(conn: _Connection) -> None:
            while (when := await due.get()) is not None:
                sent = clock()
                conn, status, code = await self.send(conn)
                done = clock()
                inside = self.window_from <= when < self.window_to
                self.record(status, code, done - when, done - sent, inside)

        consumers = [asyncio.create_task(consume(c)) for c in conns]
        interval = 1.0 / self.spec.rate
        # Processes interleave their schedules instead of all firing at once.
        next_due = self.start + interval * self.spec.index / self.spec.processes
        while (now := clock()) < self.window_to:
            while next_due <= now:
                due.put_nowait(next_due)
                next_due += interval
            await asyncio.sleep(next_due - now)
        while not due.empty():
            when = due.get_nowait()
            if when is not None and when >= self.window_from:
                self.tally.unsent += 1
        for _ in consumers:
            due.put_nowait(None)
        await asyncio.gather(*consumers)

    async def sample_cpu(self) -> None:
        await asyncio.sleep(max(0.0, self.window_from - time.perf_counter()))
        cpu = time.process_time()
        await asyncio.sleep(max(0.0, self.window_to - time.perf_counter()))
        self.tally.cpu_seconds = time.process_time() - cpu


async def _drive(spec: _WorkerSpec, barrier: Any) -> _Tally:
    make, records = factory(spec.target, spec.workload, spec.index)
    driver = _Driver(spec, make)
    driver.tally.records_per_request = records
    conns = [await driver.connect() for _ in range(spec.connections)]
    await asyncio.get_running_loop().run_in_executor(None, barrier.wait)
    driver.start = time.perf_counter()
    driver.window_from = driver.start + spec.warmup
    driver.window_to = driver.window_from + spec.duration
    sampler = asyncio.create_task(driver.sample_cpu())
    if spec.rate is None:
        work = asyncio.gather(*(driver.closed_loop(c) for c in conns))
    else:
        work = asyncio.ensure_future(driver.open_loop(conns))
    try:
        await asyncio.wait_for(work, spec.warmup + spec.duration + _GRACE_SECONDS)
    except TimeoutError:
        driver.tally.statuses[(0, "StillWaitingAtEnd")] += 1
    await sampler
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    return driver.tally


def _worker(spec: _WorkerSpec, barrier: Any, results: Any) -> None:
    try:
        try:
            import uvloop

            tally = uvloop.run(_drive(spec, barrier))
        except ImportError:
            tally = asyncio.run(_drive(spec, barrier))
        results.put((spec.index, tally, None))
    except BaseException as exc:
        barrier.abort()
        results.put((spec.index, None, f"{type(exc).__name__}: {exc}"))
        raise


# ---- the parent: spawn, wait, merge ---------------------------------------------------------


@dataclass
class PhaseResult:
    """Merged figures of one phase (all processes)."""

    name: str
    workload: str
    mode: str
    duration: float
    records_per_request: int
    latency_ms: list[float]
    service_ms: list[float]
    statuses: Counter[tuple[int, str]]
    outside_errors: int
    unsent: int
    client_cores: float
    server_cores: float | None = None
    machine_cores: float | None = None
    outside_ok: int = 0

    @property
    def ok(self) -> int:
        return sum(n for (status, _), n in self.statuses.items() if status == 200)

    @property
    def requests_per_second(self) -> float:
        return self.ok / self.duration

    @property
    def records_per_second(self) -> float:
        return self.requests_per_second * self.records_per_request

    @property
    def errors(self) -> dict[str, int]:
        return {
            f"{status} {code}".strip(): n
            for (status, code), n in sorted(self.statuses.items())
            if status != 200
        }

    @property
    def server_us_per_request(self) -> float | None:
        """Server CPU (all its threads) per answered request, in microseconds."""
        if self.server_cores is None or not self.statuses:
            return None
        return self.server_cores * self.duration / self.statuses.total() * 1e6

    @property
    def other_cores(self) -> float | None:
        """Cores kept busy by neither the load generator nor the server (another job, say)."""
        if self.machine_cores is None or self.server_cores is None:
            return None
        return self.machine_cores - self.client_cores - self.server_cores

    def percentile(self, p: float, service: bool = False) -> float:
        values = self.service_ms if service else self.latency_ms
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(p / 100 * len(values)))]

    def summary(self) -> str:
        rate = f"{self.requests_per_second:,.0f} req/s"
        if self.records_per_request > 1:
            rate += f" = {self.records_per_second:,.0f} records/s"
        text = (
            f"{self.name}: {rate}, p50 {self.percentile(50):.2f} ms, "
            f"p99 {self.percentile(99):.2f} ms ({self.mode}, {self.duration:g} s)"
        )
        cpu = [f"client {self.client_cores:.2f}"]
        if self.server_cores is not None:
            cpu.append(f"server {self.server_cores:.2f}")
        if self.machine_cores is not None:
            cpu.append(f"machine {self.machine_cores:.2f}")
        text += f"\n    cores busy: {', '.join(cpu)}"
        if self.server_us_per_request is not None:
            text += f"; server CPU {self.server_us_per_request:,.0f} µs per request"
        others = self.other_cores
        if others is not None and others > 0.25:
            text += f"\n    WARNING: other processes kept {others:.2f} cores busy; figures are low"
        errors = self.errors
        if errors or self.outside_errors or self.unsent:
            text += f"\n    errors: {errors or 'none'}; during warm-up: {self.outside_errors}"
            text += f"; due but never sent: {self.unsent}"
        return text


def _errors(results: Any) -> list[str]:
    errors = []
    with contextlib.suppress(queue.Empty):
        while True:
            _, _, error = results.get(timeout=5)
            errors.append(error)
    return errors


def _process_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_cpu_seconds(pid: int, children: bool) -> dict[int, float]:
    """CPU seconds of the server process and, with ``children``, of each of its children
    (``serve --workers``: the API processes), by pid."""
    out: dict[int, float] = {}
    for each in [pid, *child_pids(pid)] if children else [pid]:
        with contextlib.suppress(OSError, ValueError, IndexError):  # it may have just exited
            out[each] = _process_cpu_seconds(each)
    return out


def _machine_busy_seconds() -> float:
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run_phase(
    name: str,
    target: Target,
    workload: Workload,
    *,
    processes: int = 2,
    connections: int = 64,
    duration: float = 10.0,
    warmup: float = 2.0,
    rate: float | None = None,
    server_pid: int | None = None,
    server_children: bool = False,
) -> PhaseResult:
    """Drive ``target`` with ``workload`` from ``processes`` processes; bounded in time.

    The server's CPU is that of ``server_pid``, plus that of its child processes with
    ``server_children`` (the API processes of ``serve --workers``).
    """
    if target.host not in LOOPBACK:
        raise ValueError(f"the load generator only targets loopback, not {target.host!r}")
    if connections < processes:
        raise ValueError("need at least one connection per process")
    if rate is not None and rate <= 0:
        raise ValueError("an open-loop rate must be positive")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes + 1)
    results = ctx.Queue()
    workers = []
    for index in range(processes):
        share = connections // processes + (index < connections % processes)
        spec = _WorkerSpec(
            index=index,
            processes=processes,
            target=target,
            workload=workload,
            connections=share,
            duration=duration,
            warmup=warmup,
            rate=None if rate is None else rate / processes,
        )
        proc = ctx.Process(target=_worker, args=(spec, barrier, results), daemon=True)
        proc.start()
        workers.append(proc)
    try:
        try:
            barrier.wait(timeout=120)
        except threading.BrokenBarrierError:
            raise RuntimeError(f"load generator processes failed: {_errors(results)}") from None
        time.sleep(warmup)
        server_cpu = _server_cpu_seconds(server_pid, server_children) if server_pid else {}
        machine = _machine_busy_seconds()
        time.sleep(duration)
        server_cores = None
        if server_pid:
            # A process that started during the phase counts from zero.
            after = _server_cpu_seconds(server_pid, server_children)
            server_cores = sum(t - server_cpu.get(p, 0.0) for p, t in after.items()) / duration
        machine_cores = (_machine_busy_seconds() - machine) / duration
        tallies: list[_Tally] = []
        for _ in workers:
            _, tally, error = results.get(timeout=_GRACE_SECONDS + 30)
            if error is not None:
                raise RuntimeError(f"load generator process failed: {error}")
            tallies.append(tally)
    finally:
        for proc in workers:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    latency = sorted(v for t in tallies for v in t.latency_ms)
    service = sorted(v for t in tallies for v in t.service_ms)
    per_conn = f"{connections} connections"
    mode = f"closed loop, {per_conn}" if rate is None else f"open loop at {rate:,.0f}/s, {per_conn}"
    return PhaseResult(
        name=name,
        workload=workload.kind,
        mode=f"{mode}, {processes} processes",
        duration=duration,
        records_per_request=tallies[0].records_per_request,
        latency_ms=latency,
        service_ms=service,
        statuses=sum((t.statuses for t in tallies), Counter()),
        outside_errors=sum(t.outside_errors for t in tallies),
        outside_ok=sum(t.outside_ok for t in tallies),
        unsent=sum(t.unsent for t in tallies),
        client_cores=sum(t.cpu_seconds for t in tallies) / duration,
        server_cores=server_cores,
        machine_cores=machine_cores,
    )


def send_once(target: Target, workload: Workload) -> tuple[int, str, bytes]:
    """One request over http.client: status, error code and body (to check the signing)."""
    make, _ = factory(target, workload, worker=999)
    parts = make()
    with socket.create_connection((target.host, target.port), timeout=30) as sock:
        sock.sendall(b"".join(parts))
        response = http.client.HTTPResponse(sock, method=parts[0].split(b" ", 1)[0].decode())
        response.begin()
        payload = response.read()
        code = (response.getheader("X-Amzn-ErrorType") or "").split(":", 1)[0]
        return response.status, code, payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", choices=LOOPBACK)
    parser.add_argument("--port", type=int, default=8642)
    parser.add_argument("--access-key-id", default=os.environ.get("AWS_ACCESS_KEY_ID", ""))
    parser.add_argument("--secret-access-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY", ""))
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--workload", choices=["health", "event", "bulk"], default="event")
    parser.add_argument("--instance-id", default="", help="an Active instance (event, bulk)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64, help="in all processes")
    parser.add_argument("--rate", type=float, default=None, help="open loop: requests/s in all")
    args = parser.parse_args()
    target = Target(args.host, args.port, args.access_key_id, args.secret_access_key, args.region)
    workload = Workload(args.workload, args.instance_id, tag=f"loadgen-{int(time.time())}")
    status, code, body = send_once(target, workload)
    if status != 200:
        raise SystemExit(f"a test request failed: {status} {code} {body[:300]!r}")
    result = run_phase(
        args.workload,
        target,
        workload,
        processes=args.processes,
        connections=args.connections,
        duration=args.duration,
        warmup=args.warmup,
        rate=args.rate,
    )
    print(result.summary())


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
