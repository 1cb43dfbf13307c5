from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from supplylake.lake import Change, Lake, TableNotFoundError, table_identifier
from supplylake.schema.types import (
    DatasetSchema,
    Field,
    FieldType,
    Operation,
    PartitionField,
    Transform,
)

from .conftest import INSTANCE
from .rows import table, ts

OTHER = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

ORDERS = DatasetSchema(
    "orders",
    (
        Field("id", FieldType.STRING, required=True),
        Field("line", FieldType.INT, required=True),
        Field("qty", FieldType.LONG),
        Field("price", FieldType.DOUBLE),
        Field("placed", FieldType.TIMESTAMP),
        Field("site", FieldType.STRING),
    ),
    primary_keys=("id", "line"),
    partition_spec=(
        PartitionField("placed", Transform.DAY),
        PartitionField("site", Transform.IDENTITY),
    ),
)


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_table_identifier_is_one_namespace_per_instance_and_namespace() -> None:
    assert (
        table_identifier(INSTANCE, "asc", "inbound_order")
        == "scn_4f1c2e0a9b7d4c3e8f6a5b4c3d2e1f0a_asc.inbound_order"
    )
    with pytest.raises(ValueError, match="UUID"):
        table_identifier("not-an-instance", "asc", "x")


def test_create_table_is_idempotent_and_maps_the_schema(lake: Lake) -> None:
    lake.create_table(INSTANCE, "default", ORDERS)
    lake.create_table(INSTANCE, "default", ORDERS)

    tbl = lake.table(INSTANCE, "default", "orders")
    schema = tbl.schema()
    assert [(f.field_id, f.name, f.required) for f in schema.fields] == [
        (1, "id", True),
        (2, "line", True),
        (3, "qty", False),
        (4, "price", False),
        (5, "placed", False),
        (6, "site", False),
    ]
    assert [str(f.field_type) for f in schema.fields] == [
        "string",
        "int",
        "long",
        "double",
        "timestamptz",
        "string",
    ]
    assert schema.identifier_field_names() == {"id", "line"}
    assert [(f.name, str(f.transform)) for f in tbl.spec().fields] == [
        ("placed_day", "day"),
        ("site", "identity"),
    ]
    assert tbl.format_version == 2
    assert (
        tbl.properties["commit.retry.num-retries"] == "0"
    )  # retries are ours, re-checking the position
    assert tbl.properties["write.metadata.delete-after-commit.enabled"] == "true"
    assert lake.list_tables(INSTANCE) == [("default", "orders")]
    assert len(tbl.metadata_location) > 0
    metadata_files = list(Path(tbl.location()[len("file://") :]).rglob("*.metadata.json"))
    assert len(metadata_files) == 1  # the second create wrote nothing


def test_optional_primary_key_is_matched_but_not_an_identifier_field(lake: Lake) -> None:
    schema = DatasetSchema(
        "loose", (Field("id", FieldType.STRING), Field("v", FieldType.LONG)), ("id",)
    )
    lake.create_table(INSTANCE, "default", schema)
    assert lake.table(INSTANCE, "default", "loose").schema().identifier_field_ids == []


@pytest.mark.parametrize("transform", list(Transform))
def test_each_partition_transform_writes_and_reads_back(lake: Lake, transform: Transform) -> None:
    source = FieldType.STRING if transform is Transform.IDENTITY else FieldType.TIMESTAMP
    schema = DatasetSchema(
        "events",
        (Field("id", FieldType.LONG, required=True), Field("p", source)),
        ("id",),
        (PartitionField("p", transform),),
    )
    lake.create_table(INSTANCE, "default", schema)
    values = ["x", "y", None] if source is FieldType.STRING else [ts("2023-12-31T23:30"), None]
    values += [ts("2024-02-01T10:15")] if source is FieldType.TIMESTAMP else []
    rows = [{"id": i, "p": v} for i, v in enumerate(values)]
    lake.apply_batch(
        INSTANCE, "default", schema, [Change(Operation.APPEND, table(schema, rows))], 1
    )

    got = lake.scan(INSTANCE, "default", "events").sort_by("id").to_pylist()
    assert [r["p"] for r in got] == values
    partitions = {
        t.file.partition for t in lake.table(INSTANCE, "default", "events").scan().plan_files()
    }
    assert len(partitions) == len(values)  # each value in its own partition, null included


