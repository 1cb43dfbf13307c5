"""``supplylake demo``: stream a realistic supply-chain scenario through the API, then show the console.

Everything goes through boto3 and the real API: purchase orders and their lines, shipments and
their stops, inventory levels and forecasts, updates (UPSERT again), cancellations (DELETE on a
custom dataset with a primary key), records refused at send time, and events that fail at load
time because their dataset is deleted right after they were accepted.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from supplylake.cli.demo_scenario import (
    DOOMED,
    DOOMED_SCHEMA,
    OPEN_ORDERS,
    OPEN_ORDERS_PARTITIONS,
    OPEN_ORDERS_SCHEMA,
    SUPPLIERS,
    Scenario,
    Send,
)
from supplylake.config import Settings
from supplylake.process.signals import noted
from supplylake.states import InstanceState, LoadStatus

out = Console()
err = Console(stderr=True)


@dataclass
class Tally:
    sent: Counter[str] = field(default_factory=Counter)
    event_ids: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def line(self) -> str:
        return f"sent {len(self.event_ids)} · rejected {len(self.rejected)}"


class Runner:
    """Drives one demo against an endpoint through boto3."""

    def __init__(self, client: Any, instance_id: str, arns: dict[str, str]) -> None:
        self.client = client
        self.instance_id = instance_id
        self.arns = arns
        self.tally = Tally()

    def send(self, step: Send) -> None:
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {
            "instanceId": self.instance_id,
            "eventType": step.event_type,
            "eventGroupId": step.group,
            "data": json.dumps(step.records),
        }
        if step.dataset is not None:
            kwargs["datasetTarget"] = {
                "datasetIdentifier": self.arns[step.dataset],
                "operationType": step.operation,
            }
        try:
            event_id = self.client.send_data_integration_event(**kwargs)["eventId"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ValidationException":
                raise
            self.tally.rejected.append(f"{step.event_type}: {exc.response['Error']['Message']}")
            return
        self.tally.event_ids.append(event_id)
        self.tally.sent[step.event_type] += 1

    def statuses(self, wanted: set[str]) -> dict[str, dict[str, Any]]:
        """The load execution of each wanted event, listing newest first until all are seen."""
        found: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {"instanceId": self.instance_id, "maxResults": 20}
        while len(found) < len(wanted):
            page = self.client.list_data_integration_events(**kwargs)
            for ev in page.get("events", []):
                if ev["eventId"] in wanted:
                    found[ev["eventId"]] = ev["datasetTargetDetails"]["datasetLoadExecution"]
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        return found

    def wait_loaded(self, timeout: float) -> dict[str, dict[str, Any]]:
        """Wait until every sent event is SUCCEEDED or FAILED; their final load executions."""
        wanted = set(self.tally.event_ids)
        done = self.statuses(wanted)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pending = [
                e for e in wanted if done.get(e, {}).get("status") in (None, LoadStatus.IN_PROGRESS)
            ]
            if not pending:
                break
            time.sleep(0.25)
            if len(pending) > 50:
                done.update(self.statuses(wanted))
                continue
            for event_id in pending:
                ev = self.client.get_data_integration_event(
                    instanceId=self.instance_id, eventId=event_id
                )["event"]
                done[event_id] = ev["datasetTargetDetails"]["datasetLoadExecution"]
        return done

    def doomed_events(self) -> None:
        """Events whose dataset is deleted right after they are accepted: they end FAILED.

        The loader waits a moment to gather a batch once woken, so when it is idle the dataset
        is gone before it looks at them.
        """
        arn = self.client.create_data_lake_dataset(
            instanceId=self.instance_id,
            namespace="default",
            name=DOOMED,
            schema=DOOMED_SCHEMA,
            description="Staging table the demo deletes while events to it are in flight.",
        )["dataset"]["arn"]
        self.arns[DOOMED] = arn
        for supplier in SUPPLIERS[:3]:
            self.send(
                Send(
                    "scn.data.dataset",
                    f"SCORECARD-{supplier}",
                    [{"supplier": supplier, "on_time_rate": 0.93}],
                    DOOMED,
                )
            )
        self.client.delete_data_lake_dataset(
            instanceId=self.instance_id, namespace="default", name=DOOMED
        )


def _client(endpoint: str, key_id: str, secret: str, region: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "supplychain",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"mode": "standard", "max_attempts": 8}),
    )


def _setup(client: Any, name: str) -> tuple[str, dict[str, str]]:
    """A new Active instance and the demo's custom dataset."""
    iid: str = client.create_instance(
        instanceName=name, instanceDescription="Filled by supplylake demo."
    )["instance"]["instanceId"]
    deadline = time.monotonic() + 30
    while client.get_instance(instanceId=iid)["instance"]["state"] != InstanceState.ACTIVE:
        if time.monotonic() > deadline:
            raise RuntimeError(f"instance {iid} did not become Active")
        time.sleep(0.1)
    arn = client.create_data_lake_dataset(
        instanceId=iid,
        namespace="default",
        name=OPEN_ORDERS,
        schema=OPEN_ORDERS_SCHEMA,
        partitionSpec=OPEN_ORDERS_PARTITIONS,
        description="Purchase orders not yet received or cancelled (UPSERT and DELETE).",
    )["dataset"]["arn"]
    return iid, {OPEN_ORDERS: arn}


