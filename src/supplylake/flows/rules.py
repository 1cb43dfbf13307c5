"""The rules of a flow that need to know other things: its datasets, its bucket, other flows.

The service answers the questions through a lookup callable, so this module stays free of the
store: ``DatasetLookup`` gives a dataset's schema (None when it does not exist), and the flows
of the instance are passed in. A flow may not feed, directly or through other flows, a dataset
or an S3 prefix it reads: each execution would start the next one, for ever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from supplylake.flows.buckets import bucket_name
from supplylake.flows.definition import (
    DatasetEndpoint,
    DatasetRef,
    FlowDefinition,
    S3Location,
    dataset_sources,
)
from supplylake.flows.errors import FlowResourceNotFoundError, FlowValidationError
from supplylake.schema.types import DatasetSchema

#: The schema of a dataset of the flow's instance, or None when it does not exist.
DatasetLookup = Callable[[DatasetRef], DatasetSchema | None]


@dataclass(frozen=True)
class _Node:
    """What a flow reads or writes: a dataset, or an S3 bucket and key prefix."""

    kind: str  # "dataset" or "s3"
    bucket_or_namespace: str
    prefix_or_name: str

    def feeds(self, read: _Node) -> bool:
        """Whether writing this node makes new data appear in ``read``."""
        if self.kind != read.kind or self.bucket_or_namespace != read.bucket_or_namespace:
            return False
        if self.kind == "dataset":
            return self.prefix_or_name == read.prefix_or_name
        # Files go under the target prefix, so a source whose prefix contains it sees them.
        return self.prefix_or_name.startswith(read.prefix_or_name)

    def describe(self) -> str:
        if self.kind == "dataset":
            return f"dataset {self.bucket_or_namespace}.{self.prefix_or_name}"
        return f"s3://{self.bucket_or_namespace}/{self.prefix_or_name}"


def check_flow(
    flow: FlowDefinition, datasets: DatasetLookup, flows: Iterable[FlowDefinition] = ()
) -> dict[DatasetRef, DatasetSchema]:
    """Check the rules across resources; answers the schema of every dataset the flow names.

    ``flows`` are the instance's other flows (one of the same name is the flow being replaced
    and is skipped). Raises FlowValidationError or FlowResourceNotFoundError.
    """
    bucket = bucket_name(flow.instance_id)
    for i, source in enumerate(flow.sources):
        if source.s3 is not None:
            _check_bucket(source.s3, bucket, f"sources[{i}].s3Source")
    if flow.target.s3 is not None:
        _check_bucket(flow.target.s3, bucket, "target.s3Target")
    schemas: dict[DatasetRef, DatasetSchema] = {}
    endpoints = list(dataset_sources(flow))
    if flow.target.dataset is not None:
        endpoints.append(("target.datasetTarget", flow.target.dataset))
    for path, endpoint in endpoints:
        schema = schemas.get(endpoint.ref) or datasets(endpoint.ref)
        if schema is None:
            raise FlowResourceNotFoundError(
                f"{path}.datasetIdentifier: dataset {endpoint.ref} does not exist in instance "
                f"{flow.instance_id}."
            )
        schemas[endpoint.ref] = schema
        _check_dedupe(endpoint, schema, f"{path}.options")
    _check_no_cycle(flow, [f for f in flows if f.name != flow.name])
    return schemas


def _check_bucket(loc: S3Location, bucket: str, path: str) -> None:
    if loc.bucket_name != bucket:
        raise FlowValidationError(
            f"{path}.bucketName {loc.bucket_name!r} is not the instance's bucket: "
            f"flows read and write {bucket}."
        )


def _check_dedupe(endpoint: DatasetEndpoint, schema: DatasetSchema, path: str) -> None:
    options = endpoint.options
    if options is None or not options.dedupes:
        return
    if not schema.primary_keys:
        raise FlowValidationError(
            f"{path}.dedupeRecords: dataset {endpoint.ref} has no primary key to dedupe by."
        )
    for i, f in enumerate(options.dedupe_fields or ()):
        member = f"{path}.dedupeStrategy.fieldPriority.fields[{i}].name"
        if schema.field(f.name) is None:
            raise FlowValidationError(
                f"{member} {f.name!r} is not a field of dataset {endpoint.ref}."
            )
        if f.name in schema.primary_keys:
            raise FlowValidationError(
                f"{member} {f.name!r} is a primary key of dataset {endpoint.ref}: rows with the "
                "same key have the same value there, so it cannot choose between them."
            )


def _reads(flow: FlowDefinition) -> list[_Node]:
    nodes = []
    for s in flow.sources:
        if s.dataset is not None:
            nodes.append(_Node("dataset", s.dataset.ref.namespace, s.dataset.ref.name))
        elif s.s3 is not None:
            nodes.append(_Node("s3", s.s3.bucket_name, s.s3.key_prefix))
    return nodes


def _writes(flow: FlowDefinition) -> _Node:
    t = flow.target
    if t.dataset is not None:
        return _Node("dataset", t.dataset.ref.namespace, t.dataset.ref.name)
    assert t.s3 is not None
    return _Node("s3", t.s3.bucket_name, t.s3.key_prefix)


def _check_no_cycle(flow: FlowDefinition, others: list[FlowDefinition]) -> None:
    reads = _reads(flow)
    member = (
        "target.datasetTarget.datasetIdentifier"
        if flow.target.dataset is not None
        else "target.s3Target.prefix"
    )
    # Breadth-first from what the flow writes, through the flows that read it.
    start = _writes(flow)
    paths: list[tuple[_Node, tuple[str, ...]]] = [(start, ())]
    visited: set[str] = set()
    while paths:
        node, via = paths.pop(0)
        for read in reads:
            if node.feeds(read):
                through = f" (through flow {' then '.join(via)})" if via else ""
                raise FlowValidationError(
                    f"{member}: flow {flow.name} would feed {read.describe()}, which it "
                    f"reads{through}: every execution would start another."
                )
        for other in others:
            if other.name not in visited and any(node.feeds(r) for r in _reads(other)):
                visited.add(other.name)
                paths.append((_writes(other), (*via, other.name)))
