"""The console in a real browser: sign-in, the live stream, a failed event, datasets, SQL, charts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from tests.console.conftest import LAPTOP, PHONE, Demo, keys_create


def sign_in(page: Any, demo: Demo, key_id: str | None = None, secret: str | None = None) -> None:
    page.goto(demo.console + "/")
    page.get_by_label("Access key id").fill(key_id or demo.server.access_key_id)
    page.get_by_label("Secret access key").fill(secret or demo.server.secret_access_key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def capture(page: Any, shots: Path, name: str, full_page: bool = True) -> None:
    """Screenshots of the page at laptop and phone widths."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= LAPTOP["width"], f"{name} scrolls sideways at laptop width ({width}px)"
    page.screenshot(path=str(shots / f"{name}-laptop.png"), full_page=full_page)
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)  # let charts follow the new width
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{name} scrolls sideways at phone width ({width}px)"
    page.screenshot(path=str(shots / f"{name}-phone.png"))
    page.set_viewport_size(LAPTOP)


def test_wrong_credentials_are_refused(page: Any, demo: Demo, shots_dir: Path) -> None:
    sign_in(page, demo, secret="not-the-secret-" + "x" * 25)
    assert page.get_by_role("alert").inner_text().startswith("Wrong access key id or secret")
    assert "/sign-in" in page.url
    sign_in(page, demo, key_id="SLAKNOSUCHKEY0000000", secret="whatever")
    assert "Wrong access key id or secret" in page.get_by_role("alert").inner_text()
    page.goto(demo.url("events"))
    assert "/sign-in" in page.url  # no session was made
    page.goto(demo.console + "/sign-in")
    capture(page, shots_dir, "sign-in")


def test_an_event_sent_through_boto3_appears_live(page: Any, demo: Demo, shots_dir: Path) -> None:
    sign_in(page, demo)
    page.get_by_role("link", name="console-demo", exact=True).click()
    assert page.url.endswith(f"/instances/{demo.instance_id}/events")
    page.evaluate("window.__notReloaded = true")
    group = f"LIVE-{uuid.uuid4().hex[:8]}"
    demo.server.client().send_data_integration_event(
        instanceId=demo.instance_id,
        eventType="scn.data.inboundorder",
        eventGroupId=group,
        data=json.dumps({"id": group, "tpartner_id": "acme-components", "order_type": "PO"}),
    )
    row = page.locator("#events tbody tr", has_text=group)
    row.wait_for(timeout=10_000)
    assert page.evaluate("window.__notReloaded") is True
    # It then turns SUCCEEDED once the loader applies it, still without a reload.
    row.locator(".badge", has_text="SUCCEEDED").wait_for(timeout=15_000)
    assert page.evaluate("window.__notReloaded") is True
    capture(page, shots_dir, "events", full_page=False)


def test_event_filters(page: Any, demo: Demo) -> None:
    sign_in(page, demo)
    page.goto(demo.url("events"))
    page.get_by_label("Event type").select_option("scn.data.shipment")
    page.get_by_role("button", name="Apply filters").click()
    types = page.locator("#events tbody .etype").all_inner_texts()
    assert types and set(types) == {"scn.data.shipment"}
    page.goto(demo.url("events?group=PO-000001"))
    groups = page.locator("#events tbody td.group").all_inner_texts()
    assert groups and all("PO-000001" in g for g in groups)


def test_a_failed_event_shows_why(page: Any, demo: Demo, shots_dir: Path) -> None:
    sign_in(page, demo)
    page.goto(demo.url("events"))
    page.get_by_label("Status").select_option("FAILED")
    page.get_by_role("button", name="Apply filters").click()
    statuses = page.locator("#events tbody .badge").all_inner_texts()
    assert statuses and set(statuses) == {"FAILED"}
    page.locator("#events tbody tr").first.get_by_role("link").click()
    message = page.locator("#failure-message").inner_text()
    assert "was deleted after the event was accepted" in message
    assert page.locator("table.records tbody tr").count() == 1
    capture(page, shots_dir, "event-failed")


def test_dataset_page_and_preview_filters(page: Any, demo: Demo, shots_dir: Path) -> None:
    sign_in(page, demo)
    page.goto(demo.url("datasets"))
    row = page.locator("tr", has_text="default.open_purchase_orders")
    assert "day(order_date)" in row.inner_text()
    capture(page, shots_dir, "datasets")
    page.get_by_role("link", name="asc.inbound_order", exact=True).click()
    assert page.locator("#row-count").inner_text() != "0"
    page.get_by_label("Field of condition 1").select_option("order_type")
    page.get_by_label("Value of condition 1").fill("PO")
    page.get_by_role("button", name="Show rows").click()
    assert page.locator("#preview tbody tr").count() > 0
    header = page.locator("#preview thead").inner_text()
    assert "order_status" in header and "incoterm2" not in header  # empty columns hidden
    capture(page, shots_dir, "dataset")
    page.get_by_label("Value of condition 1").fill("NOT-A-TYPE")
    page.get_by_role("button", name="Show rows").click()
    assert page.locator("#preview").count() == 0
    assert page.get_by_role("status").first.inner_text().startswith("0 rows shown")
    page.get_by_label("Value of condition 1").fill("it's")
    page.get_by_role("button", name="Show rows").click()
    assert "cannot contain" in page.get_by_role("alert").inner_text()