def _stream(runner: Runner, scenario: Scenario, duration: float, rate: float) -> None:
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[stats]}"),
    )
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task("streaming", total=duration, stats=runner.tally.line())
        started = time.monotonic()
        due = started
        while (elapsed := time.monotonic() - started) < duration:
            for step in scenario.next_steps(datetime.now(UTC)):
                runner.send(step)
                due += 1 / rate
                time.sleep(max(0.0, due - time.monotonic()))
            progress.update(task, completed=min(elapsed, duration), stats=runner.tally.line())
        progress.update(task, completed=duration, stats=runner.tally.line())


def _summary(runner: Runner, loads: dict[str, dict[str, Any]], fresh_s: float | None) -> None:
    statuses = Counter(v.get("status", LoadStatus.IN_PROGRESS) for v in loads.values())
    table = Table(title="supplylake demo", show_header=False)
    table.add_row("events sent (accepted)", str(len(runner.tally.event_ids)))
    table.add_row("applied (SUCCEEDED)", str(statuses[LoadStatus.SUCCEEDED]))
    table.add_row("failed at load (FAILED)", str(statuses[LoadStatus.FAILED]))
    table.add_row("rejected at send (ValidationException)", str(len(runner.tally.rejected)))
    if statuses[LoadStatus.IN_PROGRESS]:
        table.add_row("still loading", str(statuses[LoadStatus.IN_PROGRESS]))
    table.add_row(
        "freshness",
        f"every event was in the lake {fresh_s:.1f} s after the last one was sent"
        if fresh_s is not None
        else "the loader had not caught up when the demo stopped waiting",
    )
    for event_type, count in sorted(runner.tally.sent.items()):
        table.add_row(f"  {event_type}", str(count))
    out.print(table)
    for message in sorted({v["message"] for v in loads.values() if v.get("message")}):
        out.print(f"[red]FAILED[/red] {message}")
    for message in sorted(set(runner.tally.rejected))[:3]:
        out.print(f"[yellow]rejected[/yellow] {message}")


def run_demo(
    endpoint: str,
    key_id: str,
    secret: str,
    region: str,
    name: str,
    duration: float,
    rate: float,
    seed: int | None,
) -> str:
    """Run the scenario against ``endpoint``; the new instance's id."""
    client = _client(endpoint, key_id, secret, region)
    iid, arns = _setup(client, name)
    err.print(f"instance [bold]{iid}[/bold] ({name}) is Active; streaming for {duration:g} s")
    runner = Runner(client, iid, arns)
    _stream(runner, Scenario(random.Random(seed)), duration, rate)
    last_sent = time.monotonic()
    with err.status("waiting for the loader to apply every event…"):
        loads = runner.wait_loaded(timeout=120)
    fresh = None
    if all(v.get("status") not in (None, LoadStatus.IN_PROGRESS) for v in loads.values()):
        fresh = time.monotonic() - last_sent
    with err.status("sending events to a dataset that is then deleted…"):
        time.sleep(1.5)  # let the loader go idle, so it gathers the next batch after a pause
        runner.doomed_events()
        loads = runner.wait_loaded(timeout=60)
    _summary(runner, loads, fresh)
    return iid


