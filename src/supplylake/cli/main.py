"""``supplylake``: serve the API, manage keys, run the loader, query the lake."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.console import Console

from supplylake.cli import demo as demo_cli
from supplylake.cli import flows as flows_cli
from supplylake.cli import keys as keys_cli
from supplylake.cli import lake as lake_cli
from supplylake.cli.options import DatabaseUrl, DataDir, Warehouse
from supplylake.config import Settings

app = typer.Typer(
    name="supplylake",
    help="A self-hosted AWS Supply Chain API with an Apache Iceberg data lake.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(keys_cli.app, name="keys")
app.add_typer(flows_cli.app, name="flows")
app.command()(lake_cli.loader)
app.command()(lake_cli.query)
app.command()(demo_cli.demo)
console = Console(stderr=True)


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )


@app.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(
            envvar="SUPPLYLAKE_HOST", show_default="127.0.0.1", help="Address to listen on."
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(envvar="SUPPLYLAKE_PORT", show_default="8642", help="Port to listen on."),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    warehouse: Warehouse = None,
    workers: Annotated[
        int | None,
        typer.Option(
            envvar="SUPPLYLAKE_WORKERS",
            show_default="1",
            help="API processes sharing the port (2 uses both cores of a 2-core machine).",
        ),
    ] = None,
    loader: Annotated[
        bool,
        typer.Option(
            "--loader/--no-loader",
            envvar="SUPPLYLAKE_LOADER",
            help="Run the lake loader too, as child processes that serve restarts and stops "
            "(SUPPLYLAKE_LOADER_PROCESSES of them; by default one per core, up to four).",
        ),
    ] = True,
) -> None:
    """Run the API server (and, by default, the lake loader)."""
    from supplylake.server import PortUnavailable, assemble, bootstrap, run, run_workers

    settings = Settings.from_env(
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        warehouse=warehouse,
        workers=workers,
        loader=loader,
    )
    _logging(settings.log_level)
    try:
        if settings.workers == 1:
            assembled = assemble(settings)
            boot = assembled.bootstrap
        else:
            boot = bootstrap(settings)
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if boot.created and boot.credentials_file is not None:
        console.print(
            "[bold]Created the root access key of account "
            f"{boot.key.account_id}[/bold] (shown once):\n"
            f"  aws_access_key_id     = {boot.key.access_key_id}\n"
            f"  aws_secret_access_key = {boot.key.secret_access_key}\n"
            f"Saved to {boot.credentials_file} (profile 'supplylake'); use it with\n"
            f"  export AWS_SHARED_CREDENTIALS_FILE={boot.credentials_file.resolve()} "
            "AWS_PROFILE=supplylake AWS_DEFAULT_REGION=" + settings.region
        )
    processes = f" ({settings.workers} API processes)" if settings.workers > 1 else ""
    console.print(f"supplylake listening on http://{settings.host}:{settings.port}{processes}")
    if settings.workers == 1:
        run(settings, assembled.app)
    else:
        try:
            run_workers(settings)
        except PortUnavailable as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None


if __name__ == "__main__":  # pragma: no cover
    app()
