"""SIGKILL a writer during commits, compactions and expiries: no row lost, none duplicated.

The Iceberg commit is the only truth: after each kill the table must hold exactly the rows of
batches 1..last_position, read through pyiceberg and DuckDB, and the next writer (with its key
index files possibly half written) must carry on from there.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

from supplylake.query.engine import run_query

from .crash_writer import INSTANCE, SCHEMA, expected, open_lake
from .rows import canonical

ROOT = Path(__file__).resolve().parents[2]


_KILL_DURING = ["B", "C", "B", "E", "C", "B"]  # a batch, a compaction, an expiry


def _run_until_killed(folder: Path, first: int, kind: str, rng: random.Random) -> list[str]:
    """Start a writer at `first`; kill it at a random moment after a step of `kind` starts."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with (
        open(folder / "writer.err", "ab") as err,
        subprocess.Popen(
            [sys.executable, "-m", "tests.lake.crash_writer", str(folder), str(first)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        ) as writer,
    ):
        assert writer.stdout is not None
        wanted = rng.randint(1, 2)
        seen: list[str] = []
        for line in writer.stdout:
            seen.append(line.strip())
            if line.startswith(kind):
                wanted -= 1
                if not wanted:
                    break
        time.sleep(rng.uniform(0, 0.12))
        writer.kill()
        writer.wait()
    assert writer.returncode != 0, (folder / "writer.err").read_text()[-2000:]
    return seen


def test_a_killed_writer_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    lake = open_lake(tmp_path)
    lake.create_table(INSTANCE, "default", SCHEMA)
    rng = random.Random(20261105)
    first = 1
    try:
        for kind in _KILL_DURING:
            _run_until_killed(tmp_path, first, kind, rng)
            last = lake.last_position(INSTANCE, "default", "crash")
            assert last >= first - 1
            rows = canonical(expected(last))
            assert canonical(lake.scan(INSTANCE, "default", "crash")) == rows
            sql = "SELECT * FROM default.crash"
            assert canonical(run_query(lake, INSTANCE, sql)) == rows
            first = last + 1
        lake.compact(INSTANCE, "default", "crash", min_deleted_share=0.0)
        assert canonical(lake.scan(INSTANCE, "default", "crash")) == canonical(expected(first - 1))
    finally:
        lake.close()
