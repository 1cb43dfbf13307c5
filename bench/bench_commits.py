"""Commit time as small commits pile up on one Iceberg table, applied the way the loader does.

Run: ``uv run python bench/bench_commits.py [--commits 5000] [--rows 10] [--operation UPSERT]``.

In process, no server: a Lake on a fresh folder (SQLite catalog, local warehouse), one table
shaped like asc ``inbound_order_line`` (31 columns, 4-column key). Each commit is one
``Lake.apply_batch`` of ``--rows`` records (one Change, as one event's worth) followed by
``Lake.maybe_maintain`` with its defaults. By default maintenance runs as the loader runs it: on
a thread of its own, at most every ``--maintain-every`` seconds (the loader's
``loader_maintain_seconds``), while commits go on; ``--maintenance inline`` runs it after every
commit instead, as the loader did before.
By default every commit UPSERTs new keys (the table grows by ``--rows`` rows a commit);
``--key-space N`` UPSERTs random keys among N instead, so most commits replace rows.

"Commit time" is the wall time of ``apply_batch`` (load the table, fold, write, commit);
maintenance is timed apart, and both together are what the loader spends per batch.
It prints figures and never fails on them.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from _lake_bench import Busy, files_under, order_lines_schema, percentile, record
from supplylake.lake import Change, Lake
from supplylake.schema.arrow import records_to_arrow
from supplylake.schema.types import Operation

NAMESPACE = "default"


def _p50(values: list[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")


class _Background:
    """Maintenance on a thread, at most every `every` seconds, as the loader's Maintainer."""

    def __init__(self, lake: Lake, instance_id: str, name: str, every: float) -> None:
        self.lake, self.instance_id, self.name, self.every = lake, instance_id, name, every
        self.stopping = threading.Event()
        # Held by each commit, and by maintenance while it commits (the loader's dataset lease).
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.passes = self.compactions = self.expired = 0
        self.seconds = 0.0

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join()

    def _run(self) -> None:
        while not self.stopping.wait(self.every):
            t0 = time.perf_counter()
            result = self.lake.maybe_maintain(
                self.instance_id, NAMESPACE, self.name, exclusive=lambda: self.lock
            )
            self.seconds += time.perf_counter() - t0
            self.passes += 1
            compacted = result.compacted
            self.compactions += compacted is not None and compacted.snapshot_id is not None
            self.expired += result.snapshots_expired


