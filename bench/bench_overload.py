"""Overload: offered load far above an instance's limits, then a normal request right after.

Run: ``uv run python bench/bench_overload.py [--duration 60] [--connections 256] [--json]``.

One ``supplylake serve`` (SQLite, loader on) with small per-instance limits: ``event_rate`` 500/s
(burst 500), so ``ThrottlingException`` (429), and ``max_pending_events`` 300, so
``ServiceQuotaExceededException`` (402) whenever the loader falls behind. The SigV4-signing load
generator (``bench/loadgen.py``) drives ~1 KB events in a closed loop from many keep-alive
connections: several times more than the limit admits. Then:

- answers by status (200, 429, 402, 5xx, connections lost);
- the server's memory: VmRSS before, VmHWM (the peak) after, of the API process and of the loader
  process, against ``RSS_BOUND_MIB`` for the API process;
- every acknowledged event kept: the instance's events in the store against the 200 answers
  (the store may hold a few more: requests whose answer was lost, counted apart);
- recovery: latency of normal boto3 requests right after the load stops, and how long the loader
  takes to apply every pending event.

It prints the figures; with ``--json`` it also prints them as one JSON object on the last line
(``tests/hardening/test_overload.py`` runs a short version and reads it). It never fails on a
figure; it exits non-zero only when something crashes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import sys
import time
from typing import Any

from _lake_bench import active_instance
from _workloads import Target, Workload
from loadgen import PhaseResult, run_phase, send_once
from supplylake.testing import ServerHandle, child_pids, running_server

RATE = 500
PENDING = 300
SERVER_SETTINGS: dict[str, Any] = {
    "event_rate": RATE,
    "event_burst": RATE,
    "max_pending_events": PENDING,
}
#: The API process must stay under this resident size however many ~1 KB events are offered.
#: (1 MiB bodies are another matter: each one in flight costs several MiB; see the bulk phase.)
RSS_BOUND_MIB = 256


def _status_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident size) of ``pid``, in KiB."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out[name] = int(value.split()[0])
    return out


def _memory(server: ServerHandle) -> dict[str, dict[str, float]]:
    """MiB resident now and at peak: the API process, and its child processes (the loader)."""
    assert server.process is not None
    pid = server.process.pid
    out = {"api": {k: v / 1024 for k, v in _status_kib(pid).items()}}
    for n, child in enumerate(child_pids(pid)):
        with contextlib.suppress(OSError):  # it may have just exited
            out[f"child{n}"] = {k: v / 1024 for k, v in _status_kib(child).items()}
    return out


def _stored(server: ServerHandle, instance_id: str) -> tuple[int, int]:
    """Events of the instance in the store, and how many of them are not applied yet."""
    db = f"file:{server.data_dir / 'supplylake.db'}?mode=ro"
    with sqlite3.connect(db, uri=True, timeout=30) as conn:
        total, pending = conn.execute(
            "SELECT count(*), sum(status = 'IN_PROGRESS') FROM sl_events WHERE instance_id = ?",
            (instance_id,),
        ).fetchone()
    conn.close()
    return int(total), int(pending or 0)


def _timed(fn: Any) -> tuple[float, str]:
    """Milliseconds a boto3 call took, and what it answered (200 or the error code)."""
    from botocore.exceptions import ClientError

    started = time.perf_counter()
    try:
        fn()
        outcome = "200"
    except ClientError as exc:
        outcome = f"{exc.response['ResponseMetadata']['HTTPStatusCode']} "
        outcome += exc.response["Error"]["Code"]
    return (time.perf_counter() - started) * 1000, outcome


def _recovery(client: Any, instance_id: str) -> dict[str, Any]:
    """Normal requests right after the load: a read, then sends until one is acknowledged."""
    read_ms, read = _timed(lambda: client.get_instance(instanceId=instance_id))
    started = time.perf_counter()
    sends: list[tuple[float, str]] = []
    while True:
        sends.append(
            _timed(
                lambda: client.send_data_integration_event(
                    instanceId=instance_id,
                    eventType="scn.data.inboundorderline",
                    eventGroupId="after-overload",
                    data=json.dumps(
                        {
                            "id": f"after-{len(sends)}",
                            "order_id": "after",
                            "tpartner_id": "SUP-1",
                            "product_id": "SKU-1",
                            "quantity_submitted": 1.0,
                        }
                    ),
                )
            )
        )
        if sends[-1][1] == "200" or time.perf_counter() - started > 10:
            break
        time.sleep(0.05)
    list_ms, listed = _timed(
        lambda: client.list_data_integration_events(instanceId=instance_id, maxResults=20)
    )
    return {
        "get_instance_ms": round(read_ms, 1),
        "get_instance": read,
        "first_send_ms": round(sends[0][0], 1),
        "first_send": sends[0][1],
        "sends_until_acknowledged": len(sends) if sends[-1][1] == "200" else None,
        "acknowledged_after_ms": round((time.perf_counter() - started) * 1000, 1),
        "list_events_ms": round(list_ms, 1),
        "list_events": listed,
        "acknowledged_after_load": sum(1 for _, outcome in sends if outcome == "200"),
    }


def _drain(server: ServerHandle, instance_id: str, timeout: float) -> float | None:
    """Seconds until the loader has applied every event of the instance (None: not in time)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if _stored(server, instance_id)[1] == 0:
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def overload(
    duration: float,
    processes: int,
    connections: int,
    bulk_seconds: float = 0.0,
    bulk_connections: int = 64,
) -> dict[str, Any]:
    """Start a server, overload it for ``duration`` seconds, and return the figures.

    With ``bulk_seconds``, 1 MiB events from ``bulk_connections`` connections follow (the
    memory case: every body is read whole before it can be refused).
    """
    with running_server(**SERVER_SETTINGS) as server:
        assert server.process is not None
        client = server.client(connect_timeout=5, read_timeout=60)
        target = Target("127.0.0.1", server.port, server.access_key_id, server.secret_access_key)
        instance_id = active_instance(client, "bench-overload")
        workload = Workload("event", instance_id, tag=f"overload-{int(time.time())}")
        status, code, body = send_once(target, workload)
        if status != 200:
            raise RuntimeError(f"a signed event got {status} {code}: {body[:300]!r}")
        time.sleep(1)  # the loader applies that one; the bucket refills
        before = _memory(server)
        phase: PhaseResult = run_phase(
            "overload",
            target,
            workload,
            processes=processes,
            connections=connections,
            duration=duration,
            warmup=0.0,
            server_pid=server.process.pid,
        )
        recovery = _recovery(client, instance_id)
        mid = _memory(server)
        bulk = None
        if bulk_seconds > 0:
            bulk = run_phase(
                "overload, 1 MiB events",
                target,
                Workload("bulk", instance_id, tag=f"overload-bulk-{int(time.time())}"),
                processes=processes,
                connections=bulk_connections,
                duration=bulk_seconds,
                warmup=0.0,
                server_pid=server.process.pid,
            )
        after = _memory(server)
        stored, pending_at_end = _stored(server, instance_id)
        drained = _drain(server, instance_id, timeout=120)
        alive = server.process.poll() is None
        log_errors = [line for line in server.log_tail(2000).splitlines() if " ERROR " in line][-5:]

    by_status: dict[str, int] = {}
    for (status_code, error), n in sorted(phase.statuses.items()):
        key = f"{status_code} {error}".strip()
        by_status[key] = by_status.get(key, 0) + n
    answered = phase.statuses.total()
    lost_answers = sum(n for (s, _), n in phase.statuses.items() if s == 0)
    acked = phase.ok + phase.outside_ok + 1 + recovery["acknowledged_after_load"]
    if bulk is not None:
        acked += bulk.ok + bulk.outside_ok
        lost_answers += sum(n for (s, _), n in bulk.statuses.items() if s == 0)
    return {
        "duration_s": duration,
        "processes": processes,
        "connections": connections,
        "limits": {"event_rate": RATE, "event_burst": RATE, "max_pending_events": PENDING},
        "answers": answered,
        "offered_per_s": round(answered / duration),
        "acknowledged_per_s": round(phase.ok / duration),
        "by_status": by_status,
        "server_errors_5xx": sum(n for (s, _), n in phase.statuses.items() if s >= 500),
        "answers_lost": lost_answers,
        "latency_p50_ms": round(phase.percentile(50), 1),
        "latency_p99_ms": round(phase.percentile(99), 1),
        "acknowledged": acked,
        "stored": stored,
        "missing": max(0, acked - stored),
        "stored_beyond_acknowledged": stored - acked,
        "pending_at_end": pending_at_end,
        "loader_drained_after_s": None if drained is None else round(drained, 2),
        "memory_before_mib": before,
        "memory_after_mib": mid,
        "api_rss_peak_mib": round(mid["api"]["VmHWM"], 1),
        "memory_after_bulk_mib": after if bulk is not None else None,
        "rss_bound_mib": RSS_BOUND_MIB,
        "recovery": recovery,
        "server_alive": alive,
        "server_cores": round(phase.server_cores or 0.0, 2),
        "client_cores": round(phase.client_cores, 2),
        "machine_cores": round(phase.machine_cores or 0.0, 2),
        "server_log_errors": log_errors,
        "bulk": None if bulk is None else _bulk_figures(bulk),
    }


