"""Options that several commands share: where the store and the lake are."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from supplylake.config import Settings
from supplylake.store import open_store
from supplylake.store.base import Store

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="SUPPLYLAKE_DATA_DIR",
        show_default="./supplylake-data",
        help="Folder holding the SQLite database, the Iceberg warehouse and the credentials "
        "file (unless --database-url and --warehouse put them elsewhere).",
    ),
]

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="SUPPLYLAKE_DATABASE_URL",
        show_default="sqlite:///<data-dir>/supplylake.db",
        help="The store and Iceberg catalog database: sqlite:///path or "
        "postgresql://user:password@host:port/database.",
    ),
]

Warehouse = Annotated[
    str | None,
    typer.Option(
        "--warehouse",
        envvar="SUPPLYLAKE_WAREHOUSE",
        show_default="<data-dir>/warehouse",
        help="Where the Iceberg files go: a folder every process shares, or "
        "s3://bucket/prefix (endpoint, region and credentials from the usual AWS_* settings).",
    ),
]


@contextmanager
def existing_store(
    data_dir: Path | None, database_url: str | None, warehouse: str | None
) -> Iterator[tuple[Store, Settings]]:
    """The store a server already made for these options; exit 2, saying what to do, if none."""
    # --warehouse is taken (and unused) so that every command accepts the same settings.
    settings = Settings.from_env(data_dir=data_dir, database_url=database_url, warehouse=warehouse)
    if not (settings.database_url or (settings.data_dir / "supplylake.db").exists()):
        Console(stderr=True).print(
            f"[red]error:[/red] no supplylake database in {settings.data_dir.resolve()}: "
            "run `supplylake serve` there first, or pass --data-dir or --database-url."
        )
        raise typer.Exit(2)
    store = open_store(settings.resolved_database_url)
    try:
        yield store, settings
    finally:
        store.close()
