"""Numbers sent as JSON strings and timestamps as epoch milliseconds, as AWS's examples send
them, are stored typed; what the rules refuse is refused at send time, naming record and field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from supplylake.testing import ServerHandle
from tests.integration.helpers import (
    active_instance,
    error_code,
    error_message,
    query_lake,
    wait_loaded,
)

_FIELDS = {
    "quantity_submitted": "DOUBLE",
    "lines": "INT",
    "seq": "LONG",
    "snapshot_date": "TIMESTAMP",
}
SCHEMA = {
    "name": "Receipts",
    "fields": [{"name": "id", "type": "STRING", "isRequired": True}]
    + [{"name": n, "type": t, "isRequired": False} for n, t in _FIELDS.items()],
    "primaryKeys": [{"name": "id"}],
}


@pytest.fixture(scope="module")
def env(supplylake_server: ServerHandle) -> dict[str, Any]:
    c = supplylake_server.client()
    iid = active_instance(c, "encodings")
    arn = c.create_data_lake_dataset(
        instanceId=iid, namespace="default", name="receipts", schema=SCHEMA
    )["dataset"]["arn"]
    return {"client": c, "iid": iid, "arn": arn, "server": supplylake_server}


def _send(env: dict[str, Any], records: Any) -> str:
    return str(
        env["client"].send_data_integration_event(
            instanceId=env["iid"],
            eventType="scn.data.dataset",
            eventGroupId="g",
            data=json.dumps(records),
            datasetTarget={"datasetIdentifier": env["arn"], "operationType": "UPSERT"},
        )["eventId"]
    )


def test_string_numbers_and_epoch_milliseconds_are_stored_typed(env: dict[str, Any]) -> None:
    ids = [
        # As AWS's own examples spell them.
        _send(
            env,
            {
                "id": "a",
                "quantity_submitted": "100.0",
                "lines": "3",
                "seq": "7",
                "snapshot_date": "1672470400000",
            },
        ),
        # The same values as JSON numbers and ISO text, and an epoch as a JSON integer.
        _send(
            env,
            [
                {
                    "id": "b",
                    "quantity_submitted": 100.0,
                    "lines": 3,
                    "seq": 7,
                    "snapshot_date": "2022-12-31T07:06:40Z",
                },
                {"id": "c", "quantity_submitted": "2.5e1", "snapshot_date": 1672470400001},
            ],
        ),
    ]
    loads = wait_loaded(env["client"], env["iid"], ids, timeout=60)
    assert [x["status"] for x in loads] == ["SUCCEEDED", "SUCCEEDED"]
    rows = query_lake(
        env["server"],
        env["iid"],
        "SELECT id, quantity_submitted, lines, seq, epoch_ms(snapshot_date) AS ms "
        "FROM default.receipts ORDER BY id",
    )
    assert rows == [
        {"id": "a", "quantity_submitted": 100.0, "lines": 3, "seq": 7, "ms": 1672470400000},
        {"id": "b", "quantity_submitted": 100.0, "lines": 3, "seq": 7, "ms": 1672470400000},
        {"id": "c", "quantity_submitted": 25.0, "lines": None, "seq": None, "ms": 1672470400001},
    ]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("lines", "2.5", "expected an INT"),
        ("quantity_submitted", True, "expected a DOUBLE"),
        ("quantity_submitted", "NaN", "expected a DOUBLE"),
        ("quantity_submitted", "1e400", "expected a DOUBLE"),
        ("snapshot_date", "yesterday", "expected a TIMESTAMP"),
        ("snapshot_date", 1.5, "expected a TIMESTAMP"),
    ],
)
def test_what_the_rules_refuse_is_refused_naming_record_and_field(
    env: dict[str, Any], field: str, value: Any, expected: str
) -> None:
    with pytest.raises(ClientError) as info:
        _send(env, [{"id": "ok"}, {"id": "x", field: value}])
    assert error_code(info) == "ValidationException"
    assert error_message(info).startswith(f"Invalid data: record 1, field '{field}': {expected}")
