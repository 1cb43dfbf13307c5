"""End to end: events sent with boto3 become rows in Iceberg tables, read by pyiceberg and DuckDB."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from supplylake.testing import ServerHandle
from tests.integration.helpers import active_instance, query_lake, run_query, wait_loaded

TS = {"name": "at", "type": "TIMESTAMP", "isRequired": False}
ORDERS = {
    "name": "Orders",
    "fields": [
        {"name": "id", "type": "STRING", "isRequired": True},
        {"name": "site", "type": "STRING", "isRequired": False},
        {"name": "qty", "type": "INT", "isRequired": False},
        TS,
    ],
    "primaryKeys": [{"name": "id"}],
}


@pytest.fixture(scope="module")
def lake_env(supplylake_server: ServerHandle) -> dict[str, Any]:
    c = supplylake_server.client()
    iid = active_instance(c, "loader")
    arns = {}
    for name, spec in [
        ("plain", None),
        ("by_day", {"fields": [{"name": "at", "transform": {"type": "DAY"}}]}),
        ("by_site", {"fields": [{"name": "site", "transform": {"type": "IDENTITY"}}]}),
    ]:
        kw = {"partitionSpec": spec} if spec else {}
        arns[name] = c.create_data_lake_dataset(
            instanceId=iid, namespace="default", name=name, schema=ORDERS, **kw
        )["dataset"]["arn"]
    return {"client": c, "iid": iid, "arns": arns, "server": supplylake_server}


def _send(env: dict[str, Any], dataset: str, op: str, records: Any, group: str = "g") -> str:
    return str(
        env["client"].send_data_integration_event(
            instanceId=env["iid"],
            eventType="scn.data.dataset",
            eventGroupId=group,
            data=json.dumps(records),
            datasetTarget={"datasetIdentifier": env["arns"][dataset], "operationType": op},
        )["eventId"]
    )


def _wait(env: dict[str, Any], event_ids: list[str], timeout: float = 30) -> list[dict[str, Any]]:
    return wait_loaded(env["client"], env["iid"], event_ids, timeout)


def _query(env: dict[str, Any], sql: str) -> list[dict[str, Any]]:
    return query_lake(env["server"], env["iid"], sql)


def test_upsert_delete_append_in_order(lake_env: dict[str, Any]) -> None:
    e = lake_env
    ids = [
        _send(
            e,
            "plain",
            "UPSERT",
            [{"id": "a", "qty": 1}, {"id": "b", "qty": 2}, {"id": "a", "qty": 5}],
        ),
        _send(e, "plain", "UPSERT", {"id": "b", "qty": 3}, group="other"),
        _send(e, "plain", "APPEND", [{"id": "c", "qty": 1}, {"id": "c", "qty": 2}]),
        _send(e, "plain", "UPSERT", {"id": "d", "qty": 4}),
        _send(e, "plain", "DELETE", {"id": "d"}),
        _send(e, "plain", "UPSERT", {"id": "c", "qty": 9}),  # the duplicates of c collapse to one
    ]
    assert all(x["status"] == "SUCCEEDED" for x in _wait(e, ids))
    rows = _query(e, "SELECT id, qty FROM default.plain ORDER BY id")
    assert rows == [{"id": "a", "qty": 5}, {"id": "b", "qty": 3}, {"id": "c", "qty": 9}]


def test_partitioned_datasets_and_null_partition(lake_env: dict[str, Any]) -> None:
    e = lake_env
    ids = [
        _send(
            e,
            "by_day",
            "UPSERT",
            [{"id": "x", "at": "2026-01-01T10:00:00Z", "qty": 1}, {"id": "y", "qty": 2}],
        ),  # y: null partition
        _send(e, "by_day", "UPSERT", {"id": "y", "qty": 3}),
        _send(e, "by_site", "APPEND", [{"id": "1", "site": "north"}, {"id": "2"}]),
        _send(e, "by_site", "DELETE", {"id": "1", "site": "north"}),
    ]
    assert all(x["status"] == "SUCCEEDED" for x in _wait(e, ids))
    assert _query(e, "SELECT id, qty FROM default.by_day ORDER BY id") == [
        {"id": "x", "qty": 1},
        {"id": "y", "qty": 3},
    ]
    assert _query(e, "SELECT id, site FROM default.by_site") == [{"id": "2", "site": None}]


def test_asc_events_fill_connection_id(lake_env: dict[str, Any]) -> None:
    e = lake_env
    c = e["client"]
    eids = [
        c.send_data_integration_event(
            instanceId=e["iid"],
            eventType="scn.data.inboundorder",
            eventGroupId=f"po{i}",
            data=json.dumps({"id": f"po{i % 2}", "tpartner_id": "acme", "order_type": f"T{i}"}),
        )["eventId"]
        for i in range(4)
    ]
    assert all(x["status"] == "SUCCEEDED" for x in _wait(e, eids))
    rows = _query(e, "SELECT id, order_type, connection_id FROM asc.inbound_order ORDER BY id")
    assert rows == [
        {"id": "po0", "order_type": "T2", "connection_id": "supplylake:SendDataIntegrationEvent"},
        {"id": "po1", "order_type": "T3", "connection_id": "supplylake:SendDataIntegrationEvent"},
    ]


def test_many_groups_concurrently(lake_env: dict[str, Any]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    e = lake_env

    def group(g: int) -> list[str]:
        return [
            _send(e, "plain", "UPSERT", {"id": f"k{g}", "qty": n}, group=f"grp{g}")
            for n in range(5)
        ]

    with ThreadPoolExecutor(4) as pool:
        ids = [eid for chunk in pool.map(group, range(8)) for eid in chunk]
    assert all(x["status"] == "SUCCEEDED" for x in _wait(e, ids))
    rows = _query(e, "SELECT id, qty FROM default.plain WHERE id LIKE 'k%'")
    # Each group's events were applied in the order sent: its last UPSERT wins.
    assert Counter((r["id"], r["qty"]) for r in rows) == Counter((f"k{g}", 4) for g in range(8))


def test_event_fails_when_dataset_deleted_and_later_events_go_on(lake_env: dict[str, Any]) -> None:
    e = lake_env
    c = e["client"]
    arn = c.create_data_lake_dataset(
        instanceId=e["iid"], namespace="default", name="doomed", schema=ORDERS
    )["dataset"]["arn"]
    e["arns"]["doomed"] = arn
    server: ServerHandle = e["server"]
    # Stop the loader from racing the delete: send, delete at once, then look.
    first = _send(e, "doomed", "UPSERT", {"id": "z"})
    c.delete_data_lake_dataset(instanceId=e["iid"], namespace="default", name="doomed")
    after = _send(e, "plain", "UPSERT", {"id": "after", "qty": 1})
    loads = _wait(e, [first, after])
    assert loads[1]["status"] == "SUCCEEDED"
    if loads[0]["status"] == "FAILED":  # the loader may have applied it before the delete
        assert "deleted" in loads[0]["message"]
    assert server.process is not None and server.process.poll() is None


def test_query_errors_say_what_to_do(lake_env: dict[str, Any]) -> None:
    out = run_query(lake_env["server"], lake_env["iid"], "SELECT * FROM default.nope")
    assert out.returncode == 1 and "nope" in out.stderr


def test_query_formats(lake_env: dict[str, Any], tmp_path: Any) -> None:
    import pyarrow.parquet as pq

    s: ServerHandle = lake_env["server"]
    sql = "SELECT 1 AS one, 'x' AS two"
    csv_out = run_query(s, lake_env["iid"], "--format", "csv", sql)
    assert csv_out.returncode == 0, csv_out.stderr
    assert csv_out.stdout.splitlines() == ["one,two", "1,x"]
    target = tmp_path / "out.parquet"
    written = run_query(s, lake_env["iid"], "--format", "parquet", "--output", str(target), sql)
    assert written.returncode == 0, written.stderr
    assert pq.read_table(target).to_pylist() == [{"one": 1, "two": "x"}]


def test_python_api_returns_arrow(lake_env: dict[str, Any]) -> None:
    from supplylake.lake import query, read_dataset

    e = lake_env
    _wait(e, [_send(e, "plain", "UPSERT", {"id": "api", "qty": 7})])
    data_dir = e["server"].data_dir
    table = read_dataset(e["iid"], "default", "plain", data_dir=data_dir, row_filter="id == 'api'")
    assert table.select(["id", "qty"]).to_pylist() == [{"id": "api", "qty": 7}]
    result = query(e["iid"], "SELECT qty FROM default.plain WHERE id = 'api'", data_dir=data_dir)
    assert result.to_pylist() == [{"qty": 7}]
