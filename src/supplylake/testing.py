"""Run a real supplylake server for tests: a context manager and pytest fixtures.

    from supplylake.testing import running_server

    with running_server() as server:
        client = server.client()
        client.create_instance(instanceName="test")

The server is a separate ``supplylake serve`` process on a free loopback port, with its own data
folder and a fresh root key. Installing supplylake registers this module as a pytest plugin in every
project that has it, so it offers two fixtures and nothing else, both named for supplylake so they
cannot shadow a project's own: ``supplylake_server`` (one server for the whole test session) and
``supplylake_client`` (a boto3 ``supplychain`` client for it).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REGION = "us-east-1"
ACCOUNT_ID = "000000000000"


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid``: a ``serve``'s loader, or its ``--workers``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerHandle:
    """A running server: where it listens, how to sign in, and how to stop or restart it."""

    endpoint: str
    access_key_id: str
    secret_access_key: str
    data_dir: Path
    port: int
    region: str = REGION
    account_id: str = ACCOUNT_ID
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def client(self, **config: Any) -> Any:
        """A boto3 ``supplychain`` client signed with the root key."""
        return self.client_for(self.access_key_id, self.secret_access_key, **config)

    def client_for(self, access_key_id: str, secret_access_key: str, **config: Any) -> Any:
        return supplychain_client(
            self.endpoint, access_key_id, secret_access_key, region=self.region, **config
        )

    def create_key(self, *args: str) -> tuple[str, str]:
        """A new key made with ``supplylake keys create ARGS``: (access key id, secret)."""
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "supplylake",
                "keys",
                "create",
                "--data-dir",
                str(self.data_dir),
                *args,
            ],
            capture_output=True,
            text=True,
            check=True,
            env=self.cli_env(),
        ).stdout
        pairs = (line.split(" = ", 1) for line in out.strip().splitlines())
        creds = {name.strip(): value.strip() for name, value in pairs}
        return creds["aws_access_key_id"], creds["aws_secret_access_key"]

    def cli_env(self) -> dict[str, str]:
        """Environment for the AWS CLI or the ``supplylake`` command against this server."""
        env = dict(os.environ)
        env.update(
            AWS_ACCESS_KEY_ID=self.access_key_id,
            AWS_SECRET_ACCESS_KEY=self.secret_access_key,
            AWS_DEFAULT_REGION=self.region,
            AWS_ENDPOINT_URL=self.endpoint,
        )
        env.update(self.env)
        return env

    def start(self, timeout: float = 60.0) -> None:
        """Start (or restart) the server process and wait until /health answers."""
        self.log_path = self.data_dir / "server.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        env = dict(os.environ)
        env.update(self.env)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "supplylake",
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"supplylake serve exited early:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.endpoint + "/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"supplylake serve did not become ready in {timeout}s:\n{self.log_tail()}"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        """Stop the process: SIGTERM for a clean stop, SIGKILL to simulate a crash."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def supplychain_client(
    endpoint: str,
    access_key_id: str,
    secret_access_key: str,
    region: str = "us-east-1",
    **config: Any,
) -> Any:
    """A boto3 ``supplychain`` client of ``endpoint`` that does not retry; ``config`` goes to
    botocore's Config (timeouts, pool size). Plain arguments, so client processes can make one."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "supplychain",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=Config(retries={"max_attempts": 1}, **config),
    )


@contextlib.contextmanager
def running_server(data_dir: str | Path | None = None, **settings: Any) -> Iterator[ServerHandle]:
    """Start ``supplylake serve`` on a free port; settings become ``SUPPLYLAKE_*`` variables."""
    own_dir = data_dir is None
    folder = Path(tempfile.mkdtemp(prefix="supplylake-")) if data_dir is None else Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    key_id = "SLAKTEST" + secrets.token_hex(6).upper()
    secret = secrets.token_urlsafe(30)[:40]
    env = {
        "SUPPLYLAKE_ACCESS_KEY_ID": key_id,
        "SUPPLYLAKE_SECRET_ACCESS_KEY": secret,
        "SUPPLYLAKE_ACCOUNT_ID": ACCOUNT_ID,
        "SUPPLYLAKE_LOG_LEVEL": "warning",
    }
    env.update({f"SUPPLYLAKE_{k.upper()}": str(v) for k, v in settings.items()})
    handle = ServerHandle(
        endpoint=f"http://127.0.0.1:{port}",
        access_key_id=key_id,
        secret_access_key=secret,
        data_dir=folder,
        port=port,
        env=env,
    )
    handle.start()
    try:
        yield handle
    finally:
        handle.stop()
        if own_dir:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def supplylake_server() -> Iterator[ServerHandle]:
    """One supplylake server for the whole test session."""
    with running_server() as server:
        yield server


@pytest.fixture
def supplylake_client(supplylake_server: ServerHandle) -> Any:
    """A boto3 ``supplychain`` client for the session's server."""
    return supplylake_server.client()
