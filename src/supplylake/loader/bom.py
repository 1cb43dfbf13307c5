"""The bill-of-materials import job of the loader processes: one job at a time per instance.

A pass moves the NEW jobs to QUEUED (a loader has seen them), then, for each instance with jobs
not finished, takes the instance's lease and runs its oldest one. The lease is held by a live
session only (see :class:`supplylake.store.base.Leases`), so a job found IN_PROGRESS by the
holder was left by a loader that died: it is run again. That is safe because the file is checked
whole before anything is written, the rows land in one Iceberg commit, and that commit names the
job (``lake.bom_write``): a rerun finds it and commits nothing twice.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from supplylake import metrics
from supplylake.flows.buckets import Buckets, buckets_for
from supplylake.flows.errors import ExecutionError
from supplylake.lake.bom_write import upsert_import
from supplylake.lake.flows_write import execution_committed
from supplylake.loader.bom_file import (
    BomFileError,
    CheckedFile,
    check_file,
    remove_dead_spills,
    remove_spill,
)
from supplylake.loader.jobs import Context
from supplylake.loader.leases import holding, lease_name, owner_name
from supplylake.schema.asc import ASC_NAMESPACE, asc_datasets
from supplylake.states import GONE, BomJobStatus, InstanceState
from supplylake.store.base import BomJob, DatasetRef, LeaseLost, Leases

log = logging.getLogger(__name__)

#: The dataset every import writes to.
BOM_DATASET = "product_bom"
#: The message of a job that succeeded, as AWS words it.
SUCCESS_MESSAGE = "Import job completed successfully."
#: Runs of a job that fail for reasons other than its file, before the job fails.
_ATTEMPTS = 3
_RETRY_SECONDS = 1.0
#: Finished jobs past their retention are looked for this often.
_EXPIRE_EVERY_SECONDS = 60.0


def connection_id(job_id: str) -> str:
    """The ``connection_id`` of the rows an import wrote: which job brought them."""
    return f"supplylake:BillOfMaterialsImportJob:{job_id}"


def bom_lease_name(instance_id: str) -> str:
    """The lease whose holder runs the instance's import jobs."""
    return f"bom:{instance_id}"


