"""One flow execution: read its sources, run the transformation, write the target at once.

What an execution reads comes from its trigger:

- a new or rewritten object (``{"kind": "object", "key": ...}``): that file is the table of the
  S3 source whose prefix holds it; any other S3 source is the newest file under its prefix, and
  a dataset source is its table at its latest commit. INCREMENTAL upserts the rows by the
  target's primary key (appends where it has none); REPLACE makes them the flow's rows.
- a removed or rewritten object (INCREMENTAL): the flow's rows are rebuilt from the files
  under the prefix, in the order they arrived (a later file's row wins its key), so that what
  the old file brought goes; a file that fails to run brings nothing, as when it arrived.
- a commit to a source dataset (``{"kind": "datasets"}``): the query's result over the source
  tables becomes the flow's rows.
- by hand (``{"kind": "manual", "key": K}``): ``K`` runs as a new object; without a key, an
  INCREMENTAL flow is rebuilt from its prefix, a REPLACE flow runs its newest file.

"The flow's rows" are, on an ``asc`` dataset, those whose ``connection_id`` is the flow's name
(events and other flows write there too); on other datasets the flow owns the table. The
target is written in one Iceberg commit (``lake.flows_write``) that records the execution, so
an execution runs again after a crash without being applied twice. An S3 target gets one file
per execution.

Errors a person can act on (a bad file, SQL or value) make the execution FAILED with a message
saying where; anything else (the lake or a bucket unreachable) is raised for the loader to retry.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from supplylake.flows.buckets import Buckets, bucket_name
from supplylake.flows.convert import ConversionError, lines_of, to_target
from supplylake.flows.dedupe import dedupe
from supplylake.flows.definition import (
    DatasetOptions,
    FileType,
    FlowDefinition,
)
from supplylake.flows.errors import ExecutionError
from supplylake.flows.files import LINE_COLUMN, SourceFile, open_source_file
from supplylake.flows.inputs import Inputs, LazyFile, Plan, Run
from supplylake.flows.output import diagnostics_prefix, result_key, write_rows, write_table
from supplylake.flows.rules import DatasetLookup
from supplylake.flows.sql import run_transformation
from supplylake.lake import Lake
from supplylake.lake.flows_write import (
    FlowWriter,
    Owner,
    WriteMode,
    committed_rows,
    flow_applied,
)
from supplylake.schema.asc import ASC_NAMESPACE, CONNECTION_ID
from supplylake.schema.types import DatasetSchema

#: asc fields that a row may leave out and then hold the time the execution wrote it.
LOAD_TIME_FIELDS = ("db_creation_dttm", "db_updation_dttm")


@dataclass(frozen=True)
class Execution:
    """What to run: the flow as it is now, and the execution's id, order and trigger."""

    flow: FlowDefinition
    execution_id: str
    seq: int
    trigger: Mapping[str, Any]


@dataclass(frozen=True)
class Outcome:
    """How an execution ended (``already``: a previous run of it had committed)."""

    succeeded: bool
    message: str | None = None
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    diagnostics_uri: str | None = None
    #: ``(namespace, name)`` of the dataset committed to, if any.
    committed: tuple[str, str] | None = None
    already: bool = False


@dataclass
class _Counts:
    read: int = 0
    rejected: int = 0
    skipped: list[str] = field(default_factory=list)


