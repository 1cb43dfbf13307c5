"""A real server filled by ``supplylake demo``, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from supplylake.testing import ServerHandle, running_server
from tests.integration.helpers import active_instance

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must install it: see .ci/run)")
    pytest.skip(reason)


@dataclass
class Demo:
    server: ServerHandle
    instance_id: str
    other_instance_id: str

    @property
    def console(self) -> str:
        return f"{self.server.endpoint}/console"

    def url(self, path: str, instance_id: str | None = None) -> str:
        return f"{self.console}/instances/{instance_id or self.instance_id}/{path}"


def keys_create(server: ServerHandle, *args: str) -> tuple[str, str]:
    return server.create_key(*args)


@pytest.fixture(scope="session")
def demo() -> Iterator[Demo]:
    """One server, filled by a short run of ``supplylake demo`` through its API."""
    with running_server() as server:
        env = server.cli_env()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "supplylake",
                "demo",
                "--endpoint",
                server.endpoint,
                "--access-key-id",
                server.access_key_id,
                "--secret-access-key",
                server.secret_access_key,
                "--duration",
                "8",
                "--seed",
                "11",
                "--instance-name",
                "console-demo",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=240,
        )
        assert result.returncode == 0, result.stderr + result.stdout
        client = server.client()
        found = [
            i["instanceId"]
            for i in client.list_instances()["instances"]
            if i.get("instanceName") == "console-demo"
        ]
        assert len(found) == 1, found
        other = active_instance(client, "other-team")
        yield Demo(server, found[0], other)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Chromium for the console's tests. Playwright's sync API runs an event loop on this thread
    while it is open, so it closes with this package: later tests use asyncio.run()."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (uv pip install playwright)")
    if not Path(CHROMIUM).exists():
        _unavailable(f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) with a laptop-sized page."""
    context = browser.new_context(viewport=LAPTOP, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture(scope="session")
def shots_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: SUPPLYLAKE_SCREENSHOTS (docs/console to refresh the docs) or a temp dir."""
    target = os.environ.get("SUPPLYLAKE_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path
