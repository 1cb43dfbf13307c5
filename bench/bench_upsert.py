"""UPSERT and DELETE commit time against table size (merge-on-read with the key index).

Run: ``uv run python bench/bench_upsert.py`` (builds 100k, 1M and 5M-row tables of asc
``inbound_order_line``: 49 columns, key id, order_id, tpartner_id, product_id; several minutes).
Options: ``--sizes 100000,1000000``, ``--runs 11``, ``--no-pyiceberg``, ``--sustained 300``.
Prints figures; it never fails a build.

Per size: the first UPSERT after the bulk load (it indexes the keys of the loaded files), then
the p50/p90 of ``Lake.apply_batch`` for batches of 1,000 UPSERT records (half existing keys, half
new) and of 1,000 DELETE keys (existing), taken in turns over the sizes, then pyiceberg's own
``Table.upsert`` of a like batch (100k and 1M only, in a child process killed after
``--pyiceberg-timeout`` seconds). No maintenance runs between the batches.

``--sustained N``: 5,000 upserted records/s (half existing keys) into a 1M-row dataset for N
seconds, one batch per ``--interval`` seconds, with ``Lake.maybe_maintain`` running as the loader
runs it (``--maintenance thread``, the default): on a thread of the same process every
``--maintain-every`` seconds, holding the writer off while it commits (the loader's dataset
lease); or, with ``--maintenance process``, looping in another process at a lower priority. Freshness is the time from the end of a batch's interval (when
its last record arrived) to its commit; batches that fall behind wait, and that wait counts.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import queue
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from supplylake.lake import Change, Lake
from supplylake.schema.asc import asc_datasets
from supplylake.schema.types import DatasetSchema, FieldType, Operation

NAMESPACE = "asc"
KEY = ("id", "order_id", "tpartner_id", "product_id")
_WORDS = pa.array(["OPEN", "CONFIRMED", "SHIPPED", "RECEIVED", "CANCELLED", "DC-ATL-01"])
_BASE_US = 1_767_225_600_000_000  # 2026-01-01


def schema_of(name: str) -> DatasetSchema:
    base = asc_datasets()["inbound_order_line"]
    return DatasetSchema(name, base.fields, base.primary_keys)


def rows(schema: DatasetSchema, ids: pa.Array, version: int = 0) -> pa.Table:
    """Records with key `ids` (int64); other values derive from id and `version`."""
    ids = ids.cast(pa.int64())

    def mod(values: pa.Array, m: int) -> pa.Array:
        return pc.subtract(values, pc.multiply(pc.divide(values, m), m))

    def text(prefix: str, values: pa.Array, width: int) -> pa.Array:
        padded = pc.utf8_lpad(values.cast(pa.string()), width=width, padding="0")
        return pc.binary_join_element_wise(prefix, padded, "")

    seed = pc.add(ids, version)
    columns: dict[str, pa.Array] = {
        "id": text("line-", ids, 10),
        "order_id": text("PO-", pc.divide(ids, 10), 9),
        "tpartner_id": text("supplier-", mod(ids, 500), 3),
        "product_id": text("SKU-", mod(pc.multiply(ids, 7919), 100_000), 6),
    }
    for i, field in enumerate(schema.fields):
        if field.name in columns:
            continue
        mixed = mod(pc.add(pc.multiply(seed, 31), i), 100_003)
        if field.name == "connection_id":
            columns[field.name] = pa.array(["bench"] * len(ids), pa.string())
        elif field.type is FieldType.STRING:
            word = pc.take(_WORDS, mod(pc.add(seed, i), len(_WORDS)))
            columns[field.name] = pc.binary_join_element_wise(word, mixed.cast(pa.string()), "-")
        elif field.type is FieldType.DOUBLE:
            columns[field.name] = pc.divide(mixed.cast(pa.float64()), 100.0)
        elif field.type in (FieldType.INT, FieldType.LONG):
            columns[field.name] = mixed
        else:
            micros = pc.add(
                pc.multiply(mod(pc.multiply(seed, 97), 31_536_000), 1_000_000), _BASE_US
            )
            columns[field.name] = micros.cast(pa.timestamp("us", tz="UTC"))
    return pa.table(columns)


def id_range(start: int, count: int) -> pa.Array:
    return pa.array(range(start, start + count), pa.int64())


class Bench:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.catalog = f"sqlite:///{folder / 'catalog.db'}"
        self.warehouse = str(folder / "warehouse")
        self.lake = Lake(self.catalog, self.warehouse)
        self.instance = str(uuid.uuid4())
        self.position: dict[str, int] = {}

    def apply(self, schema: DatasetSchema, op: Operation, batch: pa.Table) -> float:
        self.position[schema.name] = self.position.get(schema.name, 0) + 1
        started = time.perf_counter()
        self.lake.apply_batch(
            self.instance, NAMESPACE, schema, [Change(op, batch)], self.position[schema.name]
        )
        return time.perf_counter() - started

    def build(self, schema: DatasetSchema, size: int, chunk: int = 1_000_000) -> float:
        self.lake.create_table(self.instance, NAMESPACE, schema)
        started = time.perf_counter()
        for start in range(0, size, chunk):
            self.apply(
                schema, Operation.APPEND, rows(schema, id_range(start, min(chunk, size - start)))
            )
        return time.perf_counter() - started


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Sized:
    """One table of the size run and the batches measured on it."""

    def __init__(self, bench: Bench, size: int, rng: random.Random) -> None:
        self.bench, self.size, self.rng = bench, size, rng
        self.schema = schema_of(f"lines_{size}")
        self.next_id = size
        self.upserts: list[float] = []
        self.deletes: list[float] = []
        self.build = bench.build(self.schema, size)
        self.first = self.upsert()  # indexes the keys of the bulk-loaded files
        self.upserts.clear()
        self.pyiceberg = "-"

    def upsert(self) -> float:
        """1,000 records: 500 existing keys, 500 new ones."""
        existing = self.rng.sample(range(self.size), 500)
        ids = pa.array(existing + list(range(self.next_id, self.next_id + 500)), pa.int64())
        self.next_id += 500
        took = self.bench.apply(self.schema, Operation.UPSERT, rows(self.schema, ids, self.next_id))
        self.upserts.append(took)
        return took

    def delete(self) -> float:
        """1,000 existing keys (a key deleted before is simply not found again)."""
        ids = pa.array(self.rng.sample(range(self.size), 1000), pa.int64())
        took = self.bench.apply(self.schema, Operation.DELETE, rows(self.schema, ids).select(KEY))
        self.deletes.append(took)
        return took


def _timed(run: Any, repeat: int = 1) -> float:
    """The best of `repeat` runs (other work on the machine only ever adds time)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def _pyiceberg_upsert(
    catalog: str, warehouse: str, instance: str, name: str, size: int, out: Any
) -> None:
    # The tables ask other engines for merge-on-read; pyiceberg warns that it cannot.
    warnings.filterwarnings("ignore", "Merge on read is not yet supported")
    lake = Lake(catalog, warehouse)
    schema = schema_of(name)
    table = lake.table(instance, NAMESPACE, name)
    rng = random.Random(7)
    ids = pa.array(
        rng.sample(range(size), 500) + list(range(10 * size, 10 * size + 500)), pa.int64()
    )
    batch = rows(schema, ids, version=99)
    arrow_schema = table.schema().as_arrow()
    batch = pa.Table.from_arrays(
        [batch.column(f.name).cast(f.type) for f in arrow_schema], schema=arrow_schema
    )
    started = time.perf_counter()
    table.upsert(batch, join_cols=list(KEY))
    out.put(time.perf_counter() - started)


