"""A writer for `test_crash`, run as a process: deterministic batches until it is killed.

    python -m tests.lake.crash_writer <folder> <first position>

Batch `n` depends on `n` only, so the test can rebuild the expected rows of positions 1..n. Before
each step it prints what it starts: `B <n>` (a batch), `C` (a compaction), `E` (an expiry).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

from supplylake.lake import Change, Lake
from supplylake.schema.types import (
    DatasetSchema,
    Field,
    FieldType,
    Operation,
    PartitionField,
    Transform,
)

from .rows import table

INSTANCE = "4f1c2e0a-9b7d-4c3e-8f6a-5b4c3d2e1f0a"
SCHEMA = DatasetSchema(
    "crash",
    (
        Field("k", FieldType.INT, required=True),
        Field("site", FieldType.STRING),
        Field("v", FieldType.LONG),
    ),
    primary_keys=("k",),
    partition_spec=(PartitionField("site", Transform.IDENTITY),),
)
_LAST = 400  # a writer that is never killed stops here


def open_lake(folder: Path) -> Lake:
    return Lake(f"sqlite:///{folder / 'c.db'}", str(folder / "warehouse"))


def batch(position: int) -> list[tuple[Operation, list[dict[str, Any]]]]:
    rng = random.Random(position)
    changes = []
    for _ in range(rng.randint(1, 3)):
        op = rng.choice([Operation.APPEND, Operation.UPSERT, Operation.UPSERT, Operation.DELETE])
        rows = [
            {"k": rng.randrange(40), "site": rng.choice("ab"), "v": position * 100 + i}
            for i in range(rng.randint(1, 30))
        ]
        changes.append((op, rows))
    return changes


def expected(last: int) -> list[dict[str, Any]]:
    """The rows after batches 1..last, one record at a time."""
    rows: list[dict[str, Any]] = []
    for position in range(1, last + 1):
        for op, records in batch(position):
            for record in records:
                if op is not Operation.APPEND:
                    key = (record["k"], record["site"])
                    rows = [r for r in rows if (r["k"], r["site"]) != key]
                if op is not Operation.DELETE:
                    rows.append(record)
    return rows


def main(folder: Path, first: int) -> None:
    lake = open_lake(folder)
    for position in range(first, _LAST):
        step = random.Random(-position)
        if position % 4 == 0:
            print("C", flush=True)
            lake.compact(INSTANCE, "default", "crash", min_deleted_share=step.choice([0.0, 0.2]))
        if position % 9 == 0:
            print("E", flush=True)
            lake.expire_snapshots(INSTANCE, "default", "crash", retain_last=2)
        print(f"B {position}", flush=True)
        changes = [Change(op, table(SCHEMA, rows)) for op, rows in batch(position)]
        lake.apply_batch(INSTANCE, "default", SCHEMA, changes, position)
    lake.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
