"""Bill-of-materials import rate against the flows' CSV path, on the same file, in turns.

Run: ``uv run python bench/bench_bom.py`` (a 1,000,000-line ``product_bom`` CSV; a few minutes).
Options: ``--rows 200000``, ``--rounds 3``. Prints figures; it never fails a build.

Each run is a child process of its own (so its peak memory is its own) over a fresh lake:

- ``flows``: the flows' CSV path as a baseline: ``flows.files.open_source_file`` streams the file,
  ``schema.text.convert_text_table`` converts each batch, and the converted rows are committed
  as one plain APPEND (``Lake.apply_batch``).
- ``bom``: a BOM import as the loader runs it: the file read from the instance's bucket folder,
  checked whole and spilled (``loader.bom_file.check_file``), then upserted by key in one
  snapshot (``lake.bom_write.upsert_import``) into an empty table.
- ``bom-replace``: the same import again over the table the first one filled: every key of the
  file replaces a live row (position deletes through the key index).

Rates are CSV lines per second; the ratio is a BOM run's rate over the rate of the flows' path
in the runs just before and after it. Peak memory is the child's maximum resident set size.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _flows_bench import BUCKET, INSTANCE, add_child_options, measure, run_as_child

HEADER = (
    "id,product_id,site_id,level,component_product_id,component_quantity_per,"
    "component_quantity_uom,component_line_number,eff_start_date,alternate_group_id,description\n"
)


#: The runs of one round, in order: each BOM run between two runs of the flows' path.
TURNS = ("flows", "bom", "flows", "bom-replace", "flows")
KINDS = ("flows", "bom", "bom-replace")


def write_csv(path: Path, rows: int) -> None:
    rnd = random.Random(7)
    with open(path, "w") as out:
        out.write(HEADER)
        chunk = []
        for i in range(rows):
            bom = i // 20
            chunk.append(
                f"bom{bom},prod{bom % 50_000},site{bom % 40},{i % 4},comp{i},"
                f"{rnd.randrange(1, 500) / 4},EA,{i % 20},2026-0{1 + i % 9}-1{i % 10}T08:00:00Z,"
                f"{'alt' + str(bom) if i % 5 == 0 else ''},component {i} of bom {bom}\n"
            )
            if len(chunk) == 10_000:
                out.write("".join(chunk))
                chunk = []
        out.write("".join(chunk))


def child(mode: str, csv: Path, work: Path) -> dict[str, float]:
    """One measured run in this process (a child of ``main``); its figures."""
    import pyarrow as pa

    from supplylake.lake import Change, open_lake
    from supplylake.schema.asc import asc_datasets
    from supplylake.schema.types import Operation

    schema = asc_datasets()["product_bom"]
    lake = open_lake(work)
    lake.create_table(INSTANCE, "asc", schema)
    started = time.perf_counter()
    if mode == "flows":
        from supplylake.flows.definition import FileType
        from supplylake.flows.files import open_source_file
        from supplylake.schema.text import convert_text_table

        tables = []
        with open(csv, "rb") as stream, open_source_file(stream, str(csv), FileType.CSV) as f:
            for batch in f.batches():
                text = pa.Table.from_batches([batch.data])
                tables.append(convert_text_table(text, schema, fill={"connection_id": "flow"}))
        rows = pa.concat_tables(tables)
        lake.apply_batch(INSTANCE, "asc", schema, [Change(Operation.APPEND, rows)], 1)
    else:
        from supplylake.flows.buckets import FolderBuckets
        from supplylake.lake.bom_write import upsert_import
        from supplylake.loader.bom_file import check_file, remove_spill

        buckets = FolderBuckets(work / "buckets")
        (work / "buckets" / BUCKET).mkdir(parents=True, exist_ok=True)
        shutil.copy(csv, work / "buckets" / BUCKET / "bom.csv")
        started = time.perf_counter()

        def run(job: str) -> None:
            with buckets.open_object(BUCKET, "bom.csv") as stream:
                checked = check_file(
                    stream, "s3://b/bom.csv", schema, f"bom:{job}", datetime.now(UTC), work
                )
            try:
                upsert_import(
                    lake, INSTANCE, "asc", schema, checked.batches, job, keys=checked.keys
                )
            finally:
                remove_spill(checked)

        if mode == "bom-replace":
            run("first")
            started = time.perf_counter()
        run(mode)
    seconds = time.perf_counter() - started
    rows_now = lake.row_count(INSTANCE, "asc", "product_bom")
    lake.close()
    return {"seconds": seconds, "rows": rows_now}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    add_child_options(parser, KINDS)
    args = parser.parse_args()
    if run_as_child(args, child):
        return
    with tempfile.TemporaryDirectory(prefix="bench-bom-", ignore_cleanup_errors=True) as name:
        root = Path(name)
        csv = root / "bom.csv"
        write_csv(csv, args.rows)
        size_mb = csv.stat().st_size / 2**20
        print(f"{args.rows:,} lines, {size_mb:.0f} MiB of CSV; {args.rounds} rounds in turns")
        print(
            f"{'round':>5} {'path':<12} {'seconds':>8} {'lines/s':>10} {'peak MiB':>9} {'ratio':>6}"
        )
        for n in range(1, args.rounds + 1):
            # Each BOM run between two runs of the flows' path: on a shared machine the load
            # moves within minutes, and the ratio is taken against the mean of the two.
            runs = [(mode, measure(__file__, mode, csv, root)) for mode in TURNS]
            for i, (mode, f) in enumerate(runs):
                assert f["rows"] == args.rows, f
                if mode == "flows":
                    ratio = ""
                else:
                    base = (runs[i - 1][1]["seconds"] + runs[i + 1][1]["seconds"]) / 2
                    ratio = f"{base / f['seconds']:.2f}"
                print(
                    f"{n:>5} {mode:<12} {f['seconds']:>8.1f} {args.rows / f['seconds']:>10,.0f} "
                    f"{f['peak_mb']:>9,.0f} {ratio:>6}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
