"""pyiceberg's private names that the lake uses are all still there, and used in one module only.

pyproject pins pyiceberg to the minor version these pass on. Before widening the pin, run this
file: a failure names each function, method, parameter or attribute that moved, which
`supplylake/lake/_pyiceberg.py` must then follow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pyarrow as pa
import pyiceberg
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from supplylake.lake import Change, Lake, _pyiceberg
from supplylake.lake.commits import RowLevelCommit
from supplylake.schema.types import DatasetSchema, Field, FieldType, Operation

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
    assert producer.parent_snapshot_id == table.current_snapshot().snapshot_id  # type: ignore[union-attr]


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
