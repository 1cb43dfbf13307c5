"""Beyond one process: durable Send throughput on PostgreSQL against SQLite, and loader freshness
with two loaders, in one run on this machine.

Run: ``uv run python bench/bench_cluster.py [--duration 10] [--fresh-rate 500] [--one-loader-too]``.

Throughput (closed loop, ~1 KB ``scn.data.inboundorderline`` events, the loader off so only
intake counts: read, SigV4, validate, durable group commit, answer), each phase with its own
server and a warm-up that is not counted:

  (1) ``serve`` on SQLite, one process: the embedded default
  (2) ``serve`` on PostgreSQL, one process
  (3) ``serve --workers 2`` on PostgreSQL: two API processes sharing the port

PostgreSQL is a private cluster started from the machine's binaries
(``tests/postgres_cluster.py``), ``synchronous_commit`` on and fsync on, like SQLite's
``synchronous=FULL``.

Freshness: ``serve --workers 2 --no-loader`` on PostgreSQL, plus two ``supplylake loader``
processes on a shared warehouse folder; events arrive open loop at ``--fresh-rate`` per second
spread over ``--fresh-instances`` instances (each its own ``asc.inbound_order_line`` table, so
both loaders have work). Freshness is the store's ``applied_at - received_at`` of each event
(both written on this machine's clock): from the request's arrival to the Iceberg commit that
holds it being done. It prints figures and never fails on them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _lake_bench import active_instance
from _postgres_cluster import create_database, postgres_cluster
from _workloads import Target, Workload
from loadgen import PhaseResult, run_phase, send_once
from supplylake.testing import running_server

NO_LIMITS: dict[str, Any] = {
    "event_rate": 1e9,
    "event_burst": 10**9,
    "max_pending_events": 10**9,
}


def _tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its children (``serve --workers`` and its workers)."""
    total = 0.0
    pids = [pid]
    children = subprocess.run(
        ["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True, check=False
    ).stdout.split()
    pids += [int(p) for p in children]
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except FileNotFoundError:
            pass
    return total


def _throughput(name: str, args: argparse.Namespace, **settings: Any) -> PhaseResult:
    with running_server(loader="false", **NO_LIMITS, **settings) as server:
        assert server.process is not None
        target = Target("127.0.0.1", server.port, server.access_key_id, server.secret_access_key)
        instance_id = active_instance(server.client(), "bench-cluster")
        workload = Workload("event", instance_id, tag=f"bench-{int(time.time())}")
        status, code, body = send_once(target, workload)
        if status != 200:
            raise RuntimeError(f"a signed event got {status} {code}: {body[:300]!r}")
        cpu = _tree_cpu_seconds(server.process.pid)
        wall = time.perf_counter()
        result = run_phase(
            name,
            target,
            workload,
            processes=args.processes,
            connections=args.connections,
            duration=args.duration,
            warmup=args.warmup,
        )
        result.server_cores = (_tree_cpu_seconds(server.process.pid) - cpu) / (
            time.perf_counter() - wall
        )
    print(result.summary(), flush=True)
    return result


def _start_loaders(
    n: int, url: str, warehouse: Path, folder: Path
) -> list[subprocess.Popen[bytes]]:
    env = dict(os.environ, SUPPLYLAKE_LOG_LEVEL="warning")
    loaders = []
    for i in range(n):
        data_dir = folder / f"loader{i}"
        data_dir.mkdir(parents=True, exist_ok=True)
        with open(data_dir / "loader.log", "ab") as log:
            loaders.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "supplylake",
                        "loader",
                        "--data-dir",
                        str(data_dir),
                        "--database-url",
                        url,
                        "--warehouse",
                        str(warehouse),
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    return loaders


def _freshness(admin_url: str, loaders: int, args: argparse.Namespace) -> dict[str, float]:
    """Open-loop events over several instances; p50/p99 of applied_at - received_at."""
    import psycopg

    url = create_database(admin_url)
    folder = Path(tempfile.mkdtemp(prefix="supplylake-bench-fresh-"))
    warehouse = folder / "warehouse"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        settings = {
            "database_url": url,
            "warehouse": str(warehouse),
            "workers": 2,
            "event_rate": 1e9,
            "event_burst": 10**9,
        }
        (folder / "api").mkdir()
        with running_server(folder / "api", loader="false", **settings) as server:
            client = server.client()
            instances = [active_instance(client, f"fresh-{i}") for i in range(args.fresh_instances)]
            procs = _start_loaders(loaders, url, warehouse, folder)
            target = Target(
                "127.0.0.1", server.port, server.access_key_id, server.secret_access_key
            )
            # One event per instance first: the loaders import pyiceberg and create the tables.
            for instance_id in instances:
                send_once(target, Workload("event", instance_id, tag="warm-up"))
            _wait_applied(url, timeout=120)
            results: list[PhaseResult] = []

            def drive(instance_id: str) -> None:
                results.append(
                    run_phase(
                        f"fresh {instance_id[:8]}",
                        target,
                        Workload("event", instance_id, tag=f"fresh-{int(time.time())}"),
                        processes=1,
                        connections=max(2, args.connections // len(instances)),
                        duration=args.fresh_duration,
                        warmup=args.warmup,
                        rate=args.fresh_rate / len(instances),
                    )
                )

            started = time.time()
            loader_cpu = sum(_tree_cpu_seconds(p.pid) for p in procs)
            threads = [threading.Thread(target=drive, args=(i,)) for i in instances]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            _wait_applied(url, timeout=300)
            loader_cores = (sum(_tree_cpu_seconds(p.pid) for p in procs) - loader_cpu) / (
                time.time() - started
            )
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT applied_at - received_at FROM sl_events WHERE received_at >= %s"
                " AND status = 'SUCCEEDED' ORDER BY 1",
                (started + 1.0 + args.warmup,),
            ).fetchall()
            # One completion (one applied_at) per batch: the number of Iceberg commits.
            batches = conn.execute(
                "SELECT count(DISTINCT applied_at) FROM sl_events WHERE received_at >= %s",
                (started,),
            ).fetchone()
            failed = conn.execute(
                "SELECT count(*) FROM sl_events WHERE status != 'SUCCEEDED'"
            ).fetchone()
        delays = [float(r[0]) for r in rows]
        sent = sum(r.ok for r in results)
        return {
            "loaders": loaders,
            "events": len(delays),
            "sent_per_second": sent / args.fresh_duration,
            "failed": float(failed[0]) if failed else 0.0,
            "p50": _percentile(delays, 50),
            "p99": _percentile(delays, 99),
            "max": delays[-1] if delays else float("nan"),
            "batches": float(batches[0]) if batches else 0.0,
            "loader_cores": loader_cores,
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_applied(url: str, timeout: float) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM sl_events WHERE status = 'IN_PROGRESS'"
            ).fetchone()
            if row is not None and row[0] == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{row} events still IN_PROGRESS after {timeout:g} s")
            time.sleep(0.1)


def _percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description="PostgreSQL against SQLite; two loaders.")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds not counted")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--fresh-rate", type=float, default=500.0, help="events/s, open loop")
    parser.add_argument("--fresh-duration", type=float, default=20.0)
    parser.add_argument("--fresh-instances", type=int, default=4)
    parser.add_argument(
        "--one-loader-too", action="store_true", help="also measure freshness with one loader"
    )
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()

    print(f"supplylake cluster benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(
        f"throughput: 1 KB events, closed loop, {args.connections} connections from "
        f"{args.processes} load generator processes, {args.duration:g} s after "
        f"{args.warmup:g} s warm-up; loader off\n"
    )
    results = [] if args.skip_throughput else [_throughput("(1) SQLite, 1 API process", args)]
    with postgres_cluster() as admin_url:
        phases = (("(2) PostgreSQL, 1 API process", 1), ("(3) PostgreSQL, 2 API processes", 2))
        for name, workers in phases if results else ():
            url = create_database(admin_url)
            results.append(_throughput(name, args, database_url=url, workers=workers))
        print(
            f"\nfreshness: {args.fresh_rate:,.0f} events/s open loop over "
            f"{args.fresh_instances} instances for {args.fresh_duration:g} s; "
            "serve --workers 2 on PostgreSQL"
        )
        fresh = [_freshness(admin_url, 2, args)]
        if args.one_loader_too:
            fresh.append(_freshness(admin_url, 1, args))

    if results:
        _print_throughput(results)
    print("\nfreshness (received -> applied_at, the Iceberg commit done):")
    for f in fresh:
        print(
            f"  {f['loaders']:.0f} loader(s): {f['events']:,.0f} events at "
            f"{f['sent_per_second']:,.0f}/s, p50 {f['p50']:.3f} s, p99 {f['p99']:.3f} s, "
            f"max {f['max']:.3f} s, not SUCCEEDED {f['failed']:.0f}; {f['batches']:,.0f} "
            f"commits, loaders busy {f['loader_cores']:.2f} cores"
        )


def _print_throughput(results: list[PhaseResult]) -> None:
    head = (
        f"{'phase':<34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}  cores srv/machine"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for r in results:
        errors = sum(r.errors.values()) + r.unsent
        print(
            f"{r.name:<34} {r.requests_per_second:>8,.0f} {r.percentile(50):>8.2f} "
            f"{r.percentile(99):>8.2f} {errors:>7}  {r.server_cores or 0:.2f} / "
            f"{r.machine_cores or 0:.2f}"
        )
    sqlite, pg2 = results[0].requests_per_second, results[2].requests_per_second
    print(f"\n2 API processes on PostgreSQL / 1 on SQLite = {pg2 / sqlite:.2f}")


if __name__ == "__main__":
    main()
