"""SQL over the lake: supplylake's query path against DuckDB reading the same files directly.

Run: ``uv run python bench/bench_query.py`` (tables of 1, 10 and 50 million rows; about 4
minutes and 3 GB of disk). Options: ``--sizes 1000000,10000000``, ``--runs 15``,
``--arrow-up-to 10000000``, ``--dir /path`` (default: a temporary folder, removed at the end).
Prints figures; it never fails a build.

Each table (custom dataset: id long key, grp and site strings, qty int, price double, at
timestamp) is written through ``Lake.apply_batch`` in APPEND batches of 1M rows, then measured;
then one snapshot deletes every tenth row of every data file with position delete files (what
UPSERT and DELETE leave until compaction), and it is measured again. Two queries:

- group-by: ``SELECT grp, count(*), sum(qty), avg(price) FROM t GROUP BY grp``
- selective: ``SELECT id, qty, site FROM t WHERE id BETWEEN x AND x + 999`` (key range)

Three ways, timed in turns in one child process, ``--runs`` times each (best and median shown):

- ``supplylake``: ``supplylake.query.run_query`` on an open ``Lake``, as the console and
  ``supplylake.lake.query`` run it: it loads the table, lists its files, borrows a DuckDB.
- ``direct``: a fresh DuckDB over the same current data files and delete files, listed before,
  deletes applied with the same anti-join on (file, row number).
- ``kept``: the same, on one DuckDB connection kept open across the runs (what a program that
  holds DuckDB open pays; supplylake keeps a database ready between queries on unchanged tables).

Peak memory: each way once more in a child of its own, its ``VmHWM`` (imports included; not
``ru_maxrss``, which Linux carries over from the forking parent). And ``arrow``, in a child too:
the table read whole to Arrow by ``Lake.scan`` and handed to DuckDB, what a warehouse on S3
gets (up to ``--arrow-up-to`` rows).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:  # imported where used: the "direct" child loads DuckDB and pyarrow only
    from supplylake.lake import Lake
    from supplylake.schema.types import DatasetSchema

INSTANCE = "4f1c2e0a-9b7d-4c3e-8f6a-5b4c3d2e1f0a"
NAMESPACE = "default"
BATCH = 1_000_000
GROUPS = [f"group-{i:02d}" for i in range(64)]
SITES = [f"site-{i:04d}" for i in range(1024)]
QUERIES = {
    "group-by": "SELECT grp, count(*) AS n, sum(qty) AS q, avg(price) AS p FROM {t} GROUP BY grp",
    "selective": "SELECT id, qty, site FROM {t} WHERE id BETWEEN {x} AND {x} + 999",
}


def schema_of(name: str) -> DatasetSchema:
    from supplylake.schema.types import DatasetSchema, Field, FieldType

    return DatasetSchema(
        name=name,
        fields=(
            Field("id", FieldType.LONG, required=True),
            Field("grp", FieldType.STRING),
            Field("site", FieldType.STRING),
            Field("qty", FieldType.INT),
            Field("price", FieldType.DOUBLE),
            Field("at", FieldType.TIMESTAMP),
        ),
        primary_keys=("id",),
    )


def rows(start: int, count: int) -> pa.Table:
    """`count` rows from id `start`: strings from small vocabularies, numbers from a hash."""
    ids = pa.array(range(start, start + count), pa.int64())
    mixed = pc.multiply(ids, pa.scalar(-7046029254386353131, pa.int64()))  # wraps: a hash
    bits = pc.shift_right(mixed, 17)
    return pa.table(
        {
            "id": ids,
            "grp": pc.take(pa.array(GROUPS), pc.bit_wise_and(bits, 63)),
            "site": pc.take(pa.array(SITES), pc.bit_wise_and(pc.shift_right(bits, 8), 1023)),
            "qty": pc.bit_wise_and(pc.shift_right(bits, 20), 127).cast(pa.int32()),
            "price": pc.divide(
                pc.bit_wise_and(pc.shift_right(bits, 28), 65535).cast(pa.float64()), 100.0
            ),
            "at": pc.add(pc.multiply(ids, 1_000_000), 1_700_000_000_000_000).cast(
                pa.timestamp("us", tz="UTC")
            ),
        }
    )


def build(lake: Lake, schema: DatasetSchema, size: int) -> None:
    from supplylake.lake import Change
    from supplylake.schema.types import Operation

    lake.create_table(INSTANCE, NAMESPACE, schema)
    for n, start in enumerate(range(0, size, BATCH), start=1):
        batch = rows(start, min(BATCH, size - start))
        lake.apply_batch(INSTANCE, NAMESPACE, schema, [Change(Operation.APPEND, batch)], n)


def delete_every_tenth_row(lake: Lake, schema: DatasetSchema) -> int:
    """One snapshot with a position delete file per data file, removing rows 0, 10, 20, ..."""
    from supplylake.lake.commits import commit_files
    from supplylake.lake.deletes import write_position_deletes
    from supplylake.lake.layout import POSITION_PROPERTY
    from supplylake.lake.live import live_files

    table = lake.table(INSTANCE, NAMESPACE, schema.name)
    added = []
    removed = 0
    for data_files in live_files(table).data.values():
        for data_file in data_files:
            positions = range(0, data_file.record_count, 10)
            removed += len(positions)
            added.append(
                write_position_deletes(
                    table.io,
                    {data_file.file_path: positions},
                    data_file.partition,
                    data_file.spec_id,
                )
            )
    position = lake.position_of(table) + 1
    commit_files(table, {POSITION_PROPERTY: str(position)}, added)
    return removed


def measure(how: str, spec: dict[str, Any]) -> dict[str, float]:
    """Run `child` in a fresh process; what it prints."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", how, json.dumps(spec)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def child(how: str, spec: dict[str, Any]) -> None:
    """`times`: the three ways in turns; `direct`, `supplylake`, `arrow`: one, with its peak RSS."""
    import duckdb

    sql = QUERIES[spec["query"]]
    view = _direct_view(spec["files"])

    def direct() -> pa.Table:
        con = duckdb.connect(config={"enable_external_file_cache": False})
        con.execute("SET TimeZone = 'UTC'")
        answer: pa.Table = con.sql(sql.format(t=f"({view}) t", x=spec["x"])).to_arrow_table()
        con.close()
        return answer

    if how == "direct":
        answer = [direct() for _ in range(2)][-1]
        print(json.dumps({"rss_mb": _peak_rss_mb(), "rows": answer.num_rows}))
        return

    from supplylake.lake import Lake
    from supplylake.query import run_query

    lake = Lake(spec["catalog"], spec["warehouse"])
    text = sql.format(t=f"{NAMESPACE}.{spec['table']}", x=spec["x"])

    def supplylake() -> pa.Table:
        return run_query(lake, INSTANCE, text)

    def arrow() -> pa.Table:
        whole = lake.scan(INSTANCE, NAMESPACE, spec["table"])
        con = duckdb.connect()
        con.register("t", whole)
        answer: pa.Table = con.sql(sql.format(t="t", x=spec["x"])).to_arrow_table()
        con.close()
        return answer

    if how in ("supplylake", "arrow"):
        run = supplylake if how == "supplylake" else arrow
        run()  # the first pays for parsing the table's metadata once
        started = time.perf_counter()
        answer = run()
        took = time.perf_counter() - started
        print(json.dumps({"rss_mb": _peak_rss_mb(), "rows": answer.num_rows, "seconds": took}))
        return
    kept = duckdb.connect(config={"enable_external_file_cache": False})
    kept.execute(f"SET TimeZone = 'UTC'; CREATE VIEW t AS {view}")

    def direct_kept() -> pa.Table:
        answer: pa.Table = kept.sql(sql.format(t="t", x=spec["x"])).to_arrow_table()
        return answer

    times: dict[str, list[float]] = {"direct": [], "kept": [], "supplylake": []}
    ways = [("direct", direct), ("kept", direct_kept), ("supplylake", supplylake)]
    rows = {}
    for n in range(spec["runs"]):
        for name, run in ways if n % 2 else reversed(ways):
            started = time.perf_counter()
            rows[name] = run().num_rows
            times[name].append(time.perf_counter() - started)
    lake.close()
    kept.close()
    figures = {f"{name}_best": min(t) for name, t in times.items()}
    figures |= {f"{name}_median": statistics.median(t) for name, t in times.items()}
    figures["same_rows"] = rows["direct"] == rows["kept"] == rows["supplylake"]
    print(json.dumps(figures))


