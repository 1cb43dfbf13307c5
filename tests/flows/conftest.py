"""Fixtures of the flows tests: a real S3 API server (moto's) on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from supplylake.testing import free_port


@pytest.fixture(scope="session")
def s3_env() -> Iterator[dict[str, str]]:
    """moto's S3 API server on a loopback port, and the AWS variables that reach it."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        yield {
            "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "moto-key",
            "AWS_SECRET_ACCESS_KEY": "moto-secret",
            "AWS_REGION": "eu-west-1",
        }
    finally:
        server.stop()
