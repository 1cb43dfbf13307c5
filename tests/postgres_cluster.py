"""The project's own PostgreSQL cluster for its tests and benchmarks, from the machine's binaries.

    from tests.postgres_cluster import create_database, postgres_cluster

    with postgres_cluster() as admin_url:
        url = create_database(admin_url)   # postgresql://supplylake:...@127.0.0.1:<port>/test_...

The cluster lives in a temporary folder: ``initdb`` with a random password, the server on a free
loopback port with its unix socket in the same folder, ``pg_ctl`` to start and stop it. Run as
root, the server runs as the system user ``supplylake-test`` (created if missing), since PostgreSQL
refuses to run as root. That is why it lives here and not in the public pytest plugin: a project
that installs supplylake must never get a user added to its machine by loading it.

The fixtures ``postgres_url`` and ``postgres_database`` in ``tests/conftest.py`` start it once per
session. Where the binaries are missing they skip, except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from supplylake.testing import free_port

_RUN_AS = "supplylake-test"
_USER = "supplylake"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries (initdb, pg_ctl) are not installed."""


def find_postgres_bin() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: on PATH, else the newest /usr/lib/postgresql/*."""
    on_path = shutil.which("initdb")
    if on_path is not None:
        folder = Path(os.path.realpath(on_path)).parent
        if (folder / "pg_ctl").exists():
            return folder
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in "
        "/usr/lib/postgresql/*/bin: install the Debian package `postgresql`"
    )


@contextlib.contextmanager
def postgres_cluster(port: int | None = None) -> Iterator[str]:
    """Start a throwaway cluster; yield the URL of its ``postgres`` database as superuser."""
    bindir = find_postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="supplylake-pg-"))
    data = folder / "data"
    password = secrets.token_urlsafe(18)
    (folder / "pwfile").write_text(password + "\n")
    as_user = _run_as_prefix(folder)
    port = port or free_port()
    started = False
    try:
        _run(
            [
                *as_user,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "--username",
                _USER,
                "--pwfile",
                str(folder / "pwfile"),
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--locale",
                "C.UTF-8",
                # Only initdb's final flush of the new files; the server keeps fsync on.
                "--no-sync",
            ]
        )
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={port}",
                f"-c unix_socket_directories={folder}",
                "-c max_connections=200",
                "-c shared_buffers=64MB",
            ]
        )
        _run(
            [
                *as_user,
                str(bindir / "pg_ctl"),
                "start",
                "-D",
                str(data),
                "-w",
                "-t",
                "60",
                "-l",
                str(folder / "server.log"),
                "-o",
                options,
            ]
        )
        started = True
        yield f"postgresql://{_USER}:{password}@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run(
                [*as_user, str(bindir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        shutil.rmtree(folder, ignore_errors=True)


def create_database(admin_url: str, name: str | None = None) -> str:
    """Create an empty database in the cluster of ``admin_url``; return its URL."""
    import psycopg

    name = name or "test_" + secrets.token_hex(6)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_database(admin_url: str, url: str) -> None:
    """Drop the database of ``url``, closing any connection still open to it."""
    import psycopg

    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run_as_prefix(folder: Path) -> list[str]:
    """The command prefix that runs the server binaries as a user other than root."""
    if os.geteuid() != 0:
        return []
    if subprocess.run(["id", "-u", _RUN_AS], capture_output=True, check=False).returncode != 0:
        _run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _RUN_AS])
    shutil.chown(folder, _RUN_AS)
    os.chmod(folder, 0o700)
    runuser = shutil.which("runuser")
    if runuser is not None:
        return [runuser, "-u", _RUN_AS, "--"]
    return ["setpriv", f"--reuid={_RUN_AS}", f"--regid={_RUN_AS}", "--init-groups", "--"]


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-4000:]}")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_postgres_bin() -> Path:
    """The binaries' folder; else skip the test, or fail it under CI (``CI=true``)."""
    try:
        return find_postgres_bin()
    except PostgresUnavailable as exc:
        if _in_ci():
            pytest.fail(f"{exc} (CI is set: PostgreSQL tests must run)", pytrace=False)
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
