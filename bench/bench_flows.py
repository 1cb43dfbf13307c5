"""Data integration flows: a large CSV through a ``SELECT *`` flow, and file-to-query latency.

Run: ``uv run python bench/bench_flows.py`` (a ~1 GB, 10,000,000-line CSV shaped like
``inbound_order_line``; ~10 minutes). Options: ``--rows 2000000``, ``--rounds 2``,
``--latency-files 20``, ``--skip-large`` / ``--skip-latency``. Prints figures; never fails a build.

Large file, in turns, each run a child process of its own over a fresh lake (so its peak
memory is its own):

- ``duckdb+pyiceberg``: the baseline. DuckDB reads the file (``read_csv``, its own type
  inference), the batches are cast to the dataset's Arrow schema and appended with pyiceberg's
  public API in one transaction.
- ``flow``: an execution as the loader runs it (``flows.execute.Executor``) of a ``SELECT *``
  INCREMENTAL flow into ``asc.inbound_order_line``, the file read from a bucket folder.

Rates are CSV lines per second; the ratio is the flow's over the baseline's in the same round.

Latency: a server (``supplylake serve``, embedded default) with a flow into a custom dataset;
10,000-line files are copied into the bucket folder one after another, and the time from the
end of each copy until the rows are visible in the table (read through the lake) is recorded.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _flows_bench import (
    BUCKET,
    INSTANCE,
    add_child_options,
    lake_in,
    measure,
    run_as_child,
    s3_flow,
)

COLUMNS = (
    "'IOL' || lpad(i::VARCHAR, 9, '0') AS id",
    "'PO' || lpad((i // 10)::VARCHAR, 8, '0') AS order_id",
    "'TP' || (i % 500) AS tpartner_id",
    "'PRD' || (i % 20000) AS product_id",
    "'CO1' AS company_id",
    "'2026-0' || (1 + i % 9) || '-1' || (i % 10) || 'T08:00:00Z' AS line_creation_date",
    "CASE WHEN i % 3 = 0 THEN 'OPEN' ELSE 'CLOSED' END AS status",
    "'S' || (i % 40) AS to_site_id",
    "round((i % 9973) / 7.0, 2) AS cost",
    "(1 + i % 50)::DOUBLE AS quantity_submitted",
    "'EA' AS quantity_uom",
    "'2026-1' || (i % 3) || '-0' || (1 + i % 9) || 'T00:00:00Z' AS expected_delivery_date",
)


def write_csv(path: Path, rows: int) -> None:
    import duckdb

    con = duckdb.connect()
    select = ", ".join(COLUMNS)
    con.execute(
        f"COPY (SELECT {select} FROM range({rows}) AS t(i)) TO '{path}' (HEADER, DELIMITER ',')"
    )
    con.close()


def run_baseline(csv: Path, folder: Path) -> dict[str, float]:
    import duckdb
    import pyarrow as pa

    from supplylake.lake.layout import arrow_schema, conform
    from supplylake.schema.asc import asc_datasets

    schema = asc_datasets()["inbound_order_line"]
    lake = lake_in(folder)
    lake.create_table(INSTANCE, "asc", schema)
    table = lake.table(INSTANCE, "asc", schema.name)
    target = arrow_schema(schema)
    started = time.perf_counter()
    con = duckdb.connect()
    reader = con.execute(f"SELECT * FROM read_csv('{csv}')").to_arrow_reader(1 << 20)
    rows = 0
    with table.transaction() as tx:
        for batch in reader:
            chunk = pa.Table.from_batches([batch])
            chunk = chunk.append_column("connection_id", pa.array(["bench"] * chunk.num_rows))
            chunk = chunk.cast(pa.schema([target.field(n) for n in chunk.column_names]))
            tx.append(conform(chunk, target))
            rows += chunk.num_rows
    seconds = time.perf_counter() - started
    lake.close()
    return {"rows": rows, "seconds": seconds}


def run_flow(csv: Path, folder: Path) -> dict[str, float]:
    from supplylake.flows.buckets import FolderBuckets
    from supplylake.flows.execute import Execution, Executor
    from supplylake.schema.asc import asc_datasets

    lake = lake_in(folder)
    buckets = FolderBuckets(folder / "buckets")
    buckets.ensure_bucket(BUCKET)
    (folder / "buckets" / BUCKET / "orders").mkdir()
    (folder / "buckets" / BUCKET / "orders" / "lines.csv").symlink_to(csv)
    flow = s3_flow("bench", "orders", "asc", "inbound_order_line", "SELECT * FROM lines")
    executor = Executor(lake, buckets, lambda ref: asc_datasets().get(ref.name), spool_dir=folder)
    started = time.perf_counter()
    outcome = executor.run(
        Execution(
            flow,
            "00000000-0000-4000-8000-0000000000aa",
            1,
            {"kind": "object", "key": "orders/lines.csv"},
        )
    )
    seconds = time.perf_counter() - started
    assert outcome.succeeded, outcome.message
    count = lake.row_count(INSTANCE, "asc", "inbound_order_line")
    lake.close()
    return {"rows": count, "seconds": seconds}


def child(kind: str, csv: Path, folder: Path) -> dict[str, float]:
    """One measured run in this process (a child of ``large``); its figures."""
    return run_baseline(csv, folder) if kind == "baseline" else run_flow(csv, folder)


def large(rows: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-flows-", ignore_cleanup_errors=True) as name:
        work = Path(name)
        csv = work / "inbound_order_line.csv"
        write_csv(csv, rows)
        size = csv.stat().st_size
        print(f"file: {rows:,} lines, {size / 1e9:.2f} GB")
        for n in range(rounds):
            base = measure(__file__, "baseline", csv)
            flow = measure(__file__, "flow", csv)
            base_rate = base["rows"] / base["seconds"]
            flow_rate = flow["rows"] / flow["seconds"]
            print(
                f"round {n + 1}: duckdb+pyiceberg {base_rate:,.0f} lines/s "
                f"({base['seconds']:.1f} s, peak {base['peak_mb']:.0f} MB) | "
                f"flow {flow_rate:,.0f} lines/s ({flow['seconds']:.1f} s, "
                f"peak {flow['peak_mb']:.0f} MB) | ratio {flow_rate / base_rate:.2f}"
            )


def latency(files: int, rows: int) -> None:
    from supplylake.lake import Lake
    from supplylake.testing import running_server

    with tempfile.TemporaryDirectory(
        prefix="bench-flows-latency-", ignore_cleanup_errors=True
    ) as name:
        folder = Path(name)
        with running_server(folder) as server:
            client = server.client()
            instance_id = client.create_instance(instanceName="bench")["instance"]["instanceId"]
            while client.get_instance(instanceId=instance_id)["instance"]["state"] != "Active":
                time.sleep(0.1)
            client.create_data_lake_dataset(
                instanceId=instance_id,
                namespace="default",
                name="lines",
                schema={
                    "name": "Lines",
                    "fields": [
                        {"name": "id", "type": "STRING", "isRequired": True},
                        {"name": "qty", "type": "INT", "isRequired": False},
                        {"name": "at", "type": "TIMESTAMP", "isRequired": False},
                    ],
                    "primaryKeys": [{"name": "id"}],
                },
            )
            bucket = f"aws-supply-chain-data-{instance_id}"
            client.create_data_integration_flow(
                instanceId=instance_id,
                name="lines",
                sources=[
                    {
                        "sourceType": "S3",
                        "sourceName": "lines",
                        "s3Source": {"bucketName": bucket, "prefix": "lines"},
                    }
                ],
                transformation={
                    "transformationType": "SQL",
                    "sqlTransformation": {"query": "SELECT * FROM lines"},
                },
                target={
                    "targetType": "DATASET",
                    "datasetTarget": {
                        "datasetIdentifier": f"arn:aws:scn:us-east-1:000000000000:instance/"
                        f"{instance_id}/namespaces/default/datasets/lines"
                    },
                },
            )
            lake = Lake(f"sqlite:///{folder / 'supplylake.db'}", str(folder / "warehouse"))
            target = folder / "buckets" / bucket / "lines"
            target.mkdir(parents=True, exist_ok=True)
            waits = []
            for n in range(files):
                source = folder / f"file{n}.csv"
                source.write_text(
                    "id,qty,at\n"
                    + "".join(f"f{n}-{i},{i},2026-01-02T03:04:05Z\n" for i in range(rows))
                )
                shutil.copy(source, target / f"file{n}.csv")
                copied = time.perf_counter()
                wanted = (n + 1) * rows
                while lake.row_count(instance_id, "default", "lines") < wanted:
                    time.sleep(0.02)
                waits.append(time.perf_counter() - copied)
            lake.close()
        waits.sort()
        print(
            f"latency of a {rows:,}-line file, cp to queryable, {files} files: "
            f"p50 {statistics.median(waits):.2f} s, p90 {waits[int(0.9 * (len(waits) - 1))]:.2f} s, "
            f"max {waits[-1]:.2f} s"
        )


def incremental(files: int, rows: int) -> None:
    """One more file into an INCREMENTAL flow whose prefix already holds ``files`` files."""
    from supplylake.flows.buckets import FolderBuckets
    from supplylake.flows.execute import Execution, Executor
    from supplylake.schema.types import DatasetSchema, Field, FieldType

    schema = DatasetSchema(
        "lines",
        (Field("id", FieldType.STRING, True), Field("qty", FieldType.INT)),
        ("id",),
    )
    with tempfile.TemporaryDirectory(
        prefix="bench-flows-incremental-", ignore_cleanup_errors=True
    ) as name:
        folder = Path(name)
        lake = lake_in(folder)
        lake.create_table(INSTANCE, "default", schema)
        buckets = FolderBuckets(folder / "buckets")
        buckets.ensure_bucket(BUCKET)
        flow = s3_flow("lines", "lines", "default", "lines")
        executor = Executor(lake, buckets, lambda ref: schema, spool_dir=folder)
        times = []
        for n in range(files + 1):
            # A tenth of each file's keys are new versions of the previous file's rows.
            first = n * rows - (rows // 10 if n else 0)
            text = "id,qty\n" + "".join(f"k{first + i},{n}\n" for i in range(rows))
            buckets.write_object(BUCKET, f"lines/file{n:04}.csv", text.encode())
            started = time.perf_counter()
            outcome = executor.run(
                Execution(
                    flow,
                    f"{n:08}-0000-4000-8000-000000000000",
                    n + 1,
                    {"kind": "object", "key": f"lines/file{n:04}.csv"},
                )
            )
            times.append(time.perf_counter() - started)
            assert outcome.succeeded, outcome.message
            lake.maybe_maintain(INSTANCE, "default", "lines", min_snapshot_age=timedelta(0))
        lake.close()
        early = statistics.median(times[1:6])
        print(
            f"INCREMENTAL, {rows:,}-line files: file 2-6 median {early:.2f} s, "
            f"file {files + 1} (prefix holding {files}) {times[-1]:.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--latency-files", type=int, default=20)
    parser.add_argument("--latency-rows", type=int, default=10_000)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--incremental-files", type=int, default=0)
    add_child_options(parser, ("baseline", "flow"))
    args = parser.parse_args()
    if run_as_child(args, child):
        return
    if not args.skip_large:
        large(args.rows, args.rounds)
    if not args.skip_latency:
        latency(args.latency_files, args.latency_rows)
    if args.incremental_files:
        incremental(args.incremental_files, args.latency_rows)


if __name__ == "__main__":
    main()
