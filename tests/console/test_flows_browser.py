"""A flow's page in a real browser: reached from the Flows tab, executions appear live."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.console.conftest import Demo
from tests.console.test_browser import capture, sign_in
from tests.console.test_flows import _flow
from tests.integration.helpers import put_in_bucket


def test_a_copied_file_appears_live_on_the_flow_page(
    page: Any, demo: Demo, shots_dir: Path, tmp_path: Path
) -> None:
    _flow(demo.server, demo.server.client(), demo.instance_id, "orders-live")
    sign_in(page, demo)
    page.goto(demo.url("events"))
    page.get_by_role("link", name="Flows", exact=True).click()
    assert page.url.endswith(f"/instances/{demo.instance_id}/flows")
    page.get_by_role("link", name="orders-live").click()
    assert "SELECT id, qty FROM orders" in page.locator("#flow-sql").inner_text()
    page.evaluate("window.__notReloaded = true")

    put_in_bucket(demo.server, demo.instance_id, "in/live.csv", "id,qty\nx,1\ny,2\n", tmp_path)
    row = page.locator("#executions tbody tr", has_text="in/live.csv")
    row.locator(".badge", has_text="SUCCEEDED").wait_for(timeout=30_000)
    assert "2 / 2 / 0" in row.inner_text()
    assert page.evaluate("window.__notReloaded") is True
    capture(page, shots_dir, "flow")
