"""The pytest plugin as a project that installs supplylake gets it: by the package's entry point,
in a folder of its own, with none of this project's conftest."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

PLUGIN = "supplylake.testing"


def _pytest(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest in ``folder`` as another project runs it: plugins from their entry points."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _fixtures_of(listing: str, module: str) -> set[str]:
    """The fixture names ``pytest --fixtures -v`` lists under ``fixtures defined from module``."""
    names: set[str] = set()
    inside = False
    for line in listing.splitlines():
        if re.match(r"^[-=]{3,} ", line):
            inside = line.split(" fixtures defined from ")[-1].split(" ")[0] == module
        elif inside and line and not line[0].isspace():
            names.add(line.split(" ")[0])
    return names


def test_the_plugin_is_registered_by_the_package_entry_point() -> None:
    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("supplylake") == PLUGIN


def test_an_installing_project_gets_only_the_supplylake_fixtures(tmp_path: Path) -> None:
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    done = _pytest(tmp_path, "--fixtures", "-v")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _fixtures_of(done.stdout, PLUGIN) == {"supplylake_server", "supplylake_client"}
    assert "postgres" not in done.stdout


def test_an_installing_project_can_call_the_server_with_the_client(tmp_path: Path) -> None:
    (tmp_path / "test_uses_supplylake.py").write_text(
        "def test_lists_instances(supplylake_client):\n"
        "    answer = supplylake_client.list_instances()\n"
        "    assert answer['instances'] == []\n"
        "\n"
        "def test_the_server_has_an_endpoint(supplylake_server):\n"
        "    assert supplylake_server.endpoint.startswith('http://127.0.0.1:')\n"
    )
    done = _pytest(tmp_path, "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
