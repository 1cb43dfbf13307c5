"""``supplylake flows``: run a data integration flow by hand, and list an instance's flows.

AWS has no API to start an execution; here ``flows run`` queues one in the store, and the
loader runs it like any other (``GetDataIntegrationFlowExecution`` answers it).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from supplylake.cli.options import DatabaseUrl, DataDir, Warehouse, existing_store
from supplylake.flows.definition import FlowDefinition, build_flow
from supplylake.states import FlowExecutionStatus

app = typer.Typer(help="Run and list data integration flows.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

Instance = Annotated[str, typer.Option("--instance", help="The instance id of the flow.")]


@app.command()
def run(
    name: Annotated[str, typer.Argument(help="The flow's name.")],
    instance: Instance,
    key: Annotated[
        str | None,
        typer.Option(
            help="Run this object of the flow's bucket (default: an INCREMENTAL flow is rebuilt "
            "from every file under its prefix; a REPLACE flow runs its newest file)."
        ),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    warehouse: Warehouse = None,
) -> None:
    """Queue an execution of a flow; the loader runs it after those already queued."""
    with existing_store(data_dir, database_url, warehouse) as (store, _):
        stored = store.get_flow(instance, name)
        if stored is None:
            err.print(f"[red]error:[/red] instance {instance} has no flow named {name!r}.")
            raise typer.Exit(2)
        flow = build_flow(stored.definition)
        try:
            info = _source_info(flow, key)
        except ValueError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        execution = store.queue_flow_execution(
            instance,
            name,
            str(uuid.uuid4()),
            info,
            {"kind": "manual", "key": key},
            datetime.now(UTC),
        )
    out.print(execution.execution_id)
    err.print(
        f"Queued: aws supplychain get-data-integration-flow-execution --instance-id {instance} "
        f"--flow-name {name} --execution-id {execution.execution_id}"
    )


@app.command("list")
def list_flows(
    instance: Instance,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    warehouse: Warehouse = None,
) -> None:
    """List the instance's flows with their latest execution."""
    table = Table("name", "sources", "target", "last execution", "status", "message")
    with existing_store(data_dir, database_url, warehouse) as (store, _):
        for stored in store.all_flows(instance):
            flow = build_flow(stored.definition)
            latest = store.list_flow_executions(instance, stored.name, None, 1)
            last = latest[0] if latest else None
            status = "-"
            if last is not None:
                queued = not last.started and last.status is FlowExecutionStatus.IN_PROGRESS
                status = "QUEUED" if queued else last.status.value
            table.add_row(
                stored.name,
                ", ".join(_describe_source(flow, i) for i in range(len(flow.sources))),
                _describe_target(flow),
                last.execution_id if last else "-",
                status,
                (last.message or "") if last else "",
            )
    out.print(table)


def _source_info(flow: FlowDefinition, key: str | None) -> dict[str, Any]:
    s3 = [s.s3 for s in flow.sources if s.s3 is not None]
    if key is not None:
        if not any(key.startswith(loc.key_prefix) for loc in s3):
            prefixes = ", ".join(f"{loc.key_prefix!r}" for loc in s3) or "none"
            raise ValueError(
                f"--key {key!r} is not under the prefix of an S3 source of flow {flow.name} "
                f"(prefixes: {prefixes})."
            )
        bucket = next(loc.bucket_name for loc in s3 if key.startswith(loc.key_prefix))
        return {"source_type": "S3", "s3_source": {"bucket_name": bucket, "key": key}}
    if s3:
        return {
            "source_type": "S3",
            "s3_source": {"bucket_name": s3[0].bucket_name, "key": s3[0].key_prefix},
        }
    dataset = next(s.dataset for s in flow.sources if s.dataset is not None)
    return {"source_type": "DATASET", "dataset_source": {"dataset_identifier": dataset.identifier}}


def _describe_source(flow: FlowDefinition, i: int) -> str:
    source = flow.sources[i]
    if source.s3 is not None:
        return f"{source.source_name}=s3://{source.s3.bucket_name}/{source.s3.key_prefix}"
    assert source.dataset is not None
    return f"{source.source_name}={source.dataset.ref}"


def _describe_target(flow: FlowDefinition) -> str:
    if flow.target.s3 is not None:
        return f"s3://{flow.target.s3.bucket_name}/{flow.target.s3.key_prefix}"
    assert flow.target.dataset is not None
    return str(flow.target.dataset.ref)