def main() -> None:
    parser = argparse.ArgumentParser(description="Commit time after thousands of small commits.")
    parser.add_argument("--commits", type=int, default=5000)
    parser.add_argument("--rows", type=int, default=10, help="records per commit")
    parser.add_argument("--operation", choices=["UPSERT", "APPEND"], default="UPSERT")
    parser.add_argument(
        "--key-space", type=int, default=0, help="UPSERT random keys among N (0: new keys)"
    )
    parser.add_argument("--window", type=int, default=100, help="commits per compared window")
    parser.add_argument("--every", type=int, default=500, help="print a checkpoint every N")
    parser.add_argument("--dir", default=None, help="folder for the lake (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the lake folder")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--maintenance", choices=["background", "inline"], default="background")
    parser.add_argument("--maintain-every", type=float, default=5.0, help="seconds (background)")
    args = parser.parse_args()

    folder = Path(args.dir or tempfile.mkdtemp(prefix="supplylake-commits-"))
    folder.mkdir(parents=True, exist_ok=True)
    warehouse = folder / "warehouse"
    lake = Lake(f"sqlite:///{folder / 'catalog.db'}", str(warehouse))
    schema = order_lines_schema("order_lines")
    instance_id = str(uuid.uuid4())
    lake.create_table(instance_id, NAMESPACE, schema)
    operation = Operation(args.operation)
    rng = random.Random(args.seed)

    print(f"supplylake commit benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    keys = f"random keys among {args.key_space:,}" if args.key_space else "new keys each commit"
    print(
        f"{args.commits:,} commits of {args.rows} rows ({args.operation}, {keys}) to one "
        f"{len(schema.fields)}-column table; Lake.apply_batch per commit, Lake.maybe_maintain "
        + (
            f"on a thread every {args.maintain_every:g} s"
            if args.maintenance == "background"
            else "after each commit"
        )
    )
    print(f"lake in {folder}\n")
    print(
        f"{'commits':>9} {'commit p50':>11} {'p90':>8} {'max':>8} {'maint p50':>10} "
        f"{'maint max':>10} {'data files':>11} {'snapshots':>10} {'files on disk':>14} "
        f"{'cores: ours/machine':>20}"
    )

    commit_s: list[float] = []
    maintain_s: list[float] = []
    compactions = expired = 0
    started = time.perf_counter()
    busy = window_busy = Busy()
    n = 0
    background = _Background(lake, instance_id, schema.name, args.maintain_every)
    if args.maintenance == "background":
        background.start()
    for i in range(1, args.commits + 1):
        batch = []
        for _ in range(args.rows):
            key = rng.randrange(args.key_space) if args.key_space else n
            batch.append(record(schema, n, key))
            n += 1
        rows = records_to_arrow(batch, schema, operation=operation)
        t0 = time.perf_counter()
        with background.lock:
            lake.apply_batch(instance_id, NAMESPACE, schema, [Change(operation, rows)], position=i)
        t1 = time.perf_counter()
        if args.maintenance == "inline":
            result = lake.maybe_maintain(instance_id, NAMESPACE, schema.name)
            compactions += result.compacted is not None and result.compacted.snapshot_id is not None
            expired += result.snapshots_expired
        t2 = time.perf_counter()
        commit_s.append(t1 - t0)
        maintain_s.append(t2 - t1)
        if i % args.every == 0 or i == args.commits:
            window = commit_s[-args.every :]
            table = lake.table(instance_id, NAMESPACE, schema.name)
            summary = table.current_snapshot().summary
            print(
                f"{i:>9,} {_p50(window):>9.1f}ms "
                f"{percentile(sorted(window), 90) * 1000:>6.1f}ms {max(window) * 1000:>6.0f}ms "
                f"{_p50(maintain_s[-args.every :]):>8.1f}ms "
                f"{max(maintain_s[-args.every :]) * 1000:>8.0f}ms "
                f"{summary.get('total-data-files', '?'):>11} {len(table.snapshots()):>10} "
                f"{files_under(str(warehouse)):>14,} "
                f"{window_busy.stop().ours:>13.2f} / {window_busy.machine:.2f}",
                flush=True,
            )
            window_busy = Busy()
    elapsed = time.perf_counter() - started
    busy.stop()
    background.stop()
    compactions += background.compactions
    expired += background.expired

    w = min(args.window, len(commit_s))
    first, last = _p50(commit_s[:w]), _p50(commit_s[-w:])
    both = [c + m for c, m in zip(commit_s, maintain_s, strict=True)]
    first_both, last_both = _p50(both[:w]), _p50(both[-w:])
    table = lake.table(instance_id, NAMESPACE, schema.name)
    summary = table.current_snapshot().summary
    print()
    print(f"{args.commits:,} commits in {elapsed:.0f} s ({args.commits / elapsed:.1f} commits/s)")
    print(
        f"commit time p50, first {w}: {first:.1f} ms; last {w}: {last:.1f} ms; "
        f"ratio {last / first:.2f} (aim <= 2)"
    )
    print(
        f"commit + maintenance p50, first {w}: {first_both:.1f} ms; last {w}: {last_both:.1f} ms; "
        f"ratio {last_both / first_both:.2f}; mean over all {statistics.fmean(both) * 1000:.1f} ms"
    )
    spent = sum(maintain_s) + background.seconds
    print(
        f"maintenance: {compactions} compactions, {expired} snapshots expired, "
        f"{spent:.0f} s in all ({spent / elapsed:.0%} of the run"
        + (f", {background.passes} passes on its thread)" if background.passes else ")")
    )
    print(
        f"at the end: {summary.get('total-records', '?')} rows, "
        f"{summary.get('total-data-files', '?')} data files, {len(table.snapshots())} snapshots, "
        f"{len(table.metadata.metadata_log)} metadata log entries, "
        f"{files_under(str(warehouse)):,} files under the warehouse"
    )
    print(f"cores busy: this process {busy.ours:.2f}, whole machine {busy.machine:.2f}")
    if busy.warning():
        print(busy.warning())
    lake.close()
    if args.keep or args.dir:
        print(f"lake kept in {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
