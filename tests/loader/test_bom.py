"""Bill-of-materials imports on a real SQLite store and real Iceberg tables: the file is checked
whole, upserted by key in one snapshot, and a job run again commits nothing twice."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from supplylake.config import Settings
from supplylake.lake import Lake, open_lake
from supplylake.lake.bom_write import IMPORT_WRITER, upsert_import
from supplylake.lake.flows_write import EXECUTION_PROPERTY, FLOW_PROPERTY
from supplylake.loader import bom as bom_loader
from supplylake.loader.bom import SUCCESS_MESSAGE, BomImports, connection_id
from supplylake.loader.bom_file import BomFileError, check_file
from supplylake.loader.jobs import Context
from supplylake.loader.loop import Turns
from supplylake.loader.maintenance import DueTables
from supplylake.schema.asc import asc_datasets
from supplylake.states import BomJobStatus
from supplylake.store.base import Store
from supplylake.store.sqlite import SqliteStore
from tests.store.support import ARN, INST, make_instance

BOM = asc_datasets()["product_bom"]
AT = datetime(2026, 3, 1, tzinfo=UTC)
BUCKET = f"aws-supply-chain-data-{INST}"


def _check(text: str, tmp_path: Path, batch_rows: int | None = None) -> list[dict[str, object]]:
    checked = check_file(
        io.BytesIO(text.encode()), "s3://b/k.csv", BOM, "conn", AT, tmp_path, batch_rows=batch_rows
    )
    rows = pa.Table.from_batches(list(checked.batches())).to_pylist()
    checked.path.unlink()
    return rows


def _failure(text: str, tmp_path: Path, batch_rows: int | None = None) -> str:
    with pytest.raises(BomFileError) as caught:
        check_file(
            io.BytesIO(text.encode()),
            "s3://b/k.csv",
            BOM,
            "conn",
            AT,
            tmp_path,
            batch_rows=batch_rows,
        )
    assert not list(tmp_path.glob(".bom-*")), "a bad file leaves no spill behind"
    return caught.value.message


def test_a_good_file_converts_with_the_event_rules_and_fills_service_fields(
    tmp_path: Path,
) -> None:
    rows = _check(
        "id,product_id,component_product_id,component_quantity_per,level,eff_start_date,"
        "alternate_group_id\n"
        "b1,p1,c1,2.5,1,2024-01-02T03:04:05Z,g1\n"
        "\n"
        'b1,p1,c2,"3",,1700000000000,\n',
        tmp_path,
    )
    assert [(r["component_product_id"], r["component_quantity_per"], r["level"]) for r in rows] == [
        ("c1", 2.5, 1),
        ("c2", 3.0, None),
    ]
    assert rows[0]["eff_start_date"] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert rows[1]["eff_start_date"] == datetime.fromtimestamp(1_700_000_000, UTC)
    assert rows[0]["alternate_group_id"] == "g1" and rows[1]["alternate_group_id"] is None
    assert {r["connection_id"] for r in rows} == {"conn"}
    assert {r["db_creation_dttm"] for r in rows} == {AT}


def test_bad_cells_name_their_line_and_column_across_batches(tmp_path: Path) -> None:
    text = (
        "id,product_id,component_product_id,component_quantity_per,level\n"
        "b1,p1,c1,1,1\n"
        '"multi\nline",p1,c2,x,2\n'  # lines 3-4: quantity is no number
        "b1,p1,c3,1,1\n"
        "\n"
        "b1,,c4,1,1.5\n"  # line 7: product_id empty, level no integer
    )
    message = _failure(text, tmp_path, batch_rows=2)
    assert message.startswith("s3://b/k.csv has values that do not fit product_bom")
    assert "line 3, column 'component_quantity_per'" in message
    assert "line 7, column 'product_id': required field is empty" in message
    assert "line 7, column 'level'" in message
    assert "nothing was imported" in message


def test_the_header_is_checked_before_any_row(tmp_path: Path) -> None:
    message = _failure("id,product_id,qty,connection_id\nb1,p1,1,x\n" + "junk\n" * 3, tmp_path)
    assert "line 1 (header)" in message
    assert "column 'qty' is not a field of product_bom" in message
    assert "column 'connection_id' is filled by the service" in message
    assert "required column 'component_product_id' is missing" in message
    assert "required column 'component_quantity_per' is missing" in message


def test_a_header_without_rows_is_refused(tmp_path: Path) -> None:
    message = _failure("id,product_id,component_product_id,component_quantity_per\n", tmp_path)
    assert "has a header row but no rows" in message


@pytest.fixture
def lake(tmp_path: Path) -> Iterator[Lake]:
    lake = open_lake(tmp_path)
    yield lake
    lake.close()


def _source(rows: list[dict[str, object]]) -> pa.Table:
    full = [{"connection_id": "conn", "component_quantity_per": 1.0, **r} for r in rows]
    return pa.Table.from_pylist(full, schema=_schema())


def _schema() -> pa.Schema:
    from supplylake.schema.arrow_types import arrow_schema

    return arrow_schema(BOM)


def _rows(lake: Lake) -> list[tuple[object, ...]]:
    table = lake.scan(INST, "asc", "product_bom")
    cols = ["id", "product_id", "component_product_id", "component_quantity_per"]
    return sorted(tuple(r[c] for c in cols) for r in table.to_pylist())


@pytest.mark.parametrize("lookup", ["key index", "every file's keys"])
def test_an_import_upserts_by_key_in_one_snapshot_and_once_per_job(
    lake: Lake, lookup: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunk = 1 if lookup == "key index" else 1 << 20
    monkeypatch.setattr("supplylake.lake.flows_keys.KEY_CHUNK", chunk)
    # The key index serves while keys * BULK_SHARE < the table's rows.
    monkeypatch.setattr("supplylake.lake.flows_keys.BULK_SHARE", 0 if chunk == 1 else 10**9)
    first = _source(
        [{"id": "b", "product_id": "p", "component_product_id": f"c{i}"} for i in range(3)]
    )
    result = upsert_import(lake, INST, "asc", BOM, lambda: iter(first.to_batches(2)), "job-1")
    assert (result.rows_added, result.rows_removed, result.already) == (3, 0, False)
    second = _source(
        [
            {
                "id": "b",
                "product_id": "p",
                "component_product_id": "c1",
                "component_quantity_per": 5.0,
            },
            {"id": "b", "product_id": "p", "component_product_id": "c9"},
            # The same key twice in a file: the last row wins.
            {
                "id": "b",
                "product_id": "p",
                "component_product_id": "c1",
                "component_quantity_per": 7.0,
            },
        ]
    )
    snapshots = len(lake.table(INST, "asc", "product_bom").snapshots())
    result = upsert_import(
        lake, INST, "asc", BOM, lambda: iter(second.to_batches(1)), "job-2", group_rows=chunk
    )
    assert (result.rows_added, result.rows_removed) == (2, 1)
    table = lake.table(INST, "asc", "product_bom")
    assert len(table.snapshots()) == snapshots + 1
    summary = table.current_snapshot().summary  # type: ignore[union-attr]
    assert (summary[EXECUTION_PROPERTY], summary[FLOW_PROPERTY]) == ("job-2", IMPORT_WRITER)  # type: ignore[index]
    assert _rows(lake) == [
        ("b", "p", "c0", 1.0),
        ("b", "p", "c1", 7.0),
        ("b", "p", "c2", 1.0),
        ("b", "p", "c9", 1.0),
    ]
    again = upsert_import(lake, INST, "asc", BOM, lambda: iter(second.to_batches(1)), "job-2")
    assert again.already and again.rows_added == 0
    assert len(lake.table(INST, "asc", "product_bom").snapshots()) == snapshots + 1
    assert len(_rows(lake)) == 4
    # Rows a delete file already removed are not replaced twice.
    third = _source(
        [{"id": "b", "product_id": "p", "component_product_id": c} for c in ("c1", "c2")]
    )
    result = upsert_import(lake, INST, "asc", BOM, lambda: iter(third.to_batches()), "job-3")
    assert (result.rows_added, result.rows_removed) == (2, 2)
    assert _rows(lake) == [
        ("b", "p", "c0", 1.0),
        ("b", "p", "c1", 1.0),
        ("b", "p", "c2", 1.0),
        ("b", "p", "c9", 1.0),
    ]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = SqliteStore(tmp_path / "store.db")
    store.create_instance(make_instance(), {}, ARN, None)
    yield store
    store.close()


def _job_context(tmp_path: Path, store: Store, lake: Lake) -> Context:
    settings = Settings(data_dir=tmp_path)
    return Context(settings, store, lake, DueTables(5.0), Turns())


def _put(tmp_path: Path, key: str, text: str) -> str:
    path = tmp_path / "buckets" / BUCKET / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return f"s3://{BUCKET}/{key}"


def test_the_job_runs_an_instance_s_jobs_in_order_and_reruns_one_left_in_progress(
    tmp_path: Path, store: Store, lake: Lake
) -> None:
    header = "id,product_id,component_product_id,component_quantity_per\n"
    good = _put(tmp_path, "bom/a.csv", header + "b,p,c1,1\nb,p,c2,2\n")
    bad = _put(tmp_path, "bom/b.csv", header + "b,p,c3,lots\n")
    later = _put(tmp_path, "bom/c.csv", header + "b,p,c1,9\n")
    for n, uri in enumerate([good, bad, later, f"s3://{BUCKET}/bom/missing.csv"]):
        store.create_bom_job(INST, f"job-{n}", uri, f"t{n}", "h", AT)
    # A loader that died mid-job left job-0 started; the lease's next holder runs it again.
    store.start_bom_job("job-0", AT)
    job = BomImports(_job_context(tmp_path, store, lake))
    try:
        assert job.run_once() == 3 + 1  # three NEW queued, one run
        assert store.get_bom_job(INST, "job-0").status == BomJobStatus.SUCCESS  # type: ignore[union-attr]
        assert store.get_bom_job(INST, "job-1").status == BomJobStatus.QUEUED  # type: ignore[union-attr]
        while job.run_once():
            pass
    finally:
        job.close()
    done = {j.job_id: j for j in store.list_bom_jobs(INST, None, 10)}
    assert done["job-0"].message == SUCCESS_MESSAGE
    assert done["job-1"].status == BomJobStatus.FAILED
    assert "line 2, column 'component_quantity_per'" in (done["job-1"].message or "")
    assert done["job-2"].status == BomJobStatus.SUCCESS
    assert done["job-3"].status == BomJobStatus.FAILED
    assert done["job-3"].message == f"s3://{BUCKET}/bom/missing.csv does not exist."
    assert _rows(lake) == [("b", "p", "c1", 9.0), ("b", "p", "c2", 2.0)]
    table = lake.scan(INST, "asc", "product_bom").to_pylist()
    assert {r["connection_id"] for r in table} == {connection_id("job-0"), connection_id("job-2")}
    assert not list(tmp_path.glob(".bom-*")), "spill files are removed"


def test_a_job_whose_commit_landed_before_its_loader_died_commits_nothing_again(
    tmp_path: Path, store: Store, lake: Lake
) -> None:
    uri = _put(
        tmp_path,
        "bom/a.csv",
        "id,product_id,component_product_id,component_quantity_per\nb,p,c,1\n",
    )
    store.create_bom_job(INST, "job-0", uri, "t", "h", AT)
    job = BomImports(_job_context(tmp_path, store, lake))
    try:
        job.run_once()
        snapshots = len(lake.table(INST, "asc", "product_bom").snapshots())
        # As if the loader died after the commit, before recording the outcome.
        store._write(  # type: ignore[attr-defined]
            lambda c: c.execute("UPDATE sl_bom_jobs SET status = 'IN_PROGRESS'")
        )
        job.run_once()
    finally:
        job.close()
    assert store.get_bom_job(INST, "job-0").status == BomJobStatus.SUCCESS  # type: ignore[union-attr]
    assert len(lake.table(INST, "asc", "product_bom").snapshots()) == snapshots
    assert _rows(lake) == [("b", "p", "c", 1.0)]


def test_a_fault_outside_the_file_is_tried_again_before_the_job_fails(
    tmp_path: Path, store: Store, lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = "id,product_id,component_product_id,component_quantity_per\n"
    uri = _put(tmp_path, "bom/a.csv", header + "b,p,c,1\n")
    store.create_bom_job(INST, "flaky", uri, "t1", "h", AT)
    store.create_bom_job(INST, "broken", uri, "t2", "h", AT)
    real = bom_loader.upsert_import
    faults = {"flaky": 2, "broken": 99}

    def faulty(*args: object, **kwargs: object) -> object:
        job_id = str(args[5])
        if faults[job_id] > 0:
            faults[job_id] -= 1
            raise OSError(5, "Input/output error")  # the warehouse's disk, say
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bom_loader, "upsert_import", faulty)
    monkeypatch.setattr(bom_loader, "_RETRY_SECONDS", 0.0)
    job = BomImports(_job_context(tmp_path, store, lake))
    try:
        for _ in range(10):
            job.run_once()
    finally:
        job.close()
    flaky, broken = store.get_bom_job(INST, "flaky"), store.get_bom_job(INST, "broken")
    assert flaky is not None and flaky.status == BomJobStatus.SUCCESS
    assert broken is not None and broken.status == BomJobStatus.FAILED
    assert broken.message is not None and "OSError" in broken.message
    assert faults["broken"] == 99 - 3
