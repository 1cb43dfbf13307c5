"""What an execution reads: the runs of the transformation its trigger asks for.

A run is one pass of the transformation: the file it runs on (for its S3 source) and the tables
of the other sources, each the newest file under its prefix or a dataset at its latest commit.
How an execution's trigger maps to runs and to a write mode is described in ``flows.execute``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from supplylake.flows.buckets import Buckets, ObjectInfo
from supplylake.flows.definition import FlowDefinition, LoadType, Source, SourceType
from supplylake.flows.errors import ExecutionError
from supplylake.flows.rules import DatasetLookup
from supplylake.lake import Lake
from supplylake.lake.errors import TableNotFoundError
from supplylake.lake.flows_write import WriteMode
from supplylake.schema.arrow_types import arrow_schema

if TYPE_CHECKING:
    from supplylake.flows.execute import Execution


@dataclass(frozen=True)
class LazyFile:
    """A source file, opened when the run reads it."""

    obj: ObjectInfo
    source: Source


@dataclass(frozen=True)
class Run:
    """One run of the transformation: the other sources' tables, and the file it runs on."""

    tables: Mapping[str, Any]
    source: Source | None = None
    obj: ObjectInfo | None = None


@dataclass(frozen=True)
class Plan:
    """The runs of an execution and how their rows are written."""

    mode: WriteMode
    runs: Sequence[Run]
    #: The flow's rows are rebuilt from several files: a failing one is skipped.
    rebuild: bool = False


def load_type_of(flow: FlowDefinition) -> LoadType:
    target = flow.target.dataset
    if target is None or target.options is None:
        return LoadType.INCREMENTAL
    return target.options.effective_load_type


def _source_of(flow: FlowDefinition, key: str) -> Source:
    """The S3 source whose prefix holds ``key`` (the longest prefix, if several do)."""
    best: Source | None = None
    for source in flow.sources:
        if source.source_type is not SourceType.S3 or source.s3 is None:
            continue
        if key.startswith(source.s3.key_prefix) and (
            best is None or best.s3 is None or len(source.s3.key_prefix) > len(best.s3.key_prefix)
        ):
            best = source
    if best is None:
        raise ExecutionError(f"{key} is under the prefix of none of the flow's S3 sources.")
    return best


@dataclass
class Inputs:
    """Plans executions against the lake (dataset sources) and the buckets (files)."""

    lake: Lake
    buckets: Buckets
    datasets: DatasetLookup

    def plan(self, execution: Execution) -> Plan:
        """What an execution reads, by its trigger (see the module's docstring)."""
        flow = execution.flow
        trigger = execution.trigger
        kind = trigger.get("kind")
        s3_sources = [s for s in flow.sources if s.s3 is not None]
        load_type = load_type_of(flow)
        incremental = load_type is LoadType.INCREMENTAL
        key = trigger.get("key")
        if kind == "datasets" or (kind == "manual" and not s3_sources):
            return Plan(WriteMode.REPLACE, [Run(self._others(flow, None))], rebuild=False)
        if not s3_sources:
            raise ExecutionError("The flow has no S3 source to read an object from.")
        rewritten = kind == "object" and bool(trigger.get("rewritten"))
        if kind in ("object", "manual") and key and not (rewritten and incremental):
            source = _source_of(flow, str(key))
            obj = self._object(source, str(key))
            mode = WriteMode.REPLACE if load_type is LoadType.REPLACE else WriteMode.UPSERT
            return Plan(mode, [Run(self._others(flow, source), source, obj)])
        source = _source_of(flow, str(key)) if key else s3_sources[0]
        objects = self._listed(source)
        if load_type is LoadType.REPLACE:
            if kind == "removed":
                return Plan(WriteMode.APPEND, [])
            if not objects:
                raise ExecutionError(f"There is no file under {self.prefix_uri(source)}.")
            return Plan(WriteMode.REPLACE, [Run(self._others(flow, source), source, objects[-1])])
        others = self._others(flow, source)
        runs = [Run(others, source, obj) for obj in objects]
        return Plan(WriteMode.REPLACE, runs, rebuild=True)

    def _others(self, flow: FlowDefinition, running: Source | None) -> dict[str, Any]:
        """The tables of the sources other than the one a file runs against."""
        tables: dict[str, Any] = {}
        for source in flow.sources:
            if running is not None and source.source_name == running.source_name:
                continue
            if source.dataset is not None:
                ref = source.dataset.ref
                schema = self.datasets(ref)
                if schema is None:
                    raise ExecutionError(f"The source dataset {ref} no longer exists.")
                try:
                    tables[source.source_name] = self.lake.scan(
                        flow.instance_id, ref.namespace, ref.name
                    )
                except TableNotFoundError:
                    tables[source.source_name] = arrow_schema(schema).empty_table()
            elif source.s3 is not None:
                objects = self._listed(source)
                if not objects:
                    raise ExecutionError(
                        f"Source {source.source_name} has no file yet under "
                        f"{self.prefix_uri(source)}."
                    )
                tables[source.source_name] = LazyFile(objects[-1], source)
        return tables

    def _listed(self, source: Source) -> list[ObjectInfo]:
        assert source.s3 is not None
        listed = self.buckets.list_objects(source.s3.bucket_name, source.s3.key_prefix)
        return sorted(listed, key=lambda o: (o.mtime_ns, o.key))

    def _object(self, source: Source, key: str) -> ObjectInfo:
        assert source.s3 is not None
        for obj in self.buckets.list_objects(source.s3.bucket_name, key):
            if obj.key == key:
                return obj
        raise ExecutionError(f"{self.buckets.uri(source.s3.bucket_name, key)} does not exist.")

    def prefix_uri(self, source: Source) -> str:
        assert source.s3 is not None
        return self.buckets.uri(source.s3.bucket_name, source.s3.key_prefix)
