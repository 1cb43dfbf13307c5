"""Intake throughput and latency of SendDataIntegrationEvent, against one real server.

Run: ``uv run python bench/bench_intake.py [--duration 10] [--processes 2] [--connections 64]
[--workers 1] [--rate 1500 [--only-rate]]``.

One ``supplylake serve`` on loopback, with rate limits and the pending quota out of the way and the
loader off (``loader=false``), so only intake is measured: read, verify SigV4, parse, validate,
commit durably to SQLite (group commit), answer. With ``--workers N`` it runs N API processes
(``serve --workers N``) on the one SQLite database, and the server CPU is summed over them.
Phases, each on the same server, with a warm-up that is not counted:

  (c)  GET /health, signed like the rest: the floor of the HTTP stack
  (a)  one ~1 KB inbound_order_line record per event, closed loop
  (a') (a) again, open loop at half the rate (a) reached: latency when not saturated
  (b)  1 MiB arrays of about 1,000 records per event, closed loop
  (r)  with ``--rate N``: (a) open loop at N events/s. A durable event's CPU depends on how many
       events share a commit, hence on the rate: to compare two versions (or settings) in turns,
       compare their server CPU per event at the same rate, not at their own (a) rates.

It prints figures and never fails on them; it exits non-zero only when something crashes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from _lake_bench import active_instance
from _workloads import Target, Workload
from loadgen import PhaseResult, run_phase, send_once
from supplylake.testing import running_server

SERVER_SETTINGS: dict[str, Any] = {
    "event_rate": 1e9,
    "event_burst": 10**9,
    "max_pending_events": 10**9,
    "loader": "false",
}


def _check_signing(target: Target, workloads: list[Workload]) -> None:
    """One request of each kind must answer 200, or the figures would measure refusals."""
    for workload in workloads:
        status, code, body = send_once(target, workload)
        if status != 200:
            raise RuntimeError(
                f"a signed {workload.kind} request got {status} {code}: {body[:300]!r}"
            )


def _table(results: list[PhaseResult]) -> str:
    head = (
        f"{'phase':<36} {'req/s':>9} {'records/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'errors':>7} {'server µs/req':>13}  cores client/server/machine"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        records = f"{r.records_per_second:,.0f}" if r.records_per_request else "-"
        cores = f"{r.client_cores:.2f} / {r.server_cores or 0:.2f} / {r.machine_cores or 0:.2f}"
        errors = sum(r.errors.values()) + r.unsent
        cpu = f"{r.server_us_per_request:,.0f}" if r.server_us_per_request is not None else "-"
        lines.append(
            f"{r.name:<36} {r.requests_per_second:>9,.0f} {records:>10} "
            f"{r.percentile(50):>8.2f} {r.percentile(99):>8.2f} {errors:>7} {cpu:>13}  {cores}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Intake benchmark: health, 1 KB events, 1 MiB.")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds not counted per phase")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--connections", type=int, default=64, help="for (c), (a) and (a')")
    parser.add_argument(
        "--bulk-connections", type=int, default=None, help="for (b); 8 per API process"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="API processes (serve --workers); default: one per core, as deployment.md advises",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="also run (a) open loop at this many events/s (compare CPU per event at one rate)",
    )
    parser.add_argument(
        "--only-rate",
        action="store_true",
        help="with --rate: run only that phase (and none of (c), (a), (a'), (b))",
    )
    args = parser.parse_args()
    # The kernel spreads connections over the processes by a hash of their addresses: with a
    # few connections one process may get most of them.
    bulk_connections = args.bulk_connections or 8 * args.workers
    settings = {**SERVER_SETTINGS, "workers": args.workers}

    print(f"supplylake intake benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"server settings: {settings}")
    print("loader off: only intake is measured (durable commit to SQLite, no Iceberg load)")
    print(
        f"load generator: {args.processes} processes, SigV4-signed HTTP/1.1 keep-alive; "
        f"{args.duration:g} s per phase after {args.warmup:g} s of warm-up\n"
    )
    tag = f"bench-{int(time.time())}"
    results: list[PhaseResult] = []
    with running_server(**settings) as server:
        assert server.process is not None
        target = Target("127.0.0.1", server.port, server.access_key_id, server.secret_access_key)
        instance_id = active_instance(server.client(), "bench-intake")
        health = Workload("health")
        event = Workload("event", instance_id, tag=f"{tag}-a")
        bulk = Workload("bulk", instance_id, tag=f"{tag}-b")
        _check_signing(target, [health, event, bulk])
        common = {
            "processes": args.processes,
            "duration": args.duration,
            "warmup": args.warmup,
            "server_pid": server.process.pid,
            # serve's own process, and its API processes with --workers (the loader is off).
            "server_children": True,
        }
        if args.rate is not None:
            fixed = run_phase(
                f"(r) 1 KB event, open loop at {args.rate:,.0f}/s",
                target,
                Workload("event", instance_id, tag=f"{tag}-r"),
                connections=args.connections,
                rate=args.rate,
                **common,
            )
            print(fixed.summary(), flush=True)
            if args.only_rate:
                return
        phases: list[tuple[str, Workload, dict[str, Any]]] = [
            ("(c) GET /health (signed)", health, {"connections": args.connections}),
            ("(a) 1 KB event", event, {"connections": args.connections}),
        ]
        for name, workload, options in phases:
            results.append(run_phase(name, target, workload, **common, **options))
            print(results[-1].summary(), flush=True)
        half = results[1].requests_per_second / 2
        results.append(
            run_phase(
                "(a') 1 KB event, open loop at (a)/2",
                target,
                Workload("event", instance_id, tag=f"{tag}-a2"),
                connections=args.connections,
                rate=max(half, 1.0),
                **common,
            )
        )
        print(results[-1].summary(), flush=True)
        results.append(
            run_phase("(b) 1 MiB arrays", target, bulk, connections=bulk_connections, **common)
        )
        print(results[-1].summary(), flush=True)

    health_rate, event_rate = results[0].requests_per_second, results[1].requests_per_second
    half_rate, bulk_result = results[2], results[3]
    print()
    print(_table(results))
    others = max(r.other_cores or 0.0 for r in results)
    if others > 0.25:
        print(
            f"\nWARNING: other processes kept up to {others:.2f} cores busy during a phase; "
            "rerun on a quiet machine for figures to quote"
        )
    print()
    ratio = event_rate / health_rate if health_rate else float("nan")
    print(f"(a)/(c) = {ratio:.2f}  (events/s over the HTTP floor; aim >= 0.6)")
    print(
        f"(a') at {half_rate.requests_per_second:,.0f}/s: p50 {half_rate.percentile(50):.2f} ms, "
        f"p99 {half_rate.percentile(99):.2f} ms from when due "
        f"(service time p99 {half_rate.percentile(99, service=True):.2f} ms; aim p99 <= 25 ms)"
    )
    print(
        f"(b) {bulk_result.records_per_request:,} records per 1 MiB event: "
        f"{bulk_result.records_per_second:,.0f} records/s validated and committed "
        "(aim >= 150,000)"
    )


if __name__ == "__main__":
    main()