def pyiceberg_upsert(bench: Bench, table: Sized, timeout: float) -> str:
    context = mp.get_context("spawn")
    out = context.Queue()
    child = context.Process(
        target=_pyiceberg_upsert,
        args=(bench.catalog, bench.warehouse, bench.instance, table.schema.name, table.size, out),
    )
    child.start()
    child.join(timeout)
    if child.is_alive():
        child.kill()
        child.join()
        return f"> {timeout:.0f} s (stopped)"
    if child.exitcode != 0 or out.empty():
        return f"failed (exit code {child.exitcode})"
    return f"{out.get():.2f} s"


def sizes_report(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-upsert-", dir=args.dir))
    bench = Bench(folder)
    rng = random.Random(42)
    print(f"supplylake upsert benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"asc inbound_order_line (49 columns, 4-column key); lake in {folder}\n")
    try:
        tables = []
        for size in args.sizes:
            table = Sized(bench, size, rng)
            tables.append(table)
            print(
                f"{size:>10,} rows: built in {table.build:.1f} s; the first UPSERT, which indexes "
                f"the keys of the loaded files, took {table.first:.2f} s",
                flush=True,
            )
        # In turns over the sizes, so that other work on the machine weighs on all alike.
        for _ in range(args.runs):
            for table in tables:
                table.upsert()
                table.delete()
        _print_table(tables)
        if not args.no_pyiceberg:
            print()
            for table in tables:
                if table.size > 1_000_000:
                    table.pyiceberg = "skipped (minutes at this size)"
                else:
                    table.pyiceberg = pyiceberg_upsert(bench, table, args.pyiceberg_timeout)
                print(
                    f"pyiceberg Table.upsert of a like batch into {table.size:,} rows: "
                    f"{table.pyiceberg}",
                    flush=True,
                )
    finally:
        bench.lake.close()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


def _print_table(tables: list[Sized]) -> None:
    print()
    print(f"{'rows':>10} | {'UPSERT 1k p50':>13} {'p90':>11} | {'DELETE 1k p50':>13} {'p90':>11}")
    for t in tables:
        print(
            f"{t.size:>10,} | {_ms(statistics.median(t.upserts)):>13} {_ms(_pct(t.upserts, 0.9))} "
            f"| {_ms(statistics.median(t.deletes)):>13} {_ms(_pct(t.deletes, 0.9))}"
        )
    if len(tables) > 1:
        small, large = tables[0], tables[-1]
        for op, a, b in (
            ("UPSERT", large.upserts, small.upserts),
            ("DELETE", large.deletes, small.deletes),
        ):
            ratio = statistics.median(a) / statistics.median(b)
            print(f"{op} p50 at {large.size:,} / at {small.size:,}: {ratio:.2f} (aim <= 2)")


# -- sustained -------------------------------------------------------------------------------


def _maintain_loop(
    catalog: str, warehouse: str, instance: str, name: str, stop: Any, out: Any
) -> None:
    logging.getLogger("pyiceberg").setLevel(logging.ERROR)
    os.nice(10)  # background work: the loader comes first
    lake = Lake(catalog, warehouse)
    while not stop.is_set():
        started = time.perf_counter()
        try:
            result = lake.maybe_maintain(instance, NAMESPACE, name)
        except Exception as exc:  # reported, never fatal
            out.put(("error", repr(exc)))
        else:
            if result.compacted is not None and result.compacted.snapshot_id is not None:
                out.put(("compaction", time.perf_counter() - started))
        stop.wait(1.0)
    lake.close()


def _maintain_thread(
    lake: Lake, instance: str, name: str, every: float, lock: Any, stop: Any, out: Any
) -> None:
    """As the loader's Maintainer: every `every` seconds, holding `lock` while committing."""
    while not stop.wait(every):
        started = time.perf_counter()
        try:
            result = lake.maybe_maintain(instance, NAMESPACE, name, exclusive=lambda: lock)
        except Exception as exc:  # reported, never fatal
            out.put(("error", repr(exc)))
        else:
            if result.compacted is not None and result.compacted.snapshot_id is not None:
                out.put(("compaction", time.perf_counter() - started))


def _read(bench: Bench, schema: DatasetSchema, snapshot_id: int, how: str) -> None:
    """Read a snapshot with `Lake.scan`; with "duckdb", run a group-by over it as well."""
    scanned = bench.lake.scan(bench.instance, NAMESPACE, schema.name, snapshot_id=snapshot_id)
    if how == "duckdb":  # as `supplylake.query.engine.run_query` shows a table to DuckDB
        con = duckdb.connect()
        con.register("scanned", scanned)
        con.sql("SELECT status, count(*) FROM scanned GROUP BY 1").fetchall()
        con.close()


def _read_times(bench: Bench, schema: DatasetSchema, snapshots: list[int]) -> dict[Any, float]:
    """Best of 5 per snapshot and kind of read, taken in turns so that load weighs on all alike."""
    best: dict[Any, float] = {}
    for _ in range(5):
        for snapshot in snapshots:
            for how in ("scan", "duckdb"):
                took = _timed(lambda: _read(bench, schema, snapshot, how))  # noqa: B023
                best[how, snapshot] = min(best.get((how, snapshot), took), took)
    return best


def sustained_report(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-sustained-", dir=args.dir))
    bench = Bench(folder)
    schema = schema_of("lines_sustained")
    size = 1_000_000
    rng = random.Random(3)
    print(f"sustained: {args.rate:,} upserted records/s into {size:,} rows for {args.sustained} s")
    bench.build(schema, size)
    bench.apply(schema, Operation.UPSERT, rows(schema, pa.array([0], pa.int64())))  # index keys
    lock = threading.Lock()  # held by each commit: what the loader's dataset lease is
    maintainer: Any
    if args.maintenance == "thread":
        stop, out = threading.Event(), queue.Queue()
        maintainer = threading.Thread(
            target=_maintain_thread,
            args=(bench.lake, bench.instance, schema.name, args.maintain_every, lock, stop, out),
        )
    else:
        context = mp.get_context("spawn")
        stop, out = context.Event(), context.Queue()
        maintainer = context.Process(
            target=_maintain_loop,
            args=(bench.catalog, bench.warehouse, bench.instance, schema.name, stop, out),
        )
    print(f"maintenance: {args.maintenance}")
    maintainer.start()
    per_batch = int(args.rate * args.interval)
    next_id = size
    commits: list[float] = []
    freshness: list[float] = []
    started = time.perf_counter()
    due = started
    try:
        while due + args.interval <= started + args.sustained:
            due += args.interval
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            half = per_batch // 2
            ids = rng.sample(range(size), half) + list(range(next_id, next_id + per_batch - half))
            next_id += per_batch - half
            batch = rows(schema, pa.array(ids, pa.int64()), len(commits))
            with lock:
                commits.append(bench.apply(schema, Operation.UPSERT, batch))
            freshness.append(time.perf_counter() - due)
    finally:
        stop.set()
        maintainer.join(120)
    events = []
    while not out.empty():
        events.append(out.get())
    compactions = [t for kind, t in events if kind == "compaction"]
    errors = [t for kind, t in events if kind == "error"]

    table = bench.lake.table(bench.instance, NAMESPACE, schema.name)
    summary = table.current_snapshot().summary
    as_left = table.current_snapshot().snapshot_id
    bench.lake.compact(bench.instance, NAMESPACE, schema.name, min_deleted_share=0.0)
    compacted = bench.lake.table(bench.instance, NAMESPACE, schema.name).current_snapshot()
    reads = _read_times(bench, schema, [as_left, compacted.snapshot_id])

    print(
        f"{len(commits)} batches of {per_batch:,} records; commit p50 "
        f"{_ms(statistics.median(commits))}, p99 {_ms(_pct(commits, 0.99))}, "
        f"max {_ms(max(commits))}"
    )
    print(
        f"freshness p50 {_ms(statistics.median(freshness))}, p99 {_ms(_pct(freshness, 0.99))}, "
        f"max {_ms(max(freshness))} (aim: p99 < 3 s)"
    )
    done = f", {statistics.median(compactions):.2f} s p50, {max(compactions):.2f} s max"
    print(
        f"background compactions: {len(compactions)}{done if compactions else ''}"
        + (f"; errors: {errors[:3]}" if errors else "")
    )
    print(
        f"table as left: {summary.get('total-records')} rows in "
        f"{summary.get('total-data-files')} data files, {summary.get('total-delete-files')} "
        f"delete files ({summary.get('total-position-deletes')} positions deleted)"
    )
    for how, label in (("scan", "full scan to Arrow"), ("duckdb", "scan + DuckDB group-by")):
        now, best = reads[how, as_left], reads[how, compacted.snapshot_id]
        print(
            f"{label}: {now:.2f} s as left, {best:.2f} s after a full compaction; "
            f"ratio {now / best:.2f} (aim <= 2)"
        )
    bench.lake.close()
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    # Commit retries and concurrent clean-ups of old metadata files are expected here.
    logging.getLogger("pyiceberg").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="100000,1000000,5000000")
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--no-pyiceberg", action="store_true")
    parser.add_argument("--pyiceberg-timeout", type=float, default=240.0)
    parser.add_argument("--sustained", type=int, default=0, help="seconds of the sustained run")
    parser.add_argument("--rate", type=int, default=5000, help="records/s in the sustained run")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds per sustained batch")
    parser.add_argument("--maintenance", choices=["thread", "process"], default="thread")
    parser.add_argument("--maintain-every", type=float, default=5.0, help="seconds (thread)")
    parser.add_argument("--dir", default=None, help="folder for the lake (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the lake folder")
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.sustained:
        sustained_report(args)
    else:
        sizes_report(args)


if __name__ == "__main__":
    main()
