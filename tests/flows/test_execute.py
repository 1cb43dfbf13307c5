"""Executions on real Iceberg tables and a folder bucket: what each trigger writes, and failures."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from supplylake.flows.buckets import FolderBuckets
from supplylake.flows.definition import DatasetRef, FlowDefinition, build_flow
from supplylake.flows.execute import Execution, Executor, Outcome
from supplylake.lake import Lake
from supplylake.lake.fold import Change
from supplylake.schema.asc import asc_datasets
from supplylake.schema.types import DatasetSchema, Field, FieldType, Operation
from tests.flows.wire import (
    BUCKET,
    INSTANCE,
    create,
    dataset_source,
    dataset_target,
    s3_source,
    sql,
)

STAGING = DatasetSchema(
    "staging",
    (
        Field("id", FieldType.STRING, True),
        Field("qty", FieldType.INT),
        Field("price", FieldType.DOUBLE),
        Field("at", FieldType.TIMESTAMP),
    ),
    ("id",),
)
LOG = DatasetSchema("log", (Field("id", FieldType.STRING), Field("qty", FieldType.INT)))
SCHEMAS = {("default", "staging"): STAGING, ("default", "log"): LOG}
_seq = itertools.count(1)


def _lookup(ref: DatasetRef) -> DatasetSchema | None:
    if ref.namespace == "asc":
        return asc_datasets().get(ref.name)
    return SCHEMAS.get((ref.namespace, ref.name))


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Lake]:
    lake = Lake(f"sqlite:///{tmp_path / 'catalog.db'}", str(tmp_path / "warehouse"))
    for schema in SCHEMAS.values():
        lake.create_table(INSTANCE, "default", schema)
    yield lake
    lake.close()


@pytest.fixture
def buckets(tmp_path: Path) -> FolderBuckets:
    buckets = FolderBuckets(tmp_path / "buckets")
    buckets.ensure_bucket(BUCKET)
    return buckets


@pytest.fixture
def executor(lake: Lake, buckets: FolderBuckets, tmp_path: Path) -> Executor:
    return Executor(lake, buckets, _lookup, spool_dir=tmp_path)


def _flow(**members: Any) -> FlowDefinition:
    return build_flow(create("orders-flow", **members))


def _put(buckets: FolderBuckets, key: str, text: str, at: int | None = None) -> None:
    buckets.write_object(BUCKET, key, text.encode())
    if at is not None:
        path = buckets.root / BUCKET / key
        os.utime(path, ns=(at, at))


def _run(
    executor: Executor, flow: FlowDefinition, seq: int | None = None, **trigger: Any
) -> Outcome:
    execution = Execution(flow, str(uuid.uuid4()), seq or next(_seq), trigger)
    return executor.run(execution)


def _rows(lake: Lake, name: str, namespace: str = "default") -> list[dict[str, Any]]:
    rows = lake.scan(INSTANCE, namespace, name).to_pylist()
    return sorted(rows, key=lambda r: (str(r.get("id")), str(r)))


def test_incremental_files_upsert_by_primary_key(executor: Executor, lake: Lake) -> None:
    flow = _flow()
    _put(executor.buckets, "orders/a.csv", "id,qty,price,at\na,1,1.5,2024-01-02T03:04:05Z\nb,2,,\n")  # type: ignore[arg-type]
    first = _run(executor, flow, kind="object", key="orders/a.csv")
    assert first.succeeded, first.message
    assert (first.rows_read, first.rows_written) == (2, 2)
    _put(executor.buckets, "orders/b.csv", "id,qty\nb,20\nc,3\n")  # type: ignore[arg-type]
    assert _run(executor, flow, kind="object", key="orders/b.csv").succeeded
    rows = _rows(lake, "staging")
    assert [(r["id"], r["qty"]) for r in rows] == [("a", 1), ("b", 20), ("c", 3)]
    assert rows[0]["price"] == 1.5 and rows[0]["at"].isoformat() == "2024-01-02T03:04:05+00:00"


def test_a_value_that_does_not_convert_fails_naming_file_line_and_column(
    executor: Executor, lake: Lake, buckets: FolderBuckets
) -> None:
    flow = _flow()
    _put(buckets, "orders/bad.csv", "id,qty\na,1\n\nb,many\n")
    outcome = _run(executor, flow, kind="object", key="orders/bad.csv")
    assert not outcome.succeeded
    assert outcome.message is not None
    assert f"s3://{BUCKET}/orders/bad.csv" in outcome.message
    assert "line 4, column 'qty'" in outcome.message
    assert outcome.rows_rejected == 1
    assert lake.scan(INSTANCE, "default", "staging").num_rows == 0
    assert outcome.diagnostics_uri is not None
    rejected = buckets.root / BUCKET / outcome.diagnostics_uri.split(BUCKET + "/", 1)[1]
    assert "many" in (rejected / "rejected-rows.csv").read_text()


def test_sql_that_fails_never_echoes_the_query(executor: Executor, lake: Lake) -> None:
    flow = _flow(transformation=sql("SELECT id, secret_value_xyz FROM orders WHERE id = 'hush'"))
    _put(executor.buckets, "orders/a.csv", "id,qty\na,1\n")  # type: ignore[arg-type]
    outcome = _run(executor, flow, kind="object", key="orders/a.csv")
    assert not outcome.succeeded and outcome.message
    assert "hush" not in outcome.message
    assert lake.scan(INSTANCE, "default", "staging").num_rows == 0


def test_a_column_the_target_lacks_fails_the_execution(executor: Executor, lake: Lake) -> None:
    flow = _flow()
    _put(executor.buckets, "orders/a.csv", "id,colour\na,red\n")  # type: ignore[arg-type]
    outcome = _run(executor, flow, kind="object", key="orders/a.csv")
    assert not outcome.succeeded and outcome.message
    assert "'colour' is not a field" in outcome.message


def test_sql_transforms_with_spark_functions(executor: Executor, lake: Lake) -> None:
    flow = _flow(
        transformation=sql(
            "SELECT concat_ws('-', id, 'x') AS id, CAST(qty AS INT) * 2 AS qty FROM orders"
        )
    )
    _put(executor.buckets, "orders/a.csv", "id,qty\na,1\nb,2\n")  # type: ignore[arg-type]
    outcome = _run(executor, flow, kind="object", key="orders/a.csv")
    assert outcome.succeeded, outcome.message
    assert [(r["id"], r["qty"]) for r in _rows(lake, "staging")] == [("a-x", 2), ("b-x", 4)]


def test_removed_file_takes_its_rows_away(
    executor: Executor, lake: Lake, buckets: FolderBuckets
) -> None:
    flow = _flow()
    _put(buckets, "orders/a.csv", "id,qty\na,1\nb,1\n", at=1_000_000_000)
    _put(buckets, "orders/b.csv", "id,qty\nb,2\nc,2\n", at=2_000_000_000)
    _run(executor, flow, kind="object", key="orders/a.csv")
    _run(executor, flow, kind="object", key="orders/b.csv")
    (buckets.root / BUCKET / "orders/b.csv").unlink()
    outcome = _run(executor, flow, kind="removed", key="orders/b.csv")
    assert outcome.succeeded, outcome.message
    assert [(r["id"], r["qty"]) for r in _rows(lake, "staging")] == [("a", 1), ("b", 1)]


def test_replace_keeps_only_the_new_file(executor: Executor, lake: Lake) -> None:
    flow = _flow(target=dataset_target("default", "staging", loadType="REPLACE"))
    _put(executor.buckets, "orders/a.csv", "id,qty\na,1\nb,1\n")  # type: ignore[arg-type]
    _put(executor.buckets, "orders/b.csv", "id,qty\nc,2\n")  # type: ignore[arg-type]
    _run(executor, flow, kind="object", key="orders/a.csv")
    _run(executor, flow, kind="object", key="orders/b.csv")
    assert [r["id"] for r in _rows(lake, "staging")] == ["c"]


def test_an_execution_run_again_is_not_applied_twice(executor: Executor, lake: Lake) -> None:
    flow = _flow(target=dataset_target("default", "log"))
    _put(executor.buckets, "orders/a.csv", "id,qty\na,1\n")  # type: ignore[arg-type]
    execution = Execution(
        flow, str(uuid.uuid4()), next(_seq), {"kind": "object", "key": "orders/a.csv"}
    )
    assert executor.run(execution).succeeded
    again = executor.run(execution)
    assert again.succeeded and again.already and again.rows_written == 1
    assert lake.scan(INSTANCE, "default", "log").num_rows == 1
    summary = lake.table(INSTANCE, "default", "log").current_snapshot().summary  # type: ignore[union-attr]
    assert summary["supplylake.flow-execution"] == execution.execution_id


def _asc_flow(name: str, **options: Any) -> FlowDefinition:
    return build_flow(
        create(
            name,
            sources=[s3_source(prefix=name)],
            transformation=sql("SELECT * FROM orders"),
            target=dataset_target("asc", "company", **options),
        )
    )


def test_asc_rows_carry_the_flow_and_leave_events_rows_alone(
    executor: Executor, lake: Lake
) -> None:
    schema = asc_datasets()["company"]
    keys = schema.primary_keys
    lake.create_table(INSTANCE, "asc", schema)
    event_row = {f.name: None for f in schema.fields}
    event_row.update({k: "event" for k in keys})
    event_row["connection_id"] = "supplylake:SendDataIntegrationEvent"
    typed = pa.Table.from_pylist([event_row], schema=_arrow(schema))
    lake.apply_batch(INSTANCE, "asc", schema, [Change(Operation.APPEND, typed)], 7)
    header = ",".join(keys)
    flow = _asc_flow("cal-a", loadType="REPLACE")
    _put(
        executor.buckets,
        "cal-a/1.csv",
        f"{header},connection_id\n" + ",".join(["x"] * len(keys)) + ",spoof\n",
    )  # type: ignore[arg-type]
    assert _run(executor, flow, kind="object", key="cal-a/1.csv").succeeded
    _put(executor.buckets, "cal-a/2.csv", f"{header}\n" + ",".join(["y"] * len(keys)) + "\n")  # type: ignore[arg-type]
    assert _run(executor, flow, kind="object", key="cal-a/2.csv").succeeded
    rows = lake.scan(INSTANCE, "asc", "company").to_pylist()
    assert sorted((r[keys[0]], r["connection_id"]) for r in rows) == [
        ("event", "supplylake:SendDataIntegrationEvent"),
        ("y", "cal-a"),
    ]
    # The events' position is carried by the flow's commits.
    assert lake.last_position(INSTANCE, "asc", "company") == 7


def test_duplicate_keys_into_asc_fail_without_dedupe(executor: Executor, lake: Lake) -> None:
    keys = asc_datasets()["company"].primary_keys
    flow = _asc_flow("cal-b")
    line = ",".join(["k"] * len(keys))
    _put(executor.buckets, "cal-b/1.csv", f"{','.join(keys)}\n{line}\n{line}\n")  # type: ignore[arg-type]
    outcome = _run(executor, flow, kind="object", key="cal-b/1.csv")
    assert not outcome.succeeded and outcome.message
    assert "dedupeRecords" in outcome.message


def test_dedupe_field_priority_keeps_the_chosen_row_and_reports_the_dropped(
    executor: Executor, lake: Lake, buckets: FolderBuckets
) -> None:
    strategy = {
        "type": "FIELD_PRIORITY",
        "fieldPriority": {"fields": [{"name": "qty", "sortOrder": "DESC"}]},
    }
    flow = _flow(
        target=dataset_target("default", "staging", dedupeRecords=True, dedupeStrategy=strategy)
    )
    _put(buckets, "orders/a.csv", "id,qty\na,1\na,5\na,3\n")
    outcome = _run(executor, flow, kind="object", key="orders/a.csv")
    assert outcome.succeeded, outcome.message
    assert [(r["id"], r["qty"]) for r in _rows(lake, "staging")] == [("a", 5)]
    assert outcome.diagnostics_uri is not None
    dropped = list((buckets.root / BUCKET / "_diagnostics").rglob("dropped-duplicates.csv"))
    assert len(dropped) == 1 and dropped[0].read_text().count("\n") == 3


def test_parquet_keeps_its_types(
    executor: Executor, lake: Lake, buckets: FolderBuckets, tmp_path: Path
) -> None:
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"id": ["p"], "qty": pa.array([7], pa.int32()), "price": [2.5]}), path)
    buckets.write_object(BUCKET, "orders/a.parquet", path.read_bytes())
    outcome = _run(executor, _flow(), kind="object", key="orders/a.parquet")
    assert outcome.succeeded, outcome.message
    assert [(r["id"], r["qty"], r["price"]) for r in _rows(lake, "staging")] == [("p", 7, 2.5)]


def test_dataset_sources_are_read_at_their_latest_commit(executor: Executor, lake: Lake) -> None:
    rows = pa.table({"id": ["a", "b"], "qty": pa.array([1, 2], pa.int32())})
    lake.apply_batch(INSTANCE, "default", LOG, [Change(Operation.APPEND, rows)], 1)
    flow = build_flow(
        create(
            "copy",
            sources=[dataset_source("src", "default", "log")],
            transformation=sql("SELECT id, sum(qty) AS qty FROM src GROUP BY id"),
            target=dataset_target("default", "staging"),
        )
    )
    assert _run(executor, flow, kind="datasets").succeeded
    assert _run(executor, flow, kind="datasets").succeeded
    assert [(r["id"], r["qty"]) for r in _rows(lake, "staging")] == [("a", 1), ("b", 2)]


def test_s3_target_gets_a_file_per_execution(executor: Executor, buckets: FolderBuckets) -> None:
    flow = build_flow(
        create(
            "to-s3",
            target={"targetType": "S3", "s3Target": {"bucketName": BUCKET, "prefix": "out"}},
        )
    )
    _put(buckets, "orders/a.csv", "id,qty\na,1\n")
    outcome = _run(executor, flow, kind="object", key="orders/a.csv")
    assert outcome.succeeded, outcome.message
    written = list((buckets.root / BUCKET / "out").iterdir())
    assert len(written) == 1 and written[0].suffix == ".csv"
    assert '"a"' in written[0].read_text()


def _arrow(schema: DatasetSchema) -> pa.Schema:
    from supplylake.schema.arrow_types import arrow_schema

    return arrow_schema(schema)


def test_keys_spilled_to_a_file_still_find_duplicates_and_upsert(
    executor: Executor, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    from supplylake.lake import flows_keys, flows_write

    monkeypatch.setattr(flows_keys, "SPILL_ROWS", 1)
    monkeypatch.setattr(flows_write, "CHUNK_ROWS", 2)
    flow = _asc_flow("spill")
    _put(executor.buckets, "spill/1.csv", "id\na\nb\nc\n")  # type: ignore[arg-type]
    assert _run(executor, flow, kind="object", key="spill/1.csv").succeeded
    _put(executor.buckets, "spill/2.csv", "id,description\nb,new\nd,\n")  # type: ignore[arg-type]
    assert _run(executor, flow, kind="object", key="spill/2.csv").succeeded
    rows = lake.scan(INSTANCE, "asc", "company").to_pylist()
    assert sorted((r["id"], r["description"]) for r in rows) == [
        ("a", None),
        ("b", "new"),
        ("c", None),
        ("d", None),
    ]
    _put(executor.buckets, "spill/3.csv", "id\ne\nf\ne\n")  # type: ignore[arg-type]
    outcome = _run(executor, flow, kind="object", key="spill/3.csv")
    assert not outcome.succeeded and outcome.message
    assert "id='e', in 2 rows" in outcome.message
    assert not list(executor.spool_dir.glob("*.keys.parquet"))  # type: ignore[union-attr]


def test_a_rewritten_file_replaces_what_it_brought(executor: Executor, lake: Lake) -> None:
    flow = _flow(target=dataset_target("default", "log"))
    _put(executor.buckets, "orders/a.csv", "id,qty\na,1\nb,2\n")  # type: ignore[arg-type]
    assert _run(executor, flow, kind="object", key="orders/a.csv").succeeded
    _put(executor.buckets, "orders/a.csv", "id,qty\na,10\n")  # type: ignore[arg-type]
    assert _run(executor, flow, kind="object", key="orders/a.csv", rewritten=True).succeeded
    assert [(r["id"], r["qty"]) for r in _rows(lake, "log")] == [("a", 10)]
