"""pyiceberg's private names that the lake uses are all still there, and used in one module only.

pyproject pins pyiceberg to the minor version these pass on. Before widening the pin, run this
file: a failure names each function, method, parameter or attribute that moved, which
`supplylake/lake/_pyiceberg.py` must then follow.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyiceberg
import pytest
from pyiceberg.avro.file import AvroFile
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.manifest import MANIFEST_ENTRY_SCHEMAS, ManifestContent, ManifestWriterV2

from supplylake.lake import Change, Lake, _pyiceberg
from supplylake.lake.commits import RowLevelCommit
from supplylake.schema.types import DatasetSchema, Field, FieldType, Operation
from tests.schemas import DAILY

from .rows import table, ts

INSTANCE = "4f1c2e0a-9b7d-4c3e-8f6a-5b4c3d2e1f0a"
SCHEMA = DatasetSchema("item", (Field("id", FieldType.STRING, required=True),), ("id",))
LAKE_DIR = Path(_pyiceberg.__file__).parent


def test_every_private_name_used_is_still_there() -> None:
    moved = _pyiceberg.moved()
    assert not moved, f"pyiceberg {pyiceberg.__version__} moved: " + "; ".join(moved)


def test_a_moved_name_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyiceberg.table.update.snapshot import _SnapshotProducer

    monkeypatch.delattr(_SnapshotProducer, "_validate_concurrency")
    monkeypatch.setattr(SqlCatalog, "_load_file_io", lambda self, properties: None)
    assert _pyiceberg.moved() == [
        "pyiceberg.table.update.snapshot._SnapshotProducer._validate_concurrency is gone",
        "pyiceberg.catalog.sql.SqlCatalog._load_file_io lost its parameters ['location']",
    ]


def test_a_live_producer_and_transaction_have_the_attributes_used(lake: Lake) -> None:
    lake.create_table(INSTANCE, "asc", SCHEMA)
    rows = pa.table({"id": ["a"]})
    lake.apply_batch(INSTANCE, "asc", SCHEMA, [Change(Operation.APPEND, rows)], 1)
    table = lake.table(INSTANCE, "asc", "item")
    transaction = _pyiceberg.CopyOnceTransaction(table)
    producer = RowLevelCommit(transaction, table.io, {})
    moved = _pyiceberg.moved_attributes(producer, transaction)
    assert not moved, f"pyiceberg {pyiceberg.__version__} moved: " + "; ".join(moved)
    assert producer.parent_snapshot_id == table.current_snapshot().snapshot_id


def test_no_other_module_touches_pyicebergs_private_names() -> None:
    attributes = {
        *_pyiceberg.PRODUCER_ATTRIBUTES,
        *_pyiceberg.TRANSACTION_ATTRIBUTES,
        *(name for _, name, _ in _pyiceberg.INTERNALS if name.startswith("_")),
    } - {"__init__"}
    found = []
    for path in sorted(LAKE_DIR.rglob("*.py")):
        if path.name == "_pyiceberg.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pyiceberg"):
                found += [f"{path.name}: {a.name}" for a in node.names if a.name.startswith("_")]
            elif isinstance(node, ast.Attribute) and node.attr in attributes:
                found.append(f"{path.name}:{node.lineno}: .{node.attr}")
            elif isinstance(node, ast.ClassDef):  # overriding a private method
                found += [
                    f"{path.name}:{m.lineno}: def {m.name}"
                    for m in node.body
                    if isinstance(m, ast.FunctionDef) and m.name in attributes
                ]
    assert not found, "pyiceberg internals outside _pyiceberg.py: " + ", ".join(found)


@pytest.mark.parametrize("schema", [SCHEMA, DAILY], ids=["unpartitioned", "daily"])
def test_quick_manifests_are_byte_for_byte_pyicebergs(
    lake: Lake, schema: DatasetSchema, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake.create_table(INSTANCE, "default", schema)
    rows = table(schema, [{"k": n, "id": str(n), "at": ts(f"2024-03-0{n}T10:00")} for n in (1, 2)])
    lake.apply_batch(INSTANCE, "default", schema, [Change(Operation.APPEND, rows)], 1)
    t = lake.table(INSTANCE, "default", schema.name)
    metadata = t.metadata
    entries = [
        e for m in t.current_snapshot().manifests(t.io) for e in m.fetch_manifest_entry(t.io)
    ]
    assert entries
    monkeypatch.setattr(os, "urandom", lambda n: b"\x07" * n)  # the files' sync markers
    written = []
    for n, make in enumerate([ManifestWriterV2, _pyiceberg.QuickManifestWriter] * 2):
        path = f"{metadata.location}/metadata/compare-{n}.avro"
        with make(metadata.spec(), metadata.schema(), t.io.new_output(path), 42, "deflate") as w:
            for entry in entries:
                w.existing(entry)
        written.append((Path(path.removeprefix("file://")).read_bytes(), w.to_manifest_file()))
    (theirs, their_list), (ours, our_list) = written[0], written[1]
    assert ours == theirs
    assert written[3][0] == ours  # the second quick writer used the kept set-up
    assert our_list.partitions == their_list.partitions
    assert our_list.existing_files_count == their_list.existing_files_count == len(entries)


def test_quick_delete_manifests_say_they_list_deletes(lake: Lake) -> None:
    lake.create_table(INSTANCE, "default", DAILY)
    rows = table(DAILY, [{"k": 1, "at": ts("2024-03-01T10:00")}])
    lake.apply_batch(INSTANCE, "default", DAILY, [Change(Operation.APPEND, rows)], 1)
    t = lake.table(INSTANCE, "default", DAILY.name)
    entry = t.current_snapshot().manifests(t.io)[0].fetch_manifest_entry(t.io)[0]
    path = f"{t.metadata.location}/metadata/deletes.avro"
    writer = _pyiceberg.QuickManifestWriter(
        t.metadata.spec(),
        t.metadata.schema(),
        t.io.new_output(path),
        42,
        "deflate",
        ManifestContent.DELETES,
    )
    with writer:
        writer.existing(entry)
    listed = writer.to_manifest_file()
    assert listed.content == ManifestContent.DELETES
    read = AvroFile[Any](t.io.new_input(path), MANIFEST_ENTRY_SCHEMAS[2], read_types={})
    with read as f:
        assert f.header.meta["content"] == "deletes"
    assert [e.data_file.file_path for e in listed.fetch_manifest_entry(t.io)] == [
        entry.data_file.file_path
    ]
