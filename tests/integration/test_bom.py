"""Bill-of-materials import jobs through real boto3 and the AWS CLI, against a real server whose
loader reads the instance's bucket folder and writes ``asc.product_bom``."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from supplylake.lake import open_lake
from supplylake.lake.flows_write import EXECUTION_PROPERTY
from supplylake.store.sqlite import SqliteStore
from supplylake.testing import ServerHandle, running_server
from tests.console.test_signout import _open, _sign_in
from tests.integration.helpers import active_instance, error_code, error_message
from tests.integration.test_awscli import AWS, aws
from tests.integration.test_s3 import aws_env, s3_endpoint  # noqa: F401 - fixtures

HEADER = "id,product_id,component_product_id,component_quantity_per,alternate_group_id,level\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with running_server(tmp_path_factory.mktemp("bom"), loader_processes=1) as server:
        yield server


@pytest.fixture(scope="module")
def iid(server: ServerHandle) -> str:
    return active_instance(server.client(), "bom")


def _bucket(iid: str) -> str:
    return f"aws-supply-chain-data-{iid}"


def _put(server: ServerHandle, iid: str, key: str, text: str) -> str:
    """Write a file into the instance's bucket folder; its s3 URI."""
    path = server.data_dir / "buckets" / _bucket(iid) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return f"s3://{_bucket(iid)}/{key}"


