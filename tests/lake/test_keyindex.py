"""The key index: built when first needed, stored per data file, rebuilt when lost or damaged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from supplylake.lake import Change, Lake, deletes, keyindex, write
from supplylake.lake.live import live_files
from supplylake.schema.types import DatasetSchema, Field, FieldType, Operation

from .conftest import INSTANCE
from .rows import canonical, table

LINES = DatasetSchema(
    "lines",
    (
        Field("order_id", FieldType.STRING, required=True),
        Field("line", FieldType.INT, required=True),
        Field("qty", FieldType.LONG),
    ),
    primary_keys=("order_id", "line"),
)


def apply(lake: Lake, position: int, op: Operation, rows: list[dict[str, Any]]) -> Any:
    change = Change(op, table(LINES, rows))
    return lake.apply_batch(INSTANCE, "default", LINES, [change], position)


def index_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "warehouse").rglob("keys/*.keys"))


def new_process() -> None:
    """Forget what this process cached, as a restarted loader would."""
    keyindex.forget_cached()
    deletes.forget_cached()


@pytest.fixture
def lines(lake: Lake) -> Lake:
    lake.create_table(INSTANCE, "default", LINES)
    apply(
        lake,
        1,
        Operation.APPEND,
        [{"order_id": f"o{i}", "line": j, "qty": 0} for i in range(50) for j in (1, 2)],
    )
    apply(lake, 2, Operation.APPEND, [{"order_id": "o1", "line": 1, "qty": 1}])
    return lake


def expected(changed: dict[tuple[str, int], int | None]) -> list[tuple[Any, ...]]:
    """The fixture's rows (one key twice) after `changed` keys were upserted (or deleted: None)."""
    rows = [{"order_id": f"o{i}", "line": j, "qty": 0} for i in range(50) for j in (1, 2)]
    rows.append({"order_id": "o1", "line": 1, "qty": 1})
    rows = [r for r in rows if (r["order_id"], r["line"]) not in changed]
    rows += [{"order_id": o, "line": j, "qty": q} for (o, j), q in changed.items() if q is not None]
    return canonical(rows)


def test_small_new_files_are_indexed_in_memory_and_stored_when_searched(
    lines: Lake, tmp_path: Path
) -> None:
    table = lines.table(INSTANCE, "default", "lines")
    data_files = [f for files in live_files(table).data.values() for f in files]
    assert all(keyindex.is_cached(f.file_path, LINES.primary_keys) for f in data_files)
    assert index_files(tmp_path) == []  # held in memory only
    new_process()
    apply(lines, 3, Operation.UPSERT, [{"order_id": "o1", "line": 1, "qty": 7}])
    assert len(index_files(tmp_path)) == 2  # both searched files; the upsert's new one is held
    assert canonical(lines.scan(INSTANCE, "default", "lines")) == expected({("o1", 1): 7})


def test_a_larger_new_file_has_its_index_stored_as_written(
    lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(write, "_HELD_ONLY", 10)
    lake.create_table(INSTANCE, "default", LINES)
    apply(lake, 1, Operation.APPEND, [{"order_id": f"o{i}", "line": 1} for i in range(11)])
    apply(lake, 2, Operation.APPEND, [{"order_id": "o99", "line": 1}])
    assert len(index_files(tmp_path)) == 1  # the 11-row file's; the 1-row file's is held


@pytest.mark.parametrize("damage", ["delete", "truncate", "garbage", "flip"])
def test_a_lost_or_damaged_index_is_rebuilt_from_the_data_files(
    lines: Lake, tmp_path: Path, damage: str
) -> None:
    new_process()  # so that the upsert's search stores the files' indexes
    apply(lines, 3, Operation.UPSERT, [{"order_id": "o1", "line": 1, "qty": 7}])
    assert index_files(tmp_path)
    for path in index_files(tmp_path):
        data = path.read_bytes()
        if damage == "delete":
            path.unlink()
        elif damage == "truncate":
            path.write_bytes(data[: len(data) // 2])
        elif damage == "garbage":
            path.write_bytes(b"not an index" * 10)
        else:  # one bit of a digest: only the checksum notices
            middle = len(data) // 2
            path.write_bytes(data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :])
    new_process()

    apply(
        lines,
        4,
        Operation.UPSERT,
        [{"order_id": "o1", "line": 1, "qty": 8}, {"order_id": "o9", "line": 2, "qty": 3}],
    )
    apply(lines, 5, Operation.DELETE, [{"order_id": "o4", "line": 1}])

    assert canonical(lines.scan(INSTANCE, "default", "lines")) == expected(
        {("o1", 1): 8, ("o9", 2): 3, ("o4", 1): None}
    )
    assert len(index_files(tmp_path)) >= 2


def test_an_index_for_other_key_columns_is_not_used(lines: Lake, tmp_path: Path) -> None:
    apply(lines, 3, Operation.DELETE, [{"order_id": "o2", "line": 2}])
    tbl = lines.table(INSTANCE, "default", "lines")
    data_file = next(iter(tbl.scan().plan_files())).file
    path = keyindex.segment_path(tbl.location(), data_file.file_path)
    rows = tbl.scan(selected_fields=("order_id",)).to_arrow().slice(0, 0)
    keyindex.store_segment(tbl, data_file.file_path, rows, ["order_id"])  # wrong columns, no rows
    assert Path(path[len("file://") :]).exists()
    new_process()

    apply(lines, 4, Operation.DELETE, [{"order_id": "o3", "line": 1}])

    assert canonical(lines.scan(INSTANCE, "default", "lines")) == expected(
        {("o2", 2): None, ("o3", 1): None}
    )


def test_compaction_indexes_the_files_it_writes_and_expiry_drops_old_indexes(
    lines: Lake, tmp_path: Path
) -> None:
    apply(lines, 3, Operation.UPSERT, [{"order_id": "o1", "line": 1, "qty": 7}])
    old = set(index_files(tmp_path))

    result = lines.compact(INSTANCE, "default", "lines")
    assert result.files_after == 1
    written = set(index_files(tmp_path)) - old
    assert len(written) == 1

    lines.expire_snapshots(INSTANCE, "default", "lines")
    assert set(index_files(tmp_path)) == written
    new_process()
    apply(lines, 4, Operation.DELETE, [{"order_id": "o1", "line": 1}])
    assert set(index_files(tmp_path)) == written  # the compacted file's index was used
    assert canonical(lines.scan(INSTANCE, "default", "lines")) == expected({("o1", 1): None})


def test_the_index_made_at_write_is_the_one_built_from_the_file(
    lines: Lake, tmp_path: Path
) -> None:
    """A new file's keys are indexed from the rows as they are written, not read back."""
    table = lines.table(INSTANCE, "default", "lines")
    data_files = [f for files in live_files(table).data.values() for f in files]
    assert len(data_files) == 2
    assert all(keyindex.is_cached(f.file_path, LINES.primary_keys) for f in data_files)
    kept = {f.file_path: keyindex.segment_for(table, f, LINES.primary_keys) for f in data_files}
    for path in index_files(tmp_path):
        path.unlink()
    new_process()
    for f in data_files:
        built = keyindex.segment_for(table, f, LINES.primary_keys)
        assert kept[f.file_path].table.equals(built.table)