def test_sql_results_and_csv_download(page: Any, demo: Demo, shots_dir: Path) -> None:
    sign_in(page, demo)
    page.goto(demo.url("sql"))
    page.get_by_role("button", name="Run query").click()  # the example query
    assert page.locator("#results thead").inner_text().split() == ["order_status", "orders"]
    capture(page, shots_dir, "sql")
    page.get_by_label("Query").fill(
        "SELECT count(*) AS n FROM asc.inbound_order WHERE order_type = 'PO'"
    )
    page.get_by_role("button", name="Run query").click()
    count = int(page.locator("#results tbody td").inner_text())
    assert count > 0
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    download = info.value
    assert download.suggested_filename == "supplylake-query.csv"
    assert Path(download.path()).read_text().splitlines() == ["n", str(count)]
    page.get_by_label("Query").fill("SELECT * FROM asc.no_such_table")
    page.get_by_role("button", name="Run query").click()
    assert "no_such_table" in page.get_by_role("alert").inner_text()


def test_charts_draw_the_last_hour(page: Any, demo: Demo, shots_dir: Path) -> None:
    sign_in(page, demo)
    page.goto(demo.url("charts?window=300"))
    page.locator("#rate-chart canvas").wait_for()
    page.locator("#lag-chart canvas").wait_for()
    assert int(page.locator('#summary dd[data-k="accepted"]').inner_text()) > 0
    assert int(page.locator('#summary dd[data-k="failed"]').inner_text()) >= 1
    capture(page, shots_dir, "charts")


def test_instances_page(page: Any, demo: Demo, shots_dir: Path) -> None:
    sign_in(page, demo)
    assert page.get_by_role("heading", name="Instances").is_visible()
    assert page.get_by_role("link", name="console-demo", exact=True).is_visible()
    capture(page, shots_dir, "instances")


def test_sign_out_ends_the_session(page: Any, demo: Demo, browser: Any) -> None:
    sign_in(page, demo)
    cookies = page.context.cookies()
    session = next(c for c in cookies if c["name"] == "supplylake_console")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert session["secure"] is False  # loopback over http; anywhere else it is Secure
    page.get_by_role("button", name="Sign out").click()
    assert "You are signed out" in page.get_by_role("status").inner_text()
    page.goto(demo.url("events"))
    assert "/sign-in" in page.url
    # The old cookie, replayed, is refused too.
    replay = browser.new_context()
    replay.add_cookies([session])
    other = replay.new_page()
    other.goto(demo.url("events"))
    assert "/sign-in" in other.url
    replay.close()


def test_posts_need_the_csrf_token(page: Any, demo: Demo) -> None:
    sign_in(page, demo)
    response = page.context.request.post(demo.url("sql"), form={"sql": "SELECT 1"})
    assert response.status == 403
    assert "Form refused" in response.text()


def test_a_limited_key_can_do_no_more_than_its_grant(page: Any, demo: Demo) -> None:
    key, secret = keys_create(
        demo.server,
        "--actions",
        "scn:List*,scn:GetDataIntegrationEvent",
        "--instances",
        demo.instance_id,
    )
    sign_in(page, demo, key, secret)
    names = page.locator("table tbody tr td:first-child a").all_inner_texts()
    assert names == ["console-demo"]  # not other-team
    page.goto(demo.url("events"))
    assert page.locator("#events tbody tr").count() > 0
    page.goto(demo.url("events", demo.other_instance_id))
    alert = page.get_by_role("alert").inner_text()
    assert "not authorized to perform: scn:ListDataIntegrationEvents" in alert
    assert demo.other_instance_id in alert
    page.goto(demo.url("sql"))
    assert "scn:GetDataLakeDataset" in page.get_by_role("alert").inner_text()
    response = page.context.request.get(demo.url("events.json", demo.other_instance_id))
    assert response.status == 403 and response.json()["code"] == "AccessDeniedException"


def test_revoking_the_key_ends_its_sessions(page: Any, demo: Demo) -> None:
    key, secret = keys_create(demo.server)
    sign_in(page, demo, key, secret)
    assert re.search(r"/console/$", page.url)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "supplylake",
            "keys",
            "revoke",
            key,
            "--data-dir",
            str(demo.server.data_dir),
        ],
        check=True,
        capture_output=True,
        env=demo.server.cli_env(),
    )
    page.reload()
    assert "/sign-in" in page.url
