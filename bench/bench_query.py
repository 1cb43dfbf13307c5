"""SQL over the lake: supplylake's query path against DuckDB reading the same files directly.

Run: ``uv run python bench/bench_query.py`` (tables of 1, 10 and 50 million rows; ~15 min and
~3 GB of disk). Options: ``--sizes 1000000,10000000``, ``--runs 3``, ``--arrow-up-to 10000000``,
``--rounds 2``, ``--dir /path`` (default: a temporary folder, removed at the end). Prints figures; it never
fails a build.

Each table (custom dataset: id long key, grp and site strings, qty int, price double, at
timestamp) is written through ``Lake.apply_batch`` in APPEND batches of 1M rows, then measured;
then one snapshot deletes every tenth row of every data file with position delete files (what
UPSERT and DELETE leave until compaction), and it is measured again. Two queries:

- group-by: ``SELECT grp, count(*), sum(qty), avg(price) FROM t GROUP BY grp``
- selective: ``SELECT id, qty, site FROM t WHERE id BETWEEN x AND x + 999`` (key range)

Each figure runs in a fresh child process: the query runs ``--runs`` times, the best time is
shown (best of ``--rounds`` children taken in turns), with the first run of a child (a fresh
process: the command line's case), and the child's peak RSS (``VmHWM``), imports included. Ways:

- ``supplylake``: ``supplylake.query.run_query`` on an open ``Lake`` (as the console and
  ``supplylake.lake.query`` run it; it loads the table and plans its files each time).
- ``direct``: DuckDB alone over the same current data files and delete files, listed before the
  child starts, deletes applied with the same anti-join on (file, row number).
- ``arrow``: the table read whole to Arrow by ``Lake.scan`` and handed to DuckDB (how queries ran
  before DuckDB read the files itself), up to ``--arrow-up-to`` rows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
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
    """Run in a child: the best of `runs` times of the query, and the child's peak RSS."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", how, json.dumps(spec)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def child(how: str, spec: dict[str, Any]) -> None:
    import duckdb

    times = []
    answer: Any = None
    sql = QUERIES[spec["query"]]
    if how == "direct":
        view = _direct_view(spec["files"])
        for _ in range(spec["runs"]):
            started = time.perf_counter()
            con = duckdb.connect(config={"enable_external_file_cache": False})
            con.execute("SET TimeZone = 'UTC'")
            text = sql.format(t=f"({view}) t", x=spec["x"])
            answer = con.sql(text).to_arrow_table()
            con.close()
            times.append(time.perf_counter() - started)
    else:
        from supplylake.lake import Lake
        from supplylake.query import run_query

        lake = Lake(spec["catalog"], spec["warehouse"])
        text = sql.format(t=f"{NAMESPACE}.{spec['table']}", x=spec["x"])
        for _ in range(spec["runs"]):
            started = time.perf_counter()
            if how == "supplylake":
                answer = run_query(lake, INSTANCE, text)
            else:  # the whole table to Arrow, then DuckDB
                whole = lake.scan(INSTANCE, NAMESPACE, spec["table"])
                con = duckdb.connect()
                con.register("t", whole)
                answer = con.sql(sql.format(t="t", x=spec["x"])).to_arrow_table()
                con.close()
                del whole
            times.append(time.perf_counter() - started)
        lake.close()
    print(
        json.dumps(
            {
                "seconds": min(times),
                "first": times[0],
                "rss_mb": _peak_rss_mb(),
                "rows": answer.num_rows,
            }
        )
    )


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
        f"{'rows':>11} {'deleted':>8} {'query':>9} {'way':>10} {'best s':>8} {'first s':>8} "
        f"{'RSS MB':>7} {'x direct':>8}"
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
                    ways = ["direct", "supplylake"]
                    if size <= args.arrow_up_to:
                        ways.append("arrow")
                    got: dict[str, dict[str, float]] = {}
                    for _ in range(args.rounds):  # in turns, so that load weighs on all alike
                        for way in ways:
                            figures = measure(way, spec)
                            best = got.setdefault(way, figures)
                            best["seconds"] = min(best["seconds"], figures["seconds"])
                            best["rss_mb"] = max(best["rss_mb"], figures["rss_mb"])
                    if got["direct"]["rows"] != got["supplylake"]["rows"]:
                        print(f"# rows differ: {got}")
                    for way, figures in got.items():
                        ratio = figures["seconds"] / got["direct"]["seconds"]
                        print(
                            f"{size:>11,} {'10%' if deleted else '-':>8} {query:>9} {way:>10} "
                            f"{figures['seconds']:>8.3f} {figures['first']:>8.3f} "
                            f"{figures['rss_mb']:>7.0f} {ratio:>8.2f}",
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
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--arrow-up-to", type=int, default=10_000_000)
    parser.add_argument("--dir", default=None)
    report(parser.parse_args())


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