def _finished(client: Any, iid: str, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get_bill_of_materials_import_job(instanceId=iid, jobId=job_id)[
            "job"
        ]
        if job["status"] in ("SUCCESS", "FAILED"):
            return job
        assert time.monotonic() < deadline, f"job still {job['status']}"
        time.sleep(0.1)


def _bom_rows(data_dir: Path, iid: str) -> list[tuple[Any, ...]]:
    lake = open_lake(data_dir)
    try:
        if not lake.table_exists(iid, "asc", "product_bom"):
            return []
        rows = lake.scan(iid, "asc", "product_bom").to_pylist()
    finally:
        lake.close()
    cols = ("id", "product_id", "component_product_id", "component_quantity_per", "level")
    return sorted(tuple(r[c] for c in cols) for r in rows)


def _snapshots(data_dir: Path, iid: str) -> list[dict[str, str]]:
    lake = open_lake(data_dir)
    try:
        table = lake.table(iid, "asc", "product_bom")
        return [dict(s.summary.additional_properties) for s in table.snapshots() if s.summary]
    finally:
        lake.close()


def test_aws_documented_example_imports_the_file_and_upserts_by_key(
    server: ServerHandle, iid: str
) -> None:
    client = server.client()
    uri = _put(
        server,
        iid,
        "bom/product_bom.csv",
        HEADER + "bom1,bike,wheel,2,,1\nbom1,bike,frame,1,,1\nbom1,bike,tube-a,2,g1,2\n",
    )
    token = str(uuid.uuid4())
    job_id = client.create_bill_of_materials_import_job(
        instanceId=iid, s3uri=uri, clientToken=token
    )["jobId"]
    first = client.get_bill_of_materials_import_job(instanceId=iid, jobId=job_id)["job"]
    assert first["status"] in ("NEW", "QUEUED", "IN_PROGRESS", "SUCCESS")
    assert (first["instanceId"], first["jobId"], first["s3uri"]) == (iid, job_id, uri)
    job = _finished(client, iid, job_id)
    assert job == {
        "instanceId": iid,
        "jobId": job_id,
        "status": "SUCCESS",
        "s3uri": uri,
        "message": "Import job completed successfully.",
    }
    assert _bom_rows(server.data_dir, iid) == [
        ("bom1", "bike", "frame", 1.0, 1),
        ("bom1", "bike", "tube-a", 2.0, 2),
        ("bom1", "bike", "wheel", 2.0, 1),
    ]
    # A second file replaces the rows of its keys and adds the others.
    uri2 = _put(
        server, iid, "bom/update.csv", HEADER + "bom1,bike,wheel,3,,1\nbom1,bike,tube-b,2,g1,2\n"
    )
    job2 = client.create_bill_of_materials_import_job(instanceId=iid, s3uri=uri2)["jobId"]
    assert _finished(client, iid, job2)["status"] == "SUCCESS"
    assert _bom_rows(server.data_dir, iid) == [
        ("bom1", "bike", "frame", 1.0, 1),
        ("bom1", "bike", "tube-a", 2.0, 2),
        ("bom1", "bike", "tube-b", 2.0, 2),
        ("bom1", "bike", "wheel", 3.0, 1),
    ]
    jobs = [s.get(EXECUTION_PROPERTY) for s in _snapshots(server.data_dir, iid)]
    assert jobs.count(job_id) == 1 and jobs.count(job2) == 1


def test_client_token_replays_the_first_job_and_refuses_another_request(
    server: ServerHandle, iid: str
) -> None:
    client = server.client()
    uri = _put(server, iid, "bom/token.csv", HEADER + "t1,p,c,1,,\n")
    token = "token-" + uuid.uuid4().hex
    first = client.create_bill_of_materials_import_job(instanceId=iid, s3uri=uri, clientToken=token)
    again = client.create_bill_of_materials_import_job(instanceId=iid, s3uri=uri, clientToken=token)
    assert again["jobId"] == first["jobId"]
    with pytest.raises(ClientError) as exc:
        client.create_bill_of_materials_import_job(
            instanceId=iid, s3uri=uri + ".other", clientToken=token
        )
    assert error_code(exc) == "ConflictException"
    assert _finished(client, iid, first["jobId"])["status"] == "SUCCESS"
    store = SqliteStore(server.data_dir / "supplylake.db")
    try:
        mine = [j for j in store.list_bom_jobs(iid, None, 100) if j.s3uri.startswith(uri)]
    finally:
        store.close()
    assert [j.job_id for j in mine] == [first["jobId"]]  # the retry started nothing


def test_a_bad_file_fails_whole_naming_line_and_column(server: ServerHandle, iid: str) -> None:
    client = server.client()
    before = _bom_rows(server.data_dir, iid)
    uri = _put(
        server,
        iid,
        "bom/bad.csv",
        HEADER + "bad1,p,c1,1,,1\nbad1,p,c2,two,,1\nbad1,p,c3,1,,1\nbad1,,c4,1,,x\n",
    )
    job_id = client.create_bill_of_materials_import_job(instanceId=iid, s3uri=uri)["jobId"]
    job = _finished(client, iid, job_id)
    assert job["status"] == "FAILED"
    message = job["message"]
    assert "line 3, column 'component_quantity_per'" in message, message
    assert "line 5, column 'product_id': required field is empty" in message, message
    assert "line 5, column 'level'" in message, message
    assert "nothing was imported" in message
    assert _bom_rows(server.data_dir, iid) == before  # not even its good rows


@pytest.mark.parametrize(
    ("key", "text", "wanted"),
    [
        ("bom/missing.csv", None, "does not exist"),
        ("bom/empty.csv", "", "is empty"),
        ("bom/header-only.csv", HEADER, "has a header row but no rows"),
        ("bom/wrong-columns.csv", "sku,qty\na,1\n", "line 1 (header)"),
    ],
)
def test_missing_empty_or_unusable_files_fail_the_job_with_a_clear_message(
    server: ServerHandle, iid: str, key: str, text: str | None, wanted: str
) -> None:
    client = server.client()
    uri = _put(server, iid, key, text) if text is not None else f"s3://{_bucket(iid)}/{key}"
    job_id = client.create_bill_of_materials_import_job(instanceId=iid, s3uri=uri)["jobId"]
    job = _finished(client, iid, job_id)
    assert job["status"] == "FAILED" and wanted in job["message"], job
    assert uri in job["message"]


def test_create_refuses_what_it_can_see_at_once(server: ServerHandle, iid: str) -> None:
    client = server.client()
    with pytest.raises(ClientError) as exc:
        client.create_bill_of_materials_import_job(
            instanceId=iid, s3uri="s3://someone-else/bom.csv"
        )
    assert error_code(exc) == "AccessDeniedException"
    assert f"s3://{_bucket(iid)}/" in error_message(exc)
    with pytest.raises(ClientError) as exc:
        client.create_bill_of_materials_import_job(
            instanceId=iid, s3uri=f"s3://{_bucket(iid)}/dir/"
        )
    assert error_code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        client.create_bill_of_materials_import_job(
            instanceId=iid, s3uri="https://example.com/b.csv"
        )
    assert error_code(exc) == "ValidationException"
    unknown = str(uuid.uuid4())
    with pytest.raises(ClientError) as exc:
        client.create_bill_of_materials_import_job(
            instanceId=unknown, s3uri=f"s3://{_bucket(unknown)}/bom.csv"
        )
    assert error_code(exc) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        client.get_bill_of_materials_import_job(instanceId=iid, jobId=str(uuid.uuid4()))
    assert error_code(exc) == "ResourceNotFoundException"


def test_metrics_count_jobs_by_status(server: ServerHandle, iid: str) -> None:
    client = server.client()
    uri = _put(server, iid, "bom/metrics.csv", HEADER + "m1,p,c,1,,\n")
    job_id = client.create_bill_of_materials_import_job(instanceId=iid, s3uri=uri)["jobId"]
    _finished(client, iid, job_id)
    deadline = time.monotonic() + 20
    while True:
        with urllib.request.urlopen(server.endpoint + "/metrics") as r:
            text = r.read().decode()
        if 'supplylake_bom_jobs_finished_total{status="SUCCESS"}' in text:
            break
        assert time.monotonic() < deadline, "the loader's BOM metrics never showed"
        time.sleep(0.5)
    assert "supplylake_bom_jobs_created_total" in text


def test_the_console_lists_the_instance_s_jobs_with_status_and_message(
    server: ServerHandle, iid: str
) -> None:
    client = server.client()
    uri = _put(server, iid, "bom/console.csv", HEADER + "con1,p,c,oops,,\n")
    job_id = client.create_bill_of_materials_import_job(instanceId=iid, s3uri=uri)["jobId"]
    message = _finished(client, iid, job_id)["message"]
    cookies = _sign_in(server)
    status, page = _open(f"{server.endpoint}/console/instances/{iid}/bom-jobs", cookies)
    assert status == 200
    assert job_id in page and uri in page and ">FAILED<" in page
    assert "line 2, column &#39;component_quantity_per&#39;" in page, message


@pytest.mark.skipif(AWS is None, reason="the awscli package is not installed")
def test_the_aws_cli_creates_and_gets_a_job(server: ServerHandle, iid: str) -> None:
    uri = _put(server, iid, "bom/cli.csv", HEADER + "cli1,p,c,4,,\n")
    token = "cli-" + uuid.uuid4().hex
    args = ["--instance-id", iid, "--s3uri", uri, "--client-token", token]
    job_id = aws(server, "create-bill-of-materials-import-job", *args)["jobId"]
    assert aws(server, "create-bill-of-materials-import-job", *args)["jobId"] == job_id
    deadline = time.monotonic() + 60
    while True:
        job = aws(
            server, "get-bill-of-materials-import-job", "--instance-id", iid, "--job-id", job_id
        )["job"]
        if job["status"] in ("SUCCESS", "FAILED") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert job["status"] == "SUCCESS" and job["message"] == "Import job completed successfully."
    err = aws(
        server,
        "get-bill-of-materials-import-job",
        "--instance-id",
        iid,
        "--job-id",
        str(uuid.uuid4()),
        ok=False,
    )
    assert "ResourceNotFoundException" in err


@pytest.mark.slow
def test_a_loader_killed_mid_job_neither_loses_it_nor_writes_part_of_it(tmp_path: Path) -> None:
    rows = 300_000
    with running_server(tmp_path, loader="false") as server:
        client = server.client()
        iid = active_instance(client, "bom-crash")
        lines = "".join(f"crash,p{i % 1000},c{i},{i % 7 + 1},,{i % 5}\n" for i in range(rows))
        uri = _put(server, iid, "bom/big.csv", HEADER + lines)
        job_id = client.create_bill_of_materials_import_job(instanceId=iid, s3uri=uri)["jobId"]
        log = open(tmp_path / "loader.log", "ab")  # noqa: SIM115
        cmd = [sys.executable, "-m", "supplylake", "loader", "--data-dir", str(tmp_path)]
        loader = subprocess.Popen(cmd, env=server.cli_env(), stdout=log, stderr=log)
        try:
            kills = 0
            for delay in (0.3, 1.5):
                # The loader's spill file shows it is inside the job, checking the file.
                deadline = time.monotonic() + 90
                while not list(tmp_path.glob(f".bom-{loader.pid}-*.arrow")):
                    assert loader.poll() is None, "the loader stopped"
                    assert time.monotonic() < deadline, "the loader never started the job"
                    time.sleep(0.02)
                assert (
                    client.get_bill_of_materials_import_job(instanceId=iid, jobId=job_id)["job"][
                        "status"
                    ]
                    == "IN_PROGRESS"
                )
                time.sleep(delay)
                loader.kill()  # SIGKILL: no chance to clean up
                loader.wait()
                kills += 1
                # Whatever the moment, the table holds all of the file or none of it.
                assert len(_bom_rows(tmp_path, iid)) in (0, rows)
                loader = subprocess.Popen(cmd, env=server.cli_env(), stdout=log, stderr=log)
            job = _finished(client, iid, job_id, timeout=180)
        finally:
            loader.terminate()
            loader.wait()
            log.close()
    assert kills == 2
    assert not list(tmp_path.glob(".bom-*")), "the killed loaders' spill files are removed"
    assert job["status"] == "SUCCESS", job
    assert len(_bom_rows(tmp_path, iid)) == rows
    jobs = [s.get(EXECUTION_PROPERTY) for s in _snapshots(tmp_path, iid)]
    assert jobs.count(job_id) == 1


def test_on_s3_buckets_the_job_reads_the_instance_bucket(
    tmp_path: Path,
    aws_env: dict[str, str],  # noqa: F811 - the fixture
) -> None:
    import boto3

    with running_server(tmp_path, buckets="s3", loader_processes=1) as server:
        client = server.client()
        iid = active_instance(client, "bom-s3")
        s3 = boto3.client("s3")  # endpoint, region and keys from the environment
        # The instance may have made its bucket already.
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(
                Bucket=_bucket(iid), CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )
        s3.put_object(Bucket=_bucket(iid), Key="bom/s3.csv", Body=HEADER + "s3b,p,c,2,,1\n")
        uri = f"s3://{_bucket(iid)}/bom/s3.csv"
        job_id = client.create_bill_of_materials_import_job(instanceId=iid, s3uri=uri)["jobId"]
        missing = client.create_bill_of_materials_import_job(
            instanceId=iid, s3uri=uri + ".missing"
        )["jobId"]
        assert _finished(client, iid, job_id)["status"] == "SUCCESS"
        failed = _finished(client, iid, missing)
        assert failed["status"] == "FAILED" and "does not exist" in failed["message"], failed
        assert _bom_rows(tmp_path, iid) == [("s3b", "p", "c", 2.0, 1)]
