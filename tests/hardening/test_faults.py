"""Faults under a real server and real boto3: a full disk, an unwritable lake, a locked database.

Each test prints its figures (events sent, acknowledged, refused, lost, recovery time); they are
recorded in docs/reliability.md. The store's disk and the lake folder are small tmpfs mounts of
their own, filled up or remounted read-only and back (root ignores file modes). Without the right
to mount, the disk and lake tests skip and say why; the lock tests run on plain folders.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from supplylake.config import Settings
from supplylake.lake import open_lake as lake_for
from supplylake.store.base import AccessKey, StoreUnavailable
from supplylake.store.sqlite import SqliteStore
from supplylake.store.sqlite.sessions import SqliteLeases
from supplylake.testing import ServerHandle, running_server
from tests.integration.helpers import active_instance

SCHEMA = {
    "name": "Stock",
    "fields": [
        {"name": "id", "type": "STRING", "isRequired": True},
        {"name": "qty", "type": "LONG", "isRequired": False},
        {"name": "note", "type": "STRING", "isRequired": False},
    ],
    "primaryKeys": [{"name": "id"}],
}
#: Makes each event big enough that a full disk is felt at once (the WAL has to grow).
NOTE = "n" * 4000


# ---- mounts ---------------------------------------------------------------------------------


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


def _cannot_mount() -> str | None:
    """Why a tmpfs cannot be mounted here, or None if it can."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(tmpfs(1))
        except pytest.skip.Exception as exc:
            return str(exc)
    return None


@contextlib.contextmanager
def tmpfs(size_mib: int, at: Path | None = None) -> Iterator[Path]:
    """A tmpfs of ``size_mib`` MiB (at ``at``, or a new folder), unmounted whatever happens."""
    folder = at or Path(tempfile.mkdtemp(prefix="supplylake-tmpfs-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        try:
            _mount("-t", "tmpfs", "-o", f"size={size_mib}m,mode=0700", "tmpfs", str(folder))
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            pytest.skip(f"cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): {detail}")
        try:
            yield folder
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):
                _mount("-o", "remount,rw", str(folder))
            if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(folder)], capture_output=True)
    finally:
        if at is None:
            shutil.rmtree(folder, ignore_errors=True)


