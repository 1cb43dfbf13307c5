"""Options that several commands share: where the store and the lake are."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
