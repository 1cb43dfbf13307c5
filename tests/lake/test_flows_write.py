"""FlowWriter on real Iceberg tables: an execution of no flow sequence is recognised by its id,
a commit whose outcome is unknown keeps its files, and keys given twice replace a row once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from supplylake.lake import Lake, flows_keys, flows_write
from supplylake.lake.flows_write import FlowWriter, WriteMode, execution_committed
from supplylake.schema.types import DatasetSchema, Field, FieldType
from tests.lake.conftest import INSTANCE

SCHEMA = DatasetSchema(
    "items", (Field("id", FieldType.STRING, True), Field("qty", FieldType.INT)), ("id",)
)


def _writer(lake: Lake, execution_id: str, **options: Any) -> FlowWriter:
    table = lake.open_table(INSTANCE, "default", SCHEMA, create=True)
    return FlowWriter(
        table,
        SCHEMA,
        flow="job",
        execution_id=execution_id,
        seq=None,
        mode=WriteMode.UPSERT,
        **options,
    )


def _commit(lake: Lake, writer: FlowWriter) -> flows_write.FlowCommit:
    return writer.commit(lambda: lake.table(INSTANCE, "default", SCHEMA.name))


def _rows(lake: Lake) -> list[tuple[str, int]]:
    return sorted((r["id"], r["qty"]) for r in lake.scan(INSTANCE, "default", "items").to_pylist())


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*.parquet")}


def test_an_execution_of_no_sequence_is_recognised_by_its_id(lake: Lake) -> None:
    writer = _writer(lake, "job-1")
    writer.add(pa.table({"id": ["a", "b"], "qty": [1, 2]}))
    assert _commit(lake, writer).rows_added == 2
    table = lake.table(INSTANCE, "default", "items")
    assert execution_committed(table, "job-1") and not execution_committed(table, "job-2")
    assert not any(k.startswith("supplylake.flow-seq.") for k in table.properties)
    again = _writer(lake, "job-1")
    again.add(pa.table({"id": ["a"], "qty": [9]}))
    assert _commit(lake, again).already
    assert _rows(lake) == [("a", 1), ("b", 2)]


def test_a_commit_whose_outcome_is_unknown_keeps_its_files(
    lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = flows_write._commit

    def lost_answer(*args: Any) -> int:
        real(*args)
        raise OSError(104, "Connection reset by peer")  # it landed; the caller cannot know

    monkeypatch.setattr(flows_write, "_commit", lost_answer)
    writer = _writer(lake, "job-1")
    writer.add(pa.table({"id": ["a", "b"], "qty": [1, 2]}))
    with pytest.raises(OSError):
        _commit(lake, writer)
    assert _rows(lake) == [("a", 1), ("b", 2)], "the table's files were not deleted"


def test_a_refused_commit_leaves_no_file_behind(
    lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _writer(lake, "job-1")
    first.add(pa.table({"id": ["a", "b"], "qty": [1, 2]}))
    _commit(lake, first)
    before = _files(tmp_path)

    def refused(*args: Any) -> int:
        raise flows_write.CommitFailedException("another commit got in first")

    monkeypatch.setattr(flows_write, "_commit", refused)
    monkeypatch.setattr("supplylake.lake.write.time.sleep", lambda _: None)
    writer = _writer(lake, "job-2")
    writer.add(pa.table({"id": ["a"], "qty": [5]}))
    with pytest.raises(Exception, match="another commit got in first"):
        _commit(lake, writer)
    assert _files(tmp_path) == before, "staged data files and delete files are removed"


def test_keys_given_twice_across_look_up_chunks_replace_their_row_once(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flows_keys, "KEY_CHUNK", 1)
    monkeypatch.setattr(flows_keys, "BULK_SHARE", 0)  # the key index, one key at a time
    first = _writer(lake, "job-1")
    first.add(pa.table({"id": ["a", "b", "c"], "qty": [1, 2, 3]}))
    _commit(lake, first)
    writer = _writer(lake, "job-2")
    writer.add(pa.table({"id": ["a", "b", "a"], "qty": [7, 8, 9]}))
    assert _commit(lake, writer).rows_removed == 2
    assert _rows(lake) == [("a", 7), ("a", 9), ("b", 8), ("c", 3)]