def _peak_rss_mb() -> float:
    """This process's peak RSS. Not ru_maxrss: Linux carries it over from the forked parent's
    image through exec, so a child would report at least the parent's size."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _direct_view(files: dict[str, list[str]]) -> str:
    """DuckDB over the listed files: clean ones as they are, the others minus deleted rows."""

    def paths(uris: list[str]) -> str:
        return "[" + ", ".join(f"'{u.removeprefix('file://')}'" for u in uris) + "]"

    parts = []
    if files["clean"]:
        parts.append(f"SELECT * FROM read_parquet({paths(files['clean'])})")
    if files["deleted_from"]:
        index = ", ".join(f"({i}, '{p}')" for i, p in enumerate(files["deleted_from"]))
        parts.append(
            f"SELECT * EXCLUDE (file_index, file_row_number) FROM ("
            f"SELECT *, file_index, file_row_number FROM read_parquet({paths(files['deleted_from'])})"
            f") d ANTI JOIN (SELECT f.i, x.pos FROM read_parquet({paths(files['deletes'])}) x "
            f"JOIN (VALUES {index}) f(i, path) ON x.file_path = f.path) g "
            f"ON d.file_index = g.i AND d.file_row_number = g.pos"
        )
    return " UNION ALL ".join(parts)


def report(args: argparse.Namespace) -> None:
    from supplylake.lake import Lake

    folder = Path(tempfile.mkdtemp(prefix="bench-query-", dir=args.dir))
    catalog = f"sqlite:///{folder / 'supplylake.db'}"
    warehouse = str(folder / "warehouse")
    lake = Lake(catalog, warehouse)
    print(
        f"{'rows':>11} {'deleted':>7} {'query':>9} | {'direct s':>8} {'kept s':>7} "
        f"{'ours s':>7} {'x':>5} {'x med':>5} {'x kept':>6} | {'RSS MB direct':>13} {'ours':>5} "
        f"| {'arrow s':>7} {'RSS MB':>6}"
    )
    try:
        for size in args.sizes:
            schema = schema_of(f"t{size}")
            started = time.perf_counter()
            build(lake, schema, size)
            print(f"# built {size:,} rows in {time.perf_counter() - started:.0f} s", flush=True)
            for deleted in (False, True):
                if deleted:
                    gone = delete_every_tenth_row(lake, schema)
                    print(f"# deleted {gone:,} rows", flush=True)
                files = lake.current_files(INSTANCE, NAMESPACE, schema.name)
                listed = {
                    "clean": list(files.clean),
                    "deleted_from": list(files.deleted_from),
                    "deletes": list(files.deletes),
                }
                for query in QUERIES:
                    spec = {
                        "catalog": catalog,
                        "warehouse": warehouse,
                        "table": schema.name,
                        "query": query,
                        "x": size // 2 + 1,
                        "runs": args.runs,
                        "files": listed,
                    }
                    t = measure("times", spec)
                    rss = {way: measure(way, spec)["rss_mb"] for way in ("direct", "supplylake")}
                    arrow = measure("arrow", spec) if size <= args.arrow_up_to else None
                    if not t["same_rows"]:
                        print("# the two ways returned different row counts")
                    print(
                        f"{size:>11,} {'10%' if deleted else '-':>7} {query:>9} | "
                        f"{t['direct_best']:>8.3f} {t['kept_best']:>7.3f} "
                        f"{t['supplylake_best']:>7.3f} "
                        f"{t['supplylake_best'] / t['direct_best']:>5.2f} "
                        f"{t['supplylake_median'] / t['direct_median']:>5.2f} "
                        f"{t['supplylake_median'] / t['kept_median']:>6.2f} | "
                        f"{rss['direct']:>13.0f} {rss['supplylake']:>5.0f} | "
                        + (f"{arrow['seconds']:>7.3f} {arrow['rss_mb']:>6.0f}" if arrow else ""),
                        flush=True,
                    )
    finally:
        lake.close()
        if args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], json.loads(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1_000_000, 10_000_000, 50_000_000],
    )
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--arrow-up-to", type=int, default=10_000_000)
    parser.add_argument("--dir", default=None)
    report(parser.parse_args())


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
