"""A writer beside a back-to-back writer on one SQLite database, with and without the write gate.

Run: ``uv run python bench/bench_writegate.py [--writes 200]``.

One process commits small transactions back to back (as the API's group commit does under
load: BEGIN IMMEDIATE, a few 1 KB rows, COMMIT, again); this one makes one small write every
20 ms (as the loader's catalog commits and status updates do) and times each. Without the gate,
the second writer sleeps in SQLite's busy handler (1, 2, 5, 10 ms, ...) and mostly finds the
lock taken again when it wakes; with it (``supplylake.store.writegate``), it waits in the kernel
and is let in as soon as the first writer commits. Both phases in one run, in turns. It prints
figures and never fails on them.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from supplylake.store.writegate import gate_for


def _connect(database: str) -> sqlite3.Connection:
    conn = sqlite3.connect(database, timeout=30, isolation_level=None)
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def _back_to_back(database: str, gated: bool, stop: Any, commits: Any) -> None:
    conn = _connect(database)
    gate = gate_for(database) if gated else contextlib.nullcontext()
    rows = [("x" * 1000,)] * 5
    while not stop.is_set():
        with gate:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO busy (v) VALUES (?)", rows)
            conn.execute("COMMIT")
        commits.value += 1


def _phase(database: str, gated: bool, writes: int) -> tuple[list[float], float]:
    ctx = multiprocessing.get_context("spawn")
    stop, commits = ctx.Event(), ctx.Value("q", 0, lock=False)
    other = ctx.Process(target=_back_to_back, args=(database, gated, stop, commits))
    other.start()
    time.sleep(1.0)  # the other writer is up and committing
    conn = _connect(database)
    gate = gate_for(database) if gated else contextlib.nullcontext()
    took = []
    started, first = time.perf_counter(), commits.value
    for _ in range(writes):
        t0 = time.perf_counter()
        with gate:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO mine (v) VALUES ('y')")
            conn.execute("COMMIT")
        took.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.02)
    rate = (commits.value - first) / (time.perf_counter() - started)
    stop.set()
    other.join()
    conn.close()
    return sorted(took), rate


def _pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def main() -> None:
    parser = argparse.ArgumentParser(description="SQLite writes beside a back-to-back writer.")
    parser.add_argument("--writes", type=int, default=200, help="timed writes per phase")
    parser.add_argument("--rounds", type=int, default=2, help="phases of each kind, in turns")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="supplylake-gate-"))
    database = str(folder / "bench.db")
    conn = sqlite3.connect(database, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE busy (id INTEGER PRIMARY KEY, v TEXT)")
    conn.execute("CREATE TABLE mine (id INTEGER PRIMARY KEY, v TEXT)")
    conn.close()
    print(f"supplylake write gate benchmark: {os.cpu_count()} cores; {args.writes} writes a phase")
    print(
        f"{'phase':<28} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'other commits/s':>16}"
    )
    for _ in range(args.rounds):
        for gated in (False, True):
            took, rate = _phase(database, gated, args.writes)
            name = "with the gate" if gated else "SQLite busy handler alone"
            print(
                f"{name:<28} {_pct(took, 50):>8.2f} {_pct(took, 90):>8.2f} {_pct(took, 99):>8.2f} "
                f"{took[-1]:>8.2f} {rate:>16,.0f}"
            )
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


if __name__ == "__main__":
    main()
