"""The project's PostgreSQL test cluster: where the binaries are missing, skip, but fail under CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import postgres_cluster
from tests.postgres_cluster import PostgresUnavailable, require_postgres_bin


def _missing() -> Path:
    raise PostgresUnavailable("initdb not found")


def test_missing_binaries_skip_and_say_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres_cluster, "find_postgres_bin", _missing)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="initdb not found"):
        require_postgres_bin()


def test_missing_binaries_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres_cluster, "find_postgres_bin", _missing)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="initdb not found"):
        require_postgres_bin()


def test_binaries_are_found_under_usr_lib_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        pytest.skip("no /usr/lib/postgresql here")
    assert (postgres_cluster.find_postgres_bin() / "pg_ctl").exists()