def _bulk_figures(phase: PhaseResult) -> dict[str, Any]:
    return {
        "duration_s": phase.duration,
        "mode": phase.mode,
        "answers": phase.statuses.total(),
        "by_status": {
            f"{status} {code}".strip(): n for (status, code), n in sorted(phase.statuses.items())
        },
        "server_errors_5xx": sum(n for (s, _), n in phase.statuses.items() if s >= 500),
        "latency_p50_ms": round(phase.percentile(50), 1),
        "latency_p99_ms": round(phase.percentile(99), 1),
    }


def _print(figures: dict[str, Any]) -> None:
    f = figures
    print(
        f"overload: {f['duration_s']:g} s closed loop, {f['connections']} connections from "
        f"{f['processes']} processes; limits {f['limits']}"
    )
    print(
        f"  answers {f['answers']:,} ({f['offered_per_s']:,}/s offered and answered), "
        f"acknowledged {f['acknowledged_per_s']:,}/s; p50 {f['latency_p50_ms']} ms, "
        f"p99 {f['latency_p99_ms']} ms"
    )
    print(f"  by status: {f['by_status']}; 5xx {f['server_errors_5xx']}")
    print(
        f"  acknowledged {f['acknowledged']:,}, in the store {f['stored']:,}, missing "
        f"{f['missing']}, stored beyond acknowledged {f['stored_beyond_acknowledged']} "
        f"(answers lost on the way: {f['answers_lost']})"
    )
    print(
        f"  API process RSS: {f['memory_before_mib']['api']['VmRSS']:.0f} MiB before, peak "
        f"{f['api_rss_peak_mib']:.0f} MiB (bound {f['rss_bound_mib']} MiB); all: "
        f"{f['memory_after_mib']}"
    )
    r = f["recovery"]
    print(
        f"  right after: GetInstance {r['get_instance_ms']} ms ({r['get_instance']}), first send "
        f"{r['first_send_ms']} ms ({r['first_send']}), acknowledged after "
        f"{r['acknowledged_after_ms']} ms, ListDataIntegrationEvents {r['list_events_ms']} ms"
    )
    print(
        f"  pending at the end {f['pending_at_end']}, loader drained them in "
        f"{f['loader_drained_after_s']} s; server alive: {f['server_alive']}; cores busy "
        f"server {f['server_cores']}, client {f['client_cores']}, machine {f['machine_cores']}"
    )
    if f["bulk"]:
        b = f["bulk"]
        print(
            f"  then 1 MiB events for {b['duration_s']:g} s ({b['mode']}): {b['answers']:,} "
            f"answers, {b['by_status']}, 5xx {b['server_errors_5xx']}, p50 "
            f"{b['latency_p50_ms']} ms, p99 {b['latency_p99_ms']} ms"
        )
        print(f"  memory after the 1 MiB events (MiB): {f['memory_after_bulk_mib']}")
    if f["server_log_errors"]:
        print(f"  server log errors: {f['server_log_errors']}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Overload benchmark: limits, memory, recovery.")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of overload")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--connections", type=int, default=256, help="in all processes")
    parser.add_argument("--bulk-seconds", type=float, default=15.0, help="then 1 MiB events")
    parser.add_argument("--bulk-connections", type=int, default=64)
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    print(f"supplylake overload benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    figures = overload(
        args.duration, args.processes, args.connections, args.bulk_seconds, args.bulk_connections
    )
    _print(figures)
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
