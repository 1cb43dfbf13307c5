"""``supplylake keys``: create, list and revoke access keys."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from supplylake.cli.options import DatabaseUrl, DataDir, Warehouse, existing_store

app = typer.Typer(help="Manage access keys.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


@app.command()
def create(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    warehouse: Warehouse = None,
    actions: Annotated[
        str, typer.Option(help="Comma-separated actions, e.g. 'scn:Get*,scn:List*'.")
    ] = "scn:*",
    instances: Annotated[str, typer.Option(help="Comma-separated instance ids or patterns.")] = "*",
    account_id: Annotated[
        str | None, typer.Option(help="Account of the key (default: SUPPLYLAKE_ACCOUNT_ID).")
    ] = None,
    description: Annotated[str, typer.Option(help="A note to recognise the key by.")] = "",
) -> None:
    """Create an access key, optionally limited to actions and instances; prints its secret once."""
    from supplylake.auth.access import parse_actions, parse_instances
    from supplylake.service.keys import new_key

    try:
        action_list = parse_actions(actions)
        instance_list = parse_instances(instances)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    with existing_store(data_dir, database_url, warehouse) as (store, settings):
        key = new_key(
            account_id or settings.account_id,
            actions=tuple(action_list),
            instances=tuple(instance_list),
            description=description,
        )
        store.put_key(key)
    out.print(f"aws_access_key_id     = {key.access_key_id}")
    out.print(f"aws_secret_access_key = {key.secret_access_key}")
    err.print("The secret is shown only now: store it safely.")


@app.command("list")
def list_keys(
    data_dir: DataDir = None, database_url: DatabaseUrl = None, warehouse: Warehouse = None
) -> None:
    """List access keys (never their secrets)."""
    with existing_store(data_dir, database_url, warehouse) as (store, _):
        table = Table(
            "access key id",
            "account",
            "root",
            "actions",
            "instances",
            "created",
            "revoked",
            "description",
        )
        for k in store.list_keys():
            table.add_row(
                k.access_key_id,
                k.account_id,
                "yes" if k.is_root else "",
                ",".join(k.actions),
                ",".join(k.instances),
                k.created_at.strftime("%Y-%m-%d %H:%M"),
                k.revoked_at.strftime("%Y-%m-%d %H:%M") if k.revoked_at else "",
                k.description,
            )
    out.print(table)


@app.command()
def revoke(
    access_key_id: str,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    warehouse: Warehouse = None,
) -> None:
    """Revoke an access key: requests signed with it are refused from now on."""
    from supplylake.service.clock import now

    with existing_store(data_dir, database_url, warehouse) as (store, _):
        if not store.revoke_key(access_key_id, now()):
            err.print(
                f"[red]error:[/red] no active key {access_key_id}: see `supplylake keys list`."
            )
            raise typer.Exit(1)
    out.print(f"revoked {access_key_id}")