@dataclass
class Executor:
    """Runs executions against a lake and the instance buckets."""

    lake: Lake
    buckets: Buckets
    datasets: DatasetLookup
    spool_dir: Path | None = None
    #: The SQL engine's memory; beyond it, it spills to ``spool_dir``.
    memory_limit: str | None = "512MB"
    #: Entered (with instance, namespace and dataset) around a commit to a dataset, to keep
    #: the dataset's other writers out meanwhile.
    exclusive: Callable[[str, str, str], AbstractContextManager[Any]] | None = None

    def run(self, execution: Execution) -> Outcome:
        """Run one execution; FAILED outcomes for errors a person can act on."""
        counts = _Counts()
        flow = execution.flow
        diagnostics = diagnostics_prefix(flow.name, execution.execution_id)
        bucket = bucket_name(flow.instance_id)
        try:
            outcome = self._run(execution, counts, bucket, diagnostics)
        except ConversionError as e:
            return Outcome(
                False,
                e.message,
                counts.read,
                0,
                e.count,
                self.buckets.uri(bucket, diagnostics),
            )
        except ExecutionError as e:
            return Outcome(False, e.message, counts.read, rows_rejected=counts.rejected)
        return outcome

    # -- the run -------------------------------------------------------------------------------
    def _run(self, execution: Execution, counts: _Counts, bucket: str, diagnostics: str) -> Outcome:
        flow = execution.flow
        plan = Inputs(self.lake, self.buckets, self.datasets).plan(execution)
        if flow.target.s3 is not None:
            return self._to_s3(execution, plan, counts)
        assert flow.target.dataset is not None
        ref = flow.target.dataset.ref
        schema = self.datasets(ref)
        if schema is None:
            raise ExecutionError(f"The target dataset {ref} no longer exists.")
        table = self.lake.open_table(
            flow.instance_id, ref.namespace, schema, create=ref.namespace == ASC_NAMESPACE
        )
        if flow_applied(table, flow.name, execution.seq):
            written = committed_rows(table, execution.execution_id)
            return Outcome(
                True, None, 0, written, committed=(ref.namespace, ref.name), already=True
            )
        options = flow.target.dataset.options or DatasetOptions()
        shared = ref.namespace == ASC_NAMESPACE
        owner = Owner(CONNECTION_ID, flow.name) if shared else None
        mode = (
            plan.mode if schema.primary_keys or plan.mode is WriteMode.REPLACE else WriteMode.APPEND
        )
        writer = FlowWriter(
            table,
            schema,
            flow=flow.name,
            execution_id=execution.execution_id,
            seq=execution.seq,
            mode=mode,
            owner=owner,
            spool_dir=self.spool_dir,
        )
        fill = {CONNECTION_ID: flow.name} if shared else None
        loaded_at = datetime.now(UTC)
        # Rows are gathered only where keys must be compared across all of them.
        gather = bool(schema.primary_keys) and (options.dedupes or plan.rebuild)
        try:
            gathered: list[pa.Table] = []
            for run in plan.runs:
                rows = self._converted(run, flow, schema, fill, loaded_at, counts, diagnostics)
                if not (gather or plan.rebuild):
                    for chunk in rows:
                        writer.add(chunk)
                    continue
                try:
                    # One file of a rebuild brings all its rows or none.
                    part = list(rows)
                except ExecutionError as e:
                    if not plan.rebuild:
                        raise
                    counts.skipped.append(e.message)
                    continue
                if gather:
                    gathered += part
                else:
                    for chunk in part:
                        writer.add(chunk)
            dropped = 0
            if gathered:
                whole = pa.concat_tables(gathered)
                if options.dedupes or plan.rebuild:
                    fields = options.dedupe_fields if options.dedupes else None
                    deduped = dedupe(whole, schema.primary_keys, fields)
                    whole, dropped = deduped.kept, deduped.dropped.num_rows
                    if dropped and options.dedupes:
                        write_table(
                            self.buckets,
                            bucket,
                            f"{diagnostics}dropped-duplicates.csv",
                            deduped.dropped,
                        )
                writer.add(whole)
            if shared and not options.dedupes:
                _refuse_duplicates(writer)
            guard = (
                self.exclusive(flow.instance_id, ref.namespace, ref.name)
                if self.exclusive is not None
                else contextlib.nullcontext()
            )
            with guard:
                result = writer.commit(
                    lambda: self.lake.table(flow.instance_id, ref.namespace, schema.name)
                )
        except BaseException:
            writer.abort()
            raise
        message = _skipped_message(counts.skipped)
        return Outcome(
            True,
            message,
            counts.read,
            result.rows_added,
            counts.rejected,
            self.buckets.uri(bucket, diagnostics) if dropped and options.dedupes else None,
            committed=(ref.namespace, ref.name),
            already=result.already,
        )

    def _to_s3(self, execution: Execution, plan: Plan, counts: _Counts) -> Outcome:
        target = execution.flow.target.s3
        assert target is not None
        file_type = target.file_type or FileType.CSV
        key = result_key(target.prefix, execution.flow.name, execution.execution_id, file_type)
        if not plan.runs:
            raise ExecutionError("There is no source file to run.")
        first = self._result(plan.runs[0], execution.flow, counts)
        schema = pa.schema([f for f in first.schema if f.name != LINE_COLUMN])

        def batches() -> Iterator[pa.RecordBatch]:
            # One result open at a time: the rows stream from the files to the spooled output.
            for n, run in enumerate(plan.runs):
                result = first if n == 0 else self._result(run, execution.flow, counts)
                for batch in result:
                    yield batch.select(schema.names)

        written = write_rows(
            self.buckets, target.bucket_name, key, schema, batches(), file_type, self.spool_dir
        )
        return Outcome(True, None, counts.read, written)

    # -- one run of the transformation -----------------------------------------------------------
    def _result(self, run: Run, flow: FlowDefinition, counts: _Counts) -> pa.RecordBatchReader:
        sources: dict[str, Any] = {}
        stack = contextlib.ExitStack()
        try:
            for name, value in run.tables.items():
                is_file = isinstance(value, LazyFile)
                sources[name] = self._open(value, stack).reader() if is_file else value
            if run.source is not None and run.obj is not None:
                opened = self._open(LazyFile(run.obj, run.source), stack)
                sources[run.source.source_name] = _counted(opened.reader(lines=True), counts)
            result = run_transformation(
                flow.transformation,
                sources,
                memory_limit=self.memory_limit,
                temp_directory=self.spool_dir,
            )
        except BaseException:
            stack.close()
            raise
        return pa.RecordBatchReader.from_batches(result.schema, _closing(result, stack))

    def _open(self, lazy: LazyFile, stack: contextlib.ExitStack) -> SourceFile:
        s3 = lazy.source.s3
        assert s3 is not None
        stream = stack.enter_context(self.buckets.open_object(s3.bucket_name, lazy.obj.key))
        uri = self.buckets.uri(s3.bucket_name, lazy.obj.key)
        opened = open_source_file(stream, uri, s3.file_type, spool_dir=self.spool_dir)
        return stack.enter_context(opened)

    def _converted(
        self,
        run: Run,
        flow: FlowDefinition,
        schema: DatasetSchema,
        fill: Mapping[str, str] | None,
        loaded_at: datetime,
        counts: _Counts,
        diagnostics: str,
    ) -> Iterator[pa.Table]:
        name = (
            self.buckets.uri(run.source.s3.bucket_name, run.obj.key)
            if run.source is not None and run.source.s3 is not None and run.obj is not None
            else "The transformation's result"
        )
        result = self._result(run, flow, counts)
        first = 0
        for batch in result:
            rows, lines = lines_of(batch)
            try:
                yield to_target(
                    rows,
                    schema,
                    source=name,
                    lines=lines,
                    first_row=first,
                    fill=fill,
                    loaded_at=loaded_at,
                    load_time_fields=LOAD_TIME_FIELDS if fill else (),
                )
            except ConversionError as e:
                self._reject(rows, lines, e, flow, diagnostics)
                raise
            first += rows.num_rows

    def _reject(
        self,
        rows: pa.Table,
        lines: pa.Array | None,
        error: ConversionError,
        flow: FlowDefinition,
        diagnostics: str,
    ) -> None:
        """Write the rows that do not convert to the diagnostics folder, as text."""
        if not error.rows:
            return
        taken = rows.take(pa.array(error.rows, pa.int64()))
        text = pa.table({n: taken.column(n).cast(pa.string()) for n in taken.column_names})
        if lines is not None:
            text = text.add_column(0, "line", lines.take(pa.array(error.rows, pa.int64())))
        write_table(
            self.buckets, bucket_name(flow.instance_id), f"{diagnostics}rejected-rows.csv", text
        )


def _counted(reader: pa.RecordBatchReader, counts: _Counts) -> pa.RecordBatchReader:
    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            counts.read += batch.num_rows
            yield batch

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def _closing(reader: pa.RecordBatchReader, stack: contextlib.ExitStack) -> Iterator[pa.RecordBatch]:
    with stack:
        yield from reader


def _refuse_duplicates(writer: FlowWriter) -> None:
    """Duplicate primary keys into an asc dataset fail the execution (without dedupe)."""
    found = writer.duplicate_keys()
    if found is None:
        return
    shown = ", ".join(f"{k}={v!r}" for k, v in found.first.items())
    plural = "s" if found.keys > 1 else ""
    raise ExecutionError(
        f"{found.keys} primary key value{plural} occur in more than one row (first: {shown}, "
        f"in {found.rows} rows): an asc dataset takes one row per key. Set the target's "
        "dedupeRecords to true to keep one, or fix the data."
    )


def _skipped_message(skipped: list[str]) -> str | None:
    if not skipped:
        return None
    shown = "; ".join(skipped[:3])
    more = f" (and {len(skipped) - 3} more)" if len(skipped) > 3 else ""
    return f"Files skipped because they fail to run: {shown}{more}"
