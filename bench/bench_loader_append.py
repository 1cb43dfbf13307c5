"""APPEND throughput of the loader against pyiceberg writing the same rows, in the same run.

Run: ``uv run python bench/bench_loader_append.py [--rows 200000] [--records-per-event 1000]``.

1. A real server (``loader=false``) gets an instance and two identical custom datasets shaped
   like asc ``inbound_order_line`` (31 columns): ``via_loader`` and ``via_pyiceberg``, so both
   tables are created the same way, by CreateDataLakeDataset. The records are sent to
   ``via_loader`` through the real API as signed APPEND events of ``--records-per-event``
   records each; then the server stops. The store is thus filled exactly as in production.
2. pyiceberg directly: the same records, converted to Arrow beforehand (not timed), are written
   with ``Table.append`` to ``via_pyiceberg``, one append per loader batch (the same rows per
   commit as the loader makes), then again one append per event into a third table.
3. The loader: ``Loader(store, lake, ...).run_until_idle()`` in this process, on the
   server's data folder: read the pending events from SQLite, parse and convert the JSON, fold,
   write and commit, and mark the events SUCCEEDED. All of it is timed. (Maintenance runs on
   a thread of its own in a running loader, not in ``run_until_idle``.)

It prints rows/s of each and the ratio loader / pyiceberg (aim >= 0.5); it never fails on them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from _lake_bench import (
    DATASET_EVENT,
    Busy,
    EventClient,
    active_instance,
    api_schema,
    event_body,
    order_lines_schema,
    records_json,
)
from _workloads import Target
from supplylake.config import Settings
from supplylake.lake import open_lake
from supplylake.loader.loop import Loader
from supplylake.schema.arrow import records_to_arrow
from supplylake.schema.records import parse_records
from supplylake.schema.types import DatasetSchema
from supplylake.store import open_store
from supplylake.testing import running_server

NAMESPACE = "default"


def _prefill(
    data_dir: Path, events: int, per_event: int, schema: DatasetSchema
) -> tuple[str, list[str]]:
    """Send the events through the real API to a server without a loader; the instance and data."""
    with running_server(data_dir=data_dir, loader="false", max_pending_events=10**9) as server:
        client = server.client()
        instance_id = active_instance(client, "bench-append")
        arns = {}
        for name in ("via_loader", "via_pyiceberg", "via_pyiceberg_per_event"):
            arns[name] = client.create_data_lake_dataset(
                instanceId=instance_id,
                namespace=NAMESPACE,
                name=name,
                schema=api_schema(order_lines_schema(name)),
            )["dataset"]["arn"]
        target = Target("127.0.0.1", server.port, server.access_key_id, server.secret_access_key)
        sender = EventClient(target, instance_id)
        datas = []
        started = time.perf_counter()
        for e in range(events):
            data = records_json(schema, e * per_event, per_event)
            body = event_body(DATASET_EVENT, data, f"g{e % 16}", arns["via_loader"])
            sender.send(body)
            datas.append(data)
        sender.close()
        took = time.perf_counter() - started
        print(
            f"sent {events} events of {per_event:,} records ({len(datas[0]) / 1024:,.0f} KiB of "
            f"data each) through the API in {took:.1f} s; server stopped"
        )
        return instance_id, datas


def _direct(data_dir: Path, instance_id: str, name: str, tables: list[pa.Table]) -> Busy:
    """Append each Arrow table with pyiceberg's Table.append, timed."""
    lake = open_lake(data_dir)
    try:
        table = lake.table(instance_id, NAMESPACE, name)
        busy = Busy()
        for rows in tables:
            table.append(rows)
        return busy.stop()
    finally:
        lake.close()


