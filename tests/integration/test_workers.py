"""``serve --workers 2`` on SQLite: two API processes, each with its own group committer, on one
database file, while client processes send to them at once.

Every clientToken makes one event whichever process answers it, no position is handed out twice,
everything acknowledged is stored as sent, and the rate limit is one bucket for both processes.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from supplylake.testing import (
    ServerHandle,
    child_pids,
    free_port,
    running_server,
    supplychain_client,
)
from tests.integration.helpers import active_instance

SENDERS = 3
TOKENS = 60


def _client(endpoint: str, key: str, secret: str) -> Any:
    return supplychain_client(endpoint, key, secret, read_timeout=30, max_pool_connections=8)


def _token(n: int) -> str:
    return f"token-{n:04d}-".ljust(40, "x")


def _data(n: int, variant: int) -> str:
    return json.dumps({"id": f"po-{n}", "tpartner_id": f"acme-{variant}", "order_type": "PO"})


def _send_tokens(endpoint: str, key: str, secret: str, iid: str, sender: int, out: Any) -> None:
    """Send every token (each sender starting at another one), from 6 connections; the last
    sender sends another body with every fifth token. Puts (token, variant, outcome) tuples."""
    client = _client(endpoint, key, secret)
    order = list(range(TOKENS))
    order = order[sender * 17 :] + order[: sender * 17]

    def one(n: int) -> tuple[str, int, str]:
        variant = 1 if sender == SENDERS - 1 and n % 5 == 0 else 0
        try:
            answer = client.send_data_integration_event(
                instanceId=iid,
                eventType="scn.data.inboundorder",
                eventGroupId=f"g{n % 4}",
                data=_data(n, variant),
                clientToken=_token(n),
            )
        except ClientError as exc:
            return _token(n), variant, "error:" + exc.response["Error"]["Code"]
        return _token(n), variant, answer["eventId"]

    with ThreadPoolExecutor(6) as pool:
        out.put(list(pool.map(one, order)))


def _send_untokened(endpoint: str, key: str, secret: str, iid: str, count: int, out: Any) -> None:
    """``count`` events from 6 connections, each a client of its own; puts the outcomes."""

    def one(n: int) -> str:
        client = _client(endpoint, key, secret)  # a connection (and so a worker) of its own
        outcomes = []
        for i in range(count // 6):
            try:
                client.send_data_integration_event(
                    instanceId=iid,
                    eventType="scn.data.inboundorder",
                    eventGroupId="g",
                    data=_data(n * 1000 + i, 0),
                )
                outcomes.append("ok")
            except ClientError as exc:
                outcomes.append(exc.response["Error"]["Code"])
        return ",".join(outcomes)

    with ThreadPoolExecutor(6) as pool:
        out.put(",".join(pool.map(one, range(6))).split(","))


def _run_senders(target: Any, args: list[tuple[Any, ...]]) -> list[Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, queue)) for a in args]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    return results


def _ready(server: ServerHandle, name: str) -> str:
    iid = active_instance(server.client(), name)
    # The other process may have cached the instance as Initializing: cache_seconds is 1 s.
    time.sleep(1.2)
    return iid


def _rows(server: ServerHandle, sql: str, *args: Any) -> list[Any]:
    db = f"file:{server.data_dir / 'supplylake.db'}?mode=ro"
    conn = sqlite3.connect(db, uri=True, timeout=30)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[ServerHandle]:
    with running_server(tmp_path, workers=2, loader="false") as server:
        yield server


def test_two_workers_on_sqlite_make_one_event_per_token_and_store_all_they_acknowledge(
    two_workers: ServerHandle,
) -> None:
    server = two_workers
    assert server.process is not None
    assert len(child_pids(server.process.pid)) >= 2
    iid = _ready(server, "tokens")
    key, secret = server.access_key_id, server.secret_access_key
    answers = _run_senders(
        _send_tokens, [(server.endpoint, key, secret, iid, n) for n in range(SENDERS)]
    )
    rows = _rows(
        server,
        "SELECT e.position, e.event_id, d.data FROM sl_events AS e"
        " JOIN sl_event_data AS d ON d.position = e.position WHERE e.instance_id = ?",
        iid,
    )
    tokens = dict(
        _rows(server, "SELECT token, result FROM sl_tokens WHERE scope LIKE ?", f"%{iid}%")
    )
    stored = {event_id: data for _, event_id, data in rows}
    # One event per token, and nothing else; positions are the rows' keys, each once.
    assert len(rows) == len(tokens) == TOKENS
    assert len({position for position, _, _ in rows}) == TOKENS
    for token, variant, outcome in (a for answer in answers for a in answer):
        n = int(token.split("-")[1])
        event_id = tokens[token]
        if outcome.startswith("error:"):
            # The other body lost the race for this token: a conflict, never a second event.
            assert outcome == "error:ConflictException"
            assert stored[event_id] != _data(n, variant)
        else:
            # Acknowledged: the token's one event, stored as this request sent it.
            assert outcome == event_id
            assert stored[event_id] == _data(n, variant)


def test_two_workers_on_sqlite_share_one_rate_limit(tmp_path: Path) -> None:
    burst = 20
    # At most `burst` events at once and one more a second; each process alone would admit
    # `burst` again (the in-memory bucket of one process).
    with running_server(
        tmp_path, workers=2, loader="false", event_rate=1, event_burst=burst
    ) as server:
        iid = _ready(server, "limits")
        key, secret = server.access_key_id, server.secret_access_key
        started = time.monotonic()
        outcomes = _run_senders(_send_untokened, [(server.endpoint, key, secret, iid, 60)] * 2)
        elapsed = time.monotonic() - started
    flat = [o for each in outcomes for o in each]
    assert set(flat) <= {"ok", "ThrottlingException"}
    accepted = flat.count("ok")
    # The burst, what refilled meanwhile, and the one token that may sit in each process's
    # slice (see service/limits.py).
    assert 1 <= accepted <= burst + int(elapsed) + 1 + 2, (accepted, elapsed)


def test_the_api_processes_stop_when_serve_is_killed(tmp_path: Path) -> None:
    with running_server(tmp_path, workers=2, loader="false") as server:
        assert server.process is not None
        children = child_pids(server.process.pid)
        assert len(children) >= 2
        server.kill()
        deadline = time.monotonic() + 20
        while alive := [pid for pid in children if _running(pid)]:
            assert time.monotonic() < deadline, f"processes {alive} outlived serve"
            time.sleep(0.1)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _serve_command(port: int, data_dir: Path) -> list[str]:
    command = [sys.executable, "-m", "supplylake", "serve", "--workers", "2", "--no-loader"]
    return [*command, "--port", str(port), "--data-dir", str(data_dir)]


def test_serve_with_workers_says_when_the_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            _serve_command(port, tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "SUPPLYLAKE_LOG_LEVEL": "warning"},
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in " ".join(done.stderr.split())


def test_sigterm_stops_serve_and_its_api_processes(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "SUPPLYLAKE_LOG_LEVEL": "warning"}
    proc = subprocess.Popen(
        _serve_command(port, tmp_path),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while len(children := child_pids(proc.pid)) < 2:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        deadline = time.monotonic() + 10
        while alive := [pid for pid in children if _running(pid)]:
            assert time.monotonic() < deadline, f"processes {alive} outlived serve"
            time.sleep(0.1)
    finally:
        proc.kill()
