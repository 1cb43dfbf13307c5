"""Shared parts of the file-loading benchmarks (``bench_flows``, ``bench_bom``).

Each measured run is a child process of its own (the same script, called with ``--child``) over
a fresh folder, so that its peak memory is its own and no cache of one run serves the next. The
child prints its figures as one JSON line, the last of its output.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from supplylake.flows.definition import FlowDefinition
    from supplylake.lake import Lake

INSTANCE = "00000000-0000-4000-8000-000000000001"
BUCKET = f"aws-supply-chain-data-{INSTANCE}"

_ARN = "arn:aws:scn:us-east-1:000000000000:instance/{}/namespaces/{}/datasets/{}"

#: A measured run: (kind, CSV file, empty work folder) -> its figures.
Run = Callable[[str, Path, Path], dict[str, float]]


def add_child_options(parser: argparse.ArgumentParser, kinds: tuple[str, ...]) -> None:
    """The options a script is called with to make one run as a child."""
    parser.add_argument("--child", choices=kinds, help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)


def run_as_child(args: argparse.Namespace, run: Run) -> bool:
    """Make the run ``args`` ask for, if called as a child: print its figures, say True."""
    if not args.child:
        return False
    figures = run(args.child, args.csv, args.work)
    figures["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))
    return True


def measure(script: str, kind: str, csv: Path, root: Path | None = None) -> dict[str, float]:
    """Run ``kind`` in a child process of ``script`` over a fresh folder; its figures."""
    prefix = f"{Path(script).stem}-{kind}-"
    with tempfile.TemporaryDirectory(dir=root, prefix=prefix, ignore_cleanup_errors=True) as work:
        out = subprocess.run(
            [sys.executable, script, "--child", kind, "--csv", str(csv), "--work", work],
            capture_output=True,
            text=True,
            check=True,
        )
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def lake_in(folder: Path) -> Lake:
    """A lake in ``folder``: its catalog in a SQLite file, its warehouse beside it."""
    from supplylake.lake import Lake

    return Lake(f"sqlite:///{folder / 'catalog.db'}", str(folder / "warehouse"))


def s3_flow(
    name: str, prefix: str, namespace: str, dataset: str, query: str | None = None
) -> FlowDefinition:
    """A flow of the files under ``prefix`` of the instance's bucket (source ``lines``) into a
    dataset, through ``query`` (none: the rows as they are)."""
    from supplylake.flows.definition import build_flow

    transformation: dict[str, object] = {"transformation_type": "NONE"}
    if query is not None:
        transformation = {
            "transformation_type": "SQL",
            "sql_transformation": {"query": query},
        }
    return build_flow(
        {
            "instance_id": INSTANCE,
            "name": name,
            "sources": [
                {
                    "source_type": "S3",
                    "source_name": "lines",
                    "s3_source": {"bucket_name": BUCKET, "prefix": prefix},
                }
            ],
            "transformation": transformation,
            "target": {
                "target_type": "DATASET",
                "dataset_target": {"dataset_identifier": _ARN.format(INSTANCE, namespace, dataset)},
            },
        }
    )