def _loader(
    data_dir: Path, instance_id: str, name: str, batch_events: int, batch_bytes: int
) -> tuple[Busy, int]:
    """Run the loader until no event is pending, timed; and the rows in the table."""
    settings = Settings.from_env(data_dir=data_dir)
    store = open_store(settings.resolved_database_url)
    lake = open_lake(data_dir)
    try:
        loader = Loader(store, lake, batch_events=batch_events, batch_bytes=batch_bytes)
        busy = Busy()
        loader.run_until_idle()
        busy.stop()
        rows = lake.row_count(instance_id, NAMESPACE, name)
        failed = [
            e for e in store.list_events(instance_id, None, None, 10**6) if e.status != "SUCCEEDED"
        ]
        if failed:
            raise RuntimeError(f"{len(failed)} events did not succeed: {failed[0]}")
        return busy, rows
    finally:
        lake.close()
        store.close()


def _show(label: str, busy: Busy, rows: int) -> float:
    """Print a phase's figures; its rows/s."""
    rate = rows / busy.seconds
    print(f"{label}: {busy.seconds:.2f} s = {rate:,.0f} rows/s", flush=True)
    if busy.warning():
        print("  " + busy.warning())
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description="Loader APPEND throughput vs pyiceberg.")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--records-per-event", type=int, default=1000)
    parser.add_argument(
        "--batch-events",
        type=int,
        default=Settings().loader_batch_events,
        help="the loader's batch size in events (default: the server's)",
    )
    parser.add_argument(
        "--batch-bytes",
        type=int,
        default=Settings().loader_batch_bytes,
        help="the loader's batch size in bytes of event data (default: the server's)",
    )
    parser.add_argument(
        "--skip-per-event", action="store_true", help="skip pyiceberg with one append per event"
    )
    parser.add_argument("--profile", default=None, help="write a cProfile of the loader here")
    parser.add_argument("--dir", default=None, help="data folder (default: a temp dir)")
    args = parser.parse_args()

    per_event = args.records_per_event
    events = args.rows // per_event
    total = events * per_event
    schema = order_lines_schema("via_loader")
    data_dir = Path(args.dir or tempfile.mkdtemp(prefix="supplylake-append-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"supplylake loader APPEND benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}"
    )
    try:
        instance_id, datas = _prefill(data_dir, events, per_event, schema)
        # The loader's batches end at batch_events events or batch_bytes of data: pyiceberg
        # gets the same rows per commit.
        by_bytes = max(1, args.batch_bytes // max(len(d) for d in datas))
        per_batch = min(args.batch_events, events, by_bytes)
        commits = -(-events // per_batch)
        print(
            f"{total:,} rows ({len(schema.fields)} columns) as {events} APPEND events of "
            f"{per_event:,} records; loader batches of {per_batch} events "
            f"(batch_events {args.batch_events}, batch_bytes {args.batch_bytes:,}) = "
            f"{commits} commits of up to {per_batch * per_event:,} rows"
        )
        busy = Busy()
        arrow = [records_to_arrow(parse_records(d), schema) for d in datas]
        _show(
            "JSON -> Arrow alone (parse_records + records_to_arrow; untimed below)",
            busy.stop(),
            total,
        )
        del datas
        batches = [
            pa.concat_tables(arrow[i : i + per_batch]).combine_chunks()
            for i in range(0, events, per_batch)
        ]
        direct = _show(
            f"pyiceberg Table.append, {len(batches)} appends of {per_batch * per_event:,} rows",
            _direct(data_dir, instance_id, "via_pyiceberg", batches),
            total,
        )
        del batches
        per_event_rate = None
        if not args.skip_per_event:
            per_event_rate = _show(
                f"pyiceberg Table.append, {len(arrow)} appends of {per_event:,} rows",
                _direct(data_dir, instance_id, "via_pyiceberg_per_event", arrow),
                total,
            )
        del arrow
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        busy, rows = _loader(
            data_dir, instance_id, "via_loader", args.batch_events, args.batch_bytes
        )
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        if rows != total:
            raise RuntimeError(f"the loader wrote {rows:,} rows, not {total:,}")
        loader = _show(f"loader run_until_idle, {commits} commits", busy, total)
        print()
        print(f"loader / pyiceberg (same rows per commit) = {loader / direct:.2f} (aim >= 0.5)")
        if per_event_rate is not None:
            print(f"loader / pyiceberg (one append per event) = {loader / per_event_rate:.2f}")
    finally:
        if args.dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