def _serve_in_thread(settings: Settings) -> tuple[Any, threading.Thread, Any]:
    import uvicorn

    from supplylake.process.asgi import uvicorn_options
    from supplylake.server import assemble

    assembled = assemble(settings)
    config = uvicorn.Config(assembled.app, **uvicorn_options(settings, log_level="warning"))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="supplylake-demo-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    url = f"http://{settings.host}:{settings.port}/health"
    while time.monotonic() < deadline and thread.is_alive():
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return server, thread, assembled.bootstrap
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"the server did not start on {settings.host}:{settings.port}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=1):
            return True
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def demo(
    duration: Annotated[
        float, typer.Option(min=1, help="Seconds to stream the scenario for.")
    ] = 30.0,
    rate: Annotated[float, typer.Option(min=0.5, help="Events per second to send.")] = 20.0,
    endpoint: Annotated[
        str | None,
        typer.Option(
            help="A running supplylake to use (with --access-key-id and --secret-access-key); "
            "without it the demo starts one on the embedded default.",
        ),
    ] = None,
    access_key_id: Annotated[str | None, typer.Option(envvar="AWS_ACCESS_KEY_ID")] = None,
    secret_access_key: Annotated[str | None, typer.Option(envvar="AWS_SECRET_ACCESS_KEY")] = None,
    region: Annotated[str, typer.Option(envvar="AWS_DEFAULT_REGION")] = "us-east-1",
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar="SUPPLYLAKE_DATA_DIR",
            show_default="./supplylake-data",
            help="Data folder of the server the demo starts.",
        ),
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port of the server the demo starts.")] = None,
    name: Annotated[str, typer.Option("--instance-name", help="Name of the new instance.")] = (
        "supplylake-demo"
    ),
    seed: Annotated[
        int | None, typer.Option(help="Random seed, for a repeatable scenario.")
    ] = None,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve/--no-serve",
            help="Keep the server the demo started running afterwards, for the console.",
        ),
    ] = True,
) -> None:
    """Stream a realistic supply-chain scenario through the API, then point at the console."""
    server = thread = None
    if endpoint is None:
        settings = Settings.from_env(data_dir=data_dir, port=port)
        url = f"http://{settings.host}:{settings.port}"
        if _answers(url):
            err.print(
                f"[red]error:[/red] a server already answers on {url}: pass "
                f"--endpoint {url} with --access-key-id and --secret-access-key to use it."
            )
            raise typer.Exit(2)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        server, thread, boot = _serve_in_thread(settings)
        endpoint, access_key_id, secret_access_key = (
            url,
            boot.key.access_key_id,
            boot.key.secret_access_key,
        )
        region = settings.region
        where = boot.credentials_file or "SUPPLYLAKE_SECRET_ACCESS_KEY"
        err.print(f"started supplylake on {url} (data in {settings.data_dir})")
    elif not (access_key_id and secret_access_key):
        err.print("[red]error:[/red] --endpoint needs --access-key-id and --secret-access-key.")
        raise typer.Exit(2)
    else:
        where = "the secret you passed"
    endpoint = endpoint.rstrip("/")
    try:
        iid = run_demo(
            endpoint,
            access_key_id or "",
            secret_access_key or "",
            region,
            name,
            duration,
            rate,
            seed,
        )
    except Exception as exc:
        err.print(f"[red]demo failed:[/red] {exc}")
        if server is not None:
            server.should_exit = True
        raise typer.Exit(1) from None
    out.print(
        f"\nConsole: [bold]{endpoint}/console/instances/{iid}/events[/bold]\n"
        f"Sign in with access key [bold]{access_key_id}[/bold] (its secret: {where}).",
        soft_wrap=True,
    )
    if server is None or thread is None:
        return
    if not serve:
        server.should_exit = True
        thread.join(15)
        return
    out.print("The server keeps running for the console; press Ctrl-C to stop it.")
    with noted() as received:
        while thread.is_alive() and not received:
            thread.join(0.5)
    server.should_exit = True
    thread.join(15)