def test_drop_table_deletes_its_files(lake: Lake, tmp_path: Path) -> None:
    lake.create_table(INSTANCE, "default", ORDERS)
    rows = table(ORDERS, [{"id": "a", "line": 1, "placed": ts("2024-01-01T00:00")}])
    lake.apply_batch(INSTANCE, "default", ORDERS, [Change(Operation.APPEND, rows)], 1)
    assert _files(tmp_path / "warehouse")

    lake.drop_table(INSTANCE, "default", "orders")
    lake.drop_table(INSTANCE, "default", "orders")  # a second drop is a no-op

    assert not lake.table_exists(INSTANCE, "default", "orders")
    assert _files(tmp_path / "warehouse") == []
    with pytest.raises(TableNotFoundError):
        lake.scan(INSTANCE, "default", "orders")


def test_drop_instance_keeps_other_instances(lake: Lake, tmp_path: Path) -> None:
    for instance in (INSTANCE, OTHER):
        for namespace in ("asc", "default", "custom"):
            lake.create_table(instance, namespace, ORDERS)
    lake.drop_namespace(INSTANCE, "custom")
    assert lake.namespaces(INSTANCE) == ["asc", "default"]

    lake.drop_instance(INSTANCE)

    assert lake.list_tables(INSTANCE) == []
    assert lake.list_tables(OTHER) == [
        ("asc", "orders"),
        ("custom", "orders"),
        ("default", "orders"),
    ]
    folders = sorted(p.name for p in (tmp_path / "warehouse").iterdir())
    assert all(name.startswith("scn_0a1b2c3d") for name in folders)


def test_catalog_waits_for_another_writer_of_the_same_sqlite_file(
    lake: Lake, tmp_path: Path
) -> None:
    """The store writes to the same file: a commit waits for its lock instead of failing."""
    lake.create_table(INSTANCE, "default", ORDERS)
    other = sqlite3.connect(
        tmp_path / "supplylake.db", isolation_level=None, check_same_thread=False
    )
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.execute("CREATE TABLE store_rows (x)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO store_rows VALUES (1)")
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    release.start()
    started = time.monotonic()
    try:
        rows = table(ORDERS, [{"id": "a", "line": 1}])
        lake.apply_batch(INSTANCE, "default", ORDERS, [Change(Operation.APPEND, rows)], 1)
    finally:
        release.join()
        other.close()
    assert time.monotonic() - started >= 0.4
    assert lake.last_position(INSTANCE, "default", "orders") == 1


def test_apply_batch_refuses_to_apply_after_the_position_moved(tmp_path: Path) -> None:
    """A loader that planned after position 0 must not apply its batch over another's commit."""
    import pyarrow as pa

    from supplylake.lake import Change, Lake
    from supplylake.lake.errors import PositionMovedError
    from supplylake.schema.types import DatasetSchema, Field, FieldType, Operation

    lake = Lake(f"sqlite:///{tmp_path}/c.db", str(tmp_path / "wh"))
    schema = DatasetSchema("t", (Field("id", FieldType.STRING, True),), ("id",))
    iid = "11111111-2222-3333-4444-555555555555"
    lake.create_table(iid, "default", schema)
    rows = pa.table({"id": pa.array(["a"], pa.string())})
    lake.apply_batch(
        iid, "default", schema, [Change(Operation.APPEND, rows)], 5, expected_position=0
    )
    with pytest.raises(PositionMovedError):
        lake.apply_batch(
            iid, "default", schema, [Change(Operation.APPEND, rows)], 5, expected_position=0
        )
    assert lake.scan(iid, "default", "t").num_rows == 1
    lake.close()


def test_create_table_when_another_writer_creates_the_namespace_first(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two loader threads creating the first tables of a namespace: pyiceberg looks, then inserts."""
    lake.create_table(INSTANCE, "default", ORDERS)  # the namespace now exists
    real = lake.catalog.namespace_exists
    looks: list[str] = []

    def not_yet_then_real(namespace: Any) -> bool:
        # The look pyiceberg makes before its insert, as the losing writer saw it: not there yet.
        looks.append(str(namespace))
        return False if len(looks) == 1 else bool(real(namespace))

    monkeypatch.setattr(lake.catalog, "namespace_exists", not_yet_then_real)
    other = DatasetSchema("others", ORDERS.fields, primary_keys=ORDERS.primary_keys)
    lake.create_table(INSTANCE, "default", other)
    assert lake.table_exists(INSTANCE, "default", "others")
    assert len(looks) >= 2  # the losing look, then the look after its insert failed


def test_threads_creating_tables_of_new_namespaces_all_succeed(lake: Lake) -> None:
    namespaces = [f"ns{i}" for i in range(4)]
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def create(name: str) -> None:
        start.wait()
        try:
            for ns in namespaces:
                lake.create_table(INSTANCE, ns, DatasetSchema(name, ORDERS.fields))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=create, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert all(lake.table_exists(INSTANCE, ns, f"t{i}") for ns in namespaces for i in range(4))
