"""The console's flow pages over HTTP on a real server: the list, a flow's sources, SQL and
target, its executions with rows and a failed one's message, the live JSON, and the grant."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from supplylake.testing import ServerHandle, running_server
from tests.console.test_signout import COOKIE, _open
from tests.integration.helpers import active_instance, put_in_bucket, s3_sql_flow, wait_executions

SCHEMA = {
    "name": "Orders",
    "fields": [
        {"name": "id", "type": "STRING", "isRequired": True},
        {"name": "qty", "type": "INT", "isRequired": False},
    ],
    "primaryKeys": [{"name": "id"}],
}
QUERY = "SELECT id, qty FROM orders WHERE id <> 'skip'"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with running_server(tmp_path_factory.mktemp("console-flows")) as server:
        yield server


def _sign_in(server: ServerHandle, key_id: str, secret: str) -> dict[str, str]:
    console = f"{server.endpoint}/console"
    cookies: dict[str, str] = {}
    status, page = _open(f"{console}/sign-in", cookies)
    assert status == 200
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    form = {"csrf": csrf, "next": "/console/", "access_key_id": key_id, "secret_access_key": secret}
    status, _ = _open(f"{console}/sign-in", cookies, form)
    assert status == 303 and COOKIE in cookies
    return cookies


def _flow(server: ServerHandle, client: Any, instance_id: str, name: str) -> None:
    client.create_data_lake_dataset(
        instanceId=instance_id, namespace="default", name="orders", schema=SCHEMA
    )
    flow = s3_sql_flow(
        server,
        instance_id,
        source="orders",
        prefix="in",
        query=QUERY,
        dataset="orders",
        options={"loadType": "INCREMENTAL"},
    )
    client.create_data_integration_flow(name=name, **flow)


def test_flow_pages_show_the_flow_and_its_executions(server: ServerHandle, tmp_path: Path) -> None:
    client = server.client()
    iid = active_instance(client, "console-flows")
    _flow(server, client, iid, "orders-in")
    cookies = _sign_in(server, server.access_key_id, server.secret_access_key)
    base = f"{server.endpoint}/console/instances/{iid}"

    status, page = _open(f"{base}/flows", cookies)
    assert status == 200
    assert 'aria-current="page">Flows<' in page
    assert f'href="/console/instances/{iid}/flows/orders-in"' in page
    assert "none yet" in page

    put_in_bucket(server, iid, "in/good.csv", "id,qty\na,1\nskip,5\nb,2\n", tmp_path)
    wait_executions(client, iid, "orders-in", 1)
    put_in_bucket(server, iid, "in/bad.csv", "id,qty\nc,3\nd,many\n", tmp_path)
    api = wait_executions(client, iid, "orders-in", 2)
    assert [e["status"] for e in api] == ["FAILED", "SUCCEEDED"], [e.get("message") for e in api]

    status, page = _open(f"{base}/flows/orders-in", cookies)
    assert status == 200
    assert f"s3://aws-supply-chain-data-{iid}/in" in page  # the source
    assert "SELECT id, qty FROM orders WHERE id &lt;&gt; &#39;skip&#39;" in page
    assert ">default.orders<" in page and "load type INCREMENTAL" in page  # the target
    assert page.index(api[0]["executionId"]) < page.index(api[1]["executionId"])  # newest first
    assert f"s3://aws-supply-chain-data-{iid}/in/good.csv" in page
    assert "3 / 2 / 0" in page  # read, written (one filtered out by the SQL), rejected
    failed = api[0]["message"]
    assert "bad.csv" in failed and "many" in failed
    assert failed.replace("'", "&#39;").replace('"', "&#34;")[:60] in page
    assert "flows.js" in page and "data-live-url" in page

    status, body = _open(f"{base}/flows/orders-in/executions.json", cookies)
    assert status == 200
    rows = orjson.loads(body)["executions"]
    assert [r["id"] for r in rows] == [e["executionId"] for e in api]
    assert rows[0]["state"] == "FAILED" and rows[0]["message"] == failed
    assert (rows[1]["rows_read"], rows[1]["rows_written"], rows[1]["rows_rejected"]) == (3, 2, 0)
    assert rows[1]["end"] and rows[1]["source"].endswith("/in/good.csv")

    status, page = _open(f"{base}/flows", cookies)
    assert status == 200 and "FAILED" in page  # the newest execution of each flow

    status, page = _open(f"{base}/flows/no-such-flow", cookies)
    assert status == 404 and "no-such-flow does not exist" in page
    status, body = _open(f"{base}/flows/no-such-flow/executions.json", cookies)
    assert status == 404 and orjson.loads(body)["code"] == "ResourceNotFoundException"


def test_flow_pages_need_the_grant_and_a_session(server: ServerHandle) -> None:
    client = server.client()
    iid = active_instance(client, "console-flows-grant")
    _flow(server, client, iid, "guarded")
    base = f"{server.endpoint}/console/instances/{iid}"

    status, body = _open(f"{base}/flows/guarded/executions.json", {})
    assert status == 401 and orjson.loads(body)["code"] == "SignedOut"
    status, _ = _open(f"{base}/flows", {})
    assert status == 303  # to the sign-in page

    key_id, secret = server.create_key("--actions", "scn:ListDataIntegrationFlows")
    cookies = _sign_in(server, key_id, secret)
    status, page = _open(f"{base}/flows", cookies)
    assert status == 200 and "guarded" in page
    status, page = _open(f"{base}/flows/guarded", cookies)
    assert status == 403 and "scn:GetDataIntegrationFlow" in page
    status, body = _open(f"{base}/flows/guarded/executions.json", cookies)
    assert status == 403 and orjson.loads(body)["code"] == "AccessDeniedException"