def _fill(folder: Path) -> Path:
    """Write a filler file until the file system is full; returns it (unlink it to free)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in (b"\0" * (1 << 20), b"\0" * 4096, b"\0"):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, chunk)
    finally:
        os.close(fd)
    return filler


# ---- a client that keeps count --------------------------------------------------------------


@dataclass
class Tally:
    """What one test sent and how it was answered."""

    acked: dict[str, int] = field(default_factory=dict)  # eventId -> the record's qty
    refused: Counter[str] = field(default_factory=Counter)
    messages: list[str] = field(default_factory=list)
    sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Sender:
    """Sends UPSERTs of one record each (``id = k<n>``, ``qty = n``) and keeps the tally."""

    def __init__(self, server: ServerHandle, name: str = "fault") -> None:
        self.server = server
        self.client = server.client(connect_timeout=5, read_timeout=120)
        self.instance_id = active_instance(self.client, name)
        self.arn: str = self.client.create_data_lake_dataset(
            instanceId=self.instance_id, namespace="default", name="stock", schema=SCHEMA
        )["dataset"]["arn"]
        self.tally = Tally()
        self._next = 0

    def _number(self) -> int:
        with self.tally.lock:
            self._next += 1
            self.tally.sent += 1
            return self._next

    def send(self, client: Any = None) -> bool:
        """One event; True if acknowledged. A refusal is recorded with its code and message."""
        n = self._number()
        try:
            answer = (client or self.client).send_data_integration_event(
                instanceId=self.instance_id,
                eventType="scn.data.dataset",
                eventGroupId="faults",
                data=json.dumps({"id": f"k{n}", "qty": n, "note": NOTE}),
                datasetTarget={"datasetIdentifier": self.arn, "operationType": "UPSERT"},
            )
        except ClientError as exc:
            error = exc.response["Error"]
            status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
            with self.tally.lock:
                self.tally.refused[f"{status} {error['Code']}"] += 1
                self.tally.messages.append(str(error.get("Message", "")))
            return False
        with self.tally.lock:
            self.tally.acked[answer["eventId"]] = n
        return True

    def _events(self) -> dict[str, str]:
        """Every event of the instance the store lists (all pages): eventId -> load status."""
        found: dict[str, str] = {}
        kwargs: dict[str, Any] = {"instanceId": self.instance_id, "maxResults": 20}
        while True:
            page = self.client.list_data_integration_events(**kwargs)
            for e in page["events"]:
                load = e["datasetTargetDetails"]["datasetLoadExecution"]
                found[e["eventId"]] = load["status"]
            if "nextToken" not in page:
                return found
            kwargs["nextToken"] = page["nextToken"]

    def statuses(self, only: set[str] | None = None) -> Counter[str]:
        """Load statuses of the acknowledged events (or of ``only`` those)."""
        listed = self._events()
        wanted = self.tally.acked if only is None else only
        return Counter(listed.get(e, "MISSING") for e in wanted)

    def wait_loaded(self, timeout: float) -> float:
        """Seconds until every acknowledged event has SUCCEEDED; fails on FAILED or timeout."""
        started = time.monotonic()
        while True:
            counts = self.statuses()
            assert counts["FAILED"] == 0, counts
            if counts["SUCCEEDED"] == len(self.tally.acked):
                return time.monotonic() - started
            assert time.monotonic() - started < timeout, (
                f"not loaded in {timeout}s: {counts}\n{self.server.log_tail(30)}"
            )
            time.sleep(0.2)

    def lake_rows(self, settings: Settings) -> dict[str, int]:
        lake = lake_for(settings)
        try:
            table = lake.scan(self.instance_id, "default", "stock")
        finally:
            lake.close()
        return dict(
            zip(table.column("id").to_pylist(), table.column("qty").to_pylist(), strict=True)
        )

    def check_nothing_lost(self, settings: Settings) -> int:
        """Every acknowledged event is stored and in the lake, and nothing else is; returns lost."""
        stored = set(self._events())
        lost = len(set(self.tally.acked) - stored)
        assert lost == 0
        assert stored == set(self.tally.acked), "an event was stored that was never acknowledged"
        expected = {f"k{n}": n for n in self.tally.acked.values()}
        assert self.lake_rows(settings) == expected
        return lost

    def report(self, name: str, **figures: object) -> None:
        t = self.tally
        line = (
            f"\n[{name}] sent {t.sent}, acknowledged {len(t.acked)}, "
            f"refused {sum(t.refused.values())} {dict(t.refused)}"
        )
        line += "".join(f", {k.replace('_', ' ')} {v}" for k, v in figures.items())
        print(line)


def _healthy(server: ServerHandle) -> bool:
    with urllib.request.urlopen(server.endpoint + "/health", timeout=5) as r:
        return bool(r.status == 200)


def _settings(server: ServerHandle) -> Settings:
    env = server.env
    return Settings(
        data_dir=server.data_dir,
        database_url=env.get("SUPPLYLAKE_DATABASE_URL", ""),
        warehouse=env.get("SUPPLYLAKE_WAREHOUSE", ""),
    )


@dataclass
class Disks:
    """One server whose store and lake live on tmpfs mounts of their own."""

    server: ServerHandle
    #: Holds the SQLite database (the store and the Iceberg catalog).
    store: Path
    #: The Iceberg warehouse: a second mount, at ``store/warehouse``.
    lake: Path
    #: Why the two are plain folders instead (mounting is not allowed here), or None.
    unmounted: str | None = None

    def need_mounts(self) -> None:
        if self.unmounted is not None:
            pytest.skip(self.unmounted)


@pytest.fixture(scope="module")
def disks() -> Iterator[Disks]:
    with contextlib.ExitStack() as stack:
        reason = _cannot_mount()
        if reason is None:
            store = stack.enter_context(tmpfs(64))
            lake = stack.enter_context(tmpfs(64, at=store / "warehouse"))
        else:  # the lock test needs no mount: it runs on plain folders
            store = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            lake = store / "warehouse"
        server = stack.enter_context(
            running_server(database_url=f"sqlite:///{store}/supplylake.db", warehouse=str(lake))
        )
        yield Disks(server, store, lake, reason)


# ---- a. the disk of the store and the lake fills up, then frees -----------------------------


def test_full_disk_refuses_sends_clearly_and_recovers_once_freed(disks: Disks) -> None:
    disks.need_mounts()
    server = disks.server
    s = Sender(server, "disk-full")
    for _ in range(20):
        assert s.send()
    # No waiting for the loader: the disk fills while it may be writing these to the lake.
    fillers = [_fill(disks.store), _fill(disks.lake)]
    try:
        during = 30
        for _ in range(during):
            s.send()
        refused = sum(s.tally.refused.values())
        assert refused >= 1, "the full disk refused nothing: the fault was not exercised"
        assert set(s.tally.refused) == {"500 InternalServerException"}, s.tally.refused
        for message in s.tally.messages:
            assert "cannot store requests right now" in message and "retry" in message
            assert str(disks.store) not in message and "Traceback" not in message
            assert "sqlite" not in message.lower() and "disk" not in message.lower()
        # The server is up, and reads still answer.
        assert _healthy(server)
        assert s.client.get_instance(instanceId=s.instance_id)["instance"]["state"] == "Active"
    finally:
        for filler in fillers:
            filler.unlink()
    freed = time.monotonic()
    while not s.send():
        assert time.monotonic() - freed < 10, "sends still refused 10 s after freeing space"
    recovery = time.monotonic() - freed
    for _ in range(20):
        assert s.send()
    catch_up = s.wait_loaded(60)
    lost = s.check_nothing_lost(_settings(server))
    assert server.process is not None and server.process.poll() is None
    s.report(
        "disk full",
        sent_while_full=during,
        lost=lost,
        first_ack_after_freeing=f"{recovery:.2f} s",
        all_loaded_after=f"{catch_up:.2f} s",
    )


# ---- b. the lake folder turns read-only for a while -----------------------------------------


def test_unwritable_lake_keeps_acknowledging_and_loads_once_writable(disks: Disks) -> None:
    disks.need_mounts()
    server, warehouse = disks.server, disks.lake
    s = Sender(server, "lake-ro")
    for _ in range(20):
        assert s.send()
    s.wait_loaded(30)
    before = set(s.tally.acked)

    _mount("-o", "remount,ro", str(warehouse))
    try:
        for _ in range(40):
            assert s.send(), s.tally.refused
        time.sleep(4)  # several loader retries
        counts = s.statuses(only=set(s.tally.acked) - before)
        assert counts == {"IN_PROGRESS": 40}, counts
    finally:
        _mount("-o", "remount,rw", str(warehouse))
    catch_up = s.wait_loaded(60)
    lost = s.check_nothing_lost(_settings(server))
    s.report(
        "lake read-only",
        read_only_for="4 s",
        in_progress_while_read_only=40,
        lost=lost,
        all_loaded_after=f"{catch_up:.2f} s",
    )


# ---- c. another process holds the database's write lock -------------------------------------

HOLD_SECONDS = 4.0


@contextlib.contextmanager
def _lock_held(db: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process takes the write lock (BEGIN EXCLUSIVE) and keeps it ``seconds``.

    On the way out, waits for it to let go (killing it if it does not).
    """
    code = (
        "import sqlite3, sys, time\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('BEGIN EXCLUSIVE')\n"
        "print('locked', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
        "c.execute('ROLLBACK')\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "locked"
            yield holder
            holder.wait(seconds + 10)
        finally:
            if holder.poll() is None:
                holder.kill()


def test_locked_database_makes_sends_wait_then_succeed(disks: Disks) -> None:
    server = disks.server
    s = Sender(server, "locked")
    for _ in range(10):
        assert s.send()
    latencies: list[float] = []

    def sender() -> None:
        client = server.client(connect_timeout=5, read_timeout=120)
        for _ in range(3):
            t = time.monotonic()
            s.send(client)
            latencies.append(time.monotonic() - t)

    threads = [threading.Thread(target=sender) for _ in range(4)]
    with _lock_held(disks.store / "supplylake.db", HOLD_SECONDS):
        locked = time.monotonic()
        for t in threads:
            t.start()
        # Reads go on meanwhile (WAL): only writers wait.
        assert s.client.get_instance(instanceId=s.instance_id)["instance"]["state"] == "Active"
    released = time.monotonic()
    for t in threads:
        t.join(60)
    started = time.monotonic()
    assert s.send()
    after = time.monotonic() - started
    assert not s.tally.refused, s.tally.refused
    # Nobody waited much beyond the lock: the writer commits as soon as it is free.
    assert max(latencies) < HOLD_SECONDS + 3, max(latencies)
    assert after < 1.0
    catch_up = s.wait_loaded(30)
    lost = s.check_nothing_lost(_settings(server))
    s.report(
        "database locked",
        lock_held=f"{released - locked:.1f} s",
        longest_send=f"{max(latencies):.2f} s",
        send_right_after_release=f"{after * 1000:.0f} ms",
        lost=lost,
        all_loaded_after=f"{catch_up:.2f} s",
    )


def test_lock_held_past_the_busy_timeout_fails_writes_in_bounded_time(tmp_path: Path) -> None:
    """Past the busy timeout a write is refused (StoreUnavailable), and the next one works."""
    db = tmp_path / "supplylake.db"
    store = SqliteStore(db, busy_timeout_ms=500)
    try:

        def key(n: int) -> AccessKey:
            return AccessKey(f"AKLOCK{n:04d}", "secret", "000000000000", datetime.now(UTC))

        store.put_key(key(0))
        with _lock_held(db, 3.0):
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                store.put_key(key(1))
            refused_after = time.monotonic() - started
            assert refused_after < 2.0, refused_after
        started = time.monotonic()
        store.put_key(key(2))
        recovered = time.monotonic() - started
        assert store.get_key(key(1).access_key_id) is None
        assert store.get_key(key(2).access_key_id) is not None
        print(
            f"\n[lock past busy timeout 0.5 s] refused after {refused_after:.2f} s, "
            f"next write after release {recovered * 1000:.0f} ms"
        )
    finally:
        store.close()


def test_lease_taken_on_a_full_disk_is_held_and_released() -> None:
    """Found by the full-disk test: the holder note failing to write leaked the locked file, and
    the loader's own process could never take that dataset's lease again."""
    with tmpfs(1) as disk:
        leases = SqliteLeases(disk / "leases", "test-owner")
        try:
            assert leases.try_acquire("dataset:x")  # creates the lock file
            leases.release("dataset:x")
            filler = _fill(disk)
            assert leases.try_acquire("dataset:x")
            assert leases.holds("dataset:x")
            leases.release("dataset:x")
            assert leases.try_acquire("dataset:x")
            leases.release("dataset:x")
            filler.unlink()
        finally:
            leases.close()
