"""``supplylake loader`` and ``supplylake query``: the lake side of the command line."""

from __future__ import annotations

import csv
import io
import logging
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from supplylake.cli.options import DatabaseUrl, DataDir, Warehouse
from supplylake.config import Settings

out = Console()
err = Console(stderr=True)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


def _settings(settings: Settings) -> Settings:
    """The settings, once they name a database that exists."""
    if not settings.database_url and not (settings.data_dir / "supplylake.db").exists():
        err.print(
            f"[red]error:[/red] no supplylake database in {settings.data_dir.resolve()}: "
            "pass the --data-dir (or --database-url) that `supplylake serve` uses."
        )
        raise typer.Exit(2)
    return settings


def loader(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    warehouse: Warehouse = None,
    batch_events: Annotated[
        int | None,
        typer.Option(
            envvar="SUPPLYLAKE_LOADER_BATCH_EVENTS", help="Most events of one dataset per commit."
        ),
    ] = None,
    max_wait: Annotated[
        float | None,
        typer.Option(
            envvar="SUPPLYLAKE_LOADER_MAX_WAIT_SECONDS",
            help="Longest wait to gather a batch, in seconds.",
        ),
    ] = None,
    maintain_every: Annotated[
        float | None,
        typer.Option(
            envvar="SUPPLYLAKE_LOADER_MAINTAIN_SECONDS",
            help="Compact and expire snapshots of a table at most this often, in seconds.",
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            envvar="SUPPLYLAKE_LOADER_THREADS",
            help="Datasets applied at the same time, one thread each.",
        ),
    ] = None,
    metrics_file: Annotated[
        Path | None,
        typer.Option(
            help="Write the loader's Prometheus metrics to this file every second "
            "(for a node exporter's textfile collector).",
        ),
    ] = None,
    share: Annotated[
        str | None,
        typer.Option(
            help="K/N: with N loader processes on one database, this one takes the datasets "
            "of share K first and the others' when they fall behind, so that each table's "
            "caches stay in one process. Give each process its own K.",
        ),
    ] = None,
) -> None:
    """Run the lake loader on its own (start `serve` with --no-loader), until stopped."""
    from supplylake.loader.loop import Share
    from supplylake.loader.main import LoaderFailed, main
    from supplylake.store.urls import redacted

    try:
        taken = Share.parse(share) if share is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--share") from None

    settings = _settings(
        Settings.from_env(
            data_dir=data_dir,
            database_url=database_url,
            warehouse=warehouse,
            loader_batch_events=batch_events,
            loader_max_wait_seconds=max_wait,
            loader_maintain_seconds=maintain_every,
            loader_threads=threads,
        )
    )
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    err.print(f"supplylake loader applying events from {redacted(settings.resolved_database_url)}")
    try:
        main(settings, metrics_file, taken)
    except LoaderFailed as exc:
        err.print(f"[red]error:[/red] the loader stopped: {exc}")
        raise typer.Exit(1) from None


def query(
    sql: Annotated[
        str, typer.Argument(help='SQL, e.g. "SELECT * FROM asc.inbound_order LIMIT 10".')
    ],
    instance: Annotated[
        str, typer.Option("--instance", help="Instance id whose datasets to query.")
    ],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    warehouse: Warehouse = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file instead of standard output."),
    ] = None,
) -> None:
    """Run SQL (DuckDB) over an instance's datasets, each visible as <namespace>.<dataset>."""
    from supplylake.lake import open_lake
    from supplylake.query.engine import QueryError, run_query

    settings = _settings(
        Settings.from_env(data_dir=data_dir, database_url=database_url, warehouse=warehouse)
    )
    if fmt is Format.parquet and output is None:
        err.print("[red]error:[/red] --format parquet needs --output FILE.")
        raise typer.Exit(2)
    lake = open_lake(settings)
    try:
        with err.status("reading the lake and running the query…"):
            result = run_query(lake, instance, sql)
    except (QueryError, ValueError) as exc:
        err.print(f"[red]query failed:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        lake.close()
    _write(result, fmt, output)


def _write(result: Any, fmt: Format, output: Path | None) -> None:
    import orjson
    import pyarrow.parquet as pq

    if fmt is Format.parquet:
        assert output is not None
        pq.write_table(result, output)
        err.print(f"wrote {result.num_rows} rows to {output}")
        return
    rows = result.to_pylist()
    if fmt is Format.table:
        table = Table(*result.column_names)
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row.values()))
        if output is None:
            out.print(table)
            err.print(f"{len(rows)} rows")
        else:
            Console(file=output.open("w"), width=200).print(table)
        return
    if fmt is Format.json:
        text = orjson.dumps(rows, option=orjson.OPT_INDENT_2 | orjson.OPT_NAIVE_UTC).decode() + "\n"
    else:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(result.column_names)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row.values()])
        text = buf.getvalue()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
