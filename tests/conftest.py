"""Fixtures for the project's own tests: its private PostgreSQL cluster.

The public plugin (``supplylake.testing``) gives installing projects a server and a client only;
the cluster, which may add a system user when run as root, is for this project's tests alone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.postgres_cluster import (
    create_database,
    drop_database,
    postgres_cluster,
    require_postgres_bin,
)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A private PostgreSQL cluster for the test session: the URL of its admin database."""
    require_postgres_bin()
    with postgres_cluster() as url:
        yield url


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """A new, empty database in the session's cluster, dropped after the test."""
    url = create_database(postgres_url)
    try:
        yield url
    finally:
        drop_database(postgres_url, url)