class BomImports:
    """One thread's share of the import jobs of every instance."""

    def __init__(self, ctx: Context, leases: Leases | None = None) -> None:
        self.ctx = ctx
        self.leases = leases if leases is not None else ctx.store.open_leases(owner_name() + ":bom")
        self._buckets: Buckets | None = None
        self._expired_at = 0.0
        #: Jobs whose runs failed for reasons other than their file: how many times.
        self._failures: dict[str, int] = {}
        if ctx.settings.data_dir.is_dir():
            remove_dead_spills(ctx.settings.data_dir)

    @property
    def buckets(self) -> Buckets:
        if self._buckets is None:
            self._buckets = buckets_for(self.ctx.settings)
        return self._buckets

    def run_once(self) -> int:
        store = self.ctx.store
        self._expire()
        # A read first: this job is woken by every commit (events too), and most find nothing.
        instances = store.bom_job_instances()
        if not instances:
            return 0
        done = store.queue_bom_jobs()
        for instance_id in instances:
            name = bom_lease_name(instance_id)
            if not self.leases.try_acquire(name):
                continue  # another loader runs this instance's jobs
            try:
                # Read under the lease: the job the last holder finished is not taken again.
                job = store.next_bom_job(instance_id)
                if job is not None:
                    self.run_job(job, name)
                    done += 1
            finally:
                self.leases.release(name)
        return done

    def close(self) -> None:
        self.leases.close()

    def run_job(self, job: BomJob, lease: str) -> None:
        """Run ``job`` to its end (SUCCESS or FAILED) while holding ``lease``."""
        store = self.ctx.store
        if job.status == BomJobStatus.IN_PROGRESS:
            log.info("running bill-of-materials import %s again: its loader stopped", job.job_id)
        store.start_bom_job(job.job_id, datetime.now(UTC))
        metrics.BOM_JOBS_STARTED.inc()
        try:
            status, message = BomJobStatus.SUCCESS, self._import(job, lease)
        except (BomFileError, ExecutionError) as e:
            status, message = BomJobStatus.FAILED, e.message
        except LeaseLost:
            log.warning("lost the lease of %s; its next holder runs %s", lease, job.job_id)
            return
        except Exception as e:
            # Not the file's fault (the store, the lake's storage): tried again a few times,
            # as the job is whole or not there at all, before it fails.
            failures = self._failures[job.job_id] = self._failures.get(job.job_id, 0) + 1
            log.exception("bill-of-materials import %s failed (%d)", job.job_id, failures)
            if failures < _ATTEMPTS:
                time.sleep(_RETRY_SECONDS)
                return
            if self._landed(job):  # its commit went through before the error
                status, message = BomJobStatus.SUCCESS, SUCCESS_MESSAGE
            else:
                status = BomJobStatus.FAILED
                message = (
                    f"The import could not be written to the data lake ({type(e).__name__}); "
                    "nothing was imported. Create the job again."
                )
        self._failures.pop(job.job_id, None)
        store.finish_bom_job(job.job_id, status, message, datetime.now(UTC))
        metrics.BOM_JOBS_FINISHED.labels(status.value).inc()

    def _landed(self, job: BomJob) -> bool:
        try:
            table = self.ctx.lake.table(job.instance_id, ASC_NAMESPACE, BOM_DATASET)
        except Exception:
            return False
        return execution_committed(table, job.job_id)

    def _import(self, job: BomJob, lease: str) -> str:
        ctx = self.ctx
        inst = ctx.store.get_instance(job.instance_id)
        if inst is None or inst.state in GONE:
            raise BomFileError(f"Instance {job.instance_id} was deleted; nothing was imported.")
        if inst.state != InstanceState.ACTIVE:
            raise BomFileError(f"Instance {job.instance_id} is {inst.state}; nothing was imported.")
        schema = asc_datasets()[BOM_DATASET]
        bucket, key = _bucket_and_key(job.s3uri)
        spill_dir = ctx.settings.data_dir
        spill_dir.mkdir(parents=True, exist_ok=True)
        checked: CheckedFile | None = None
        try:
            with self.buckets.open_object(bucket, key) as stream:
                checked = check_file(
                    stream,
                    job.s3uri,
                    schema,
                    connection_id(job.job_id),
                    datetime.now(UTC),
                    spill_dir,
                )
            ref = DatasetRef(job.instance_id, ASC_NAMESPACE, BOM_DATASET)

            @contextlib.contextmanager
            def exclusive() -> Iterator[None]:
                # Proven held right before the commit: a loader that lost the instance's
                # lease leaves the job to the next holder.
                if not self.leases.holds(lease):
                    raise LeaseLost(lease)
                with holding(self.leases, lease_name(ref)):
                    yield

            result = upsert_import(
                ctx.lake,
                job.instance_id,
                ASC_NAMESPACE,
                schema,
                checked.batches,
                job.job_id,
                keys=checked.keys,
                exclusive=exclusive,
            )
        finally:
            remove_spill(checked)
        if not result.already:
            ctx.due.committed(ref)
            metrics.LAKE_COMMITS.labels(ASC_NAMESPACE, BOM_DATASET).inc()
            metrics.BOM_ROWS_IMPORTED.inc(result.rows_added)
        return SUCCESS_MESSAGE

    def _expire(self) -> None:
        if time.monotonic() - self._expired_at < _EXPIRE_EVERY_SECONDS:
            return
        self._expired_at = time.monotonic()
        days = self.ctx.settings.bom_job_retention_days
        gone = self.ctx.store.expire_bom_jobs(datetime.now(UTC) - timedelta(days=days))
        if gone:
            log.info("forgot %d bill-of-materials import jobs past their retention", gone)


def _bucket_and_key(s3uri: str) -> tuple[str, str]:
    rest = s3uri.split("://", 1)[1]
    bucket, _, key = rest.partition("/")
    return bucket, key
