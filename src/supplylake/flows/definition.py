"""A data integration flow as a typed domain object, built from the parsed request.

The aws/ layer has already checked everything the service model constrains (lengths, patterns,
enums, required members), so this module reads the snake_case params as valid and checks only
what the model cannot say: the rules across members. Errors name the member the way a client
wrote it (``sources[0].s3Source``). Members a client did not send stay None, so ``to_params``
answers exactly what was sent, as AWS does.

The rules that need the store (datasets that exist, other flows) live in ``flows.rules``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from supplylake.flows.errors import FlowValidationError


class SourceType(StrEnum):
    S3 = "S3"
    DATASET = "DATASET"


class TargetType(StrEnum):
    S3 = "S3"
    DATASET = "DATASET"


class FileType(StrEnum):
    CSV = "CSV"
    PARQUET = "PARQUET"
    JSON = "JSON"


class TransformationType(StrEnum):
    SQL = "SQL"
    NONE = "NONE"


class LoadType(StrEnum):
    INCREMENTAL = "INCREMENTAL"
    REPLACE = "REPLACE"


class SortOrder(StrEnum):
    ASC = "ASC"
    DESC = "DESC"


@dataclass(frozen=True)
class DedupeField:
    name: str
    sort_order: SortOrder


@dataclass(frozen=True)
class DatasetOptions:
    """A dataset source's or target's options; None where the client sent nothing."""

    load_type: LoadType | None = None
    dedupe_records: bool | None = None
    #: ``dedupeStrategy`` FIELD_PRIORITY's fields, highest priority first; None without a strategy.
    dedupe_fields: tuple[DedupeField, ...] | None = None

    @property
    def effective_load_type(self) -> LoadType:
        return self.load_type or LoadType.INCREMENTAL

    @property
    def dedupes(self) -> bool:
        """Whether duplicate primary keys are deduped (a strategy alone asks for it too)."""
        return bool(self.dedupe_records) or (
            self.dedupe_records is None and self.dedupe_fields is not None
        )


@dataclass(frozen=True)
class DatasetRef:
    """A dataset named by its ARN: ``arn:aws:scn:<region>:<account>:instance/<id>/namespaces/<ns>/datasets/<name>``."""

    region: str
    account_id: str
    instance_id: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}.{self.name}"


@dataclass(frozen=True)
class DatasetEndpoint:
    """A dataset a flow reads or writes: the identifier as sent, and what it names."""

    identifier: str
    ref: DatasetRef
    options: DatasetOptions | None = None


@dataclass(frozen=True)
class S3Location:
    bucket_name: str
    prefix: str
    #: None when the client sent no ``options``; ``file_type`` None inside them means "by extension".
    options_sent: bool = False
    file_type: FileType | None = None

    @property
    def key_prefix(self) -> str:
        """The prefix keys start with: ``a/b`` and ``/a/b/`` both mean ``a/b/``, empty the bucket."""
        stripped = self.prefix.strip("/")
        return f"{stripped}/" if stripped else ""


@dataclass(frozen=True)
class Source:
    source_type: SourceType
    source_name: str
    s3: S3Location | None = None
    dataset: DatasetEndpoint | None = None


@dataclass(frozen=True)
class Transformation:
    transformation_type: TransformationType
    #: The SQL, never shown in a repr or a message (the model marks it sensitive).
    query: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Target:
    target_type: TargetType
    s3: S3Location | None = None
    dataset: DatasetEndpoint | None = None


@dataclass(frozen=True)
class FlowDefinition:
    instance_id: str
    name: str
    sources: tuple[Source, ...]
    transformation: Transformation
    target: Target

    def source(self, name: str) -> Source | None:
        """The source a SQL table name means (Spark resolves names case-insensitively)."""
        for s in self.sources:
            if s.source_name.lower() == name.lower():
                return s
        return None

    def to_params(self) -> dict[str, Any]:
        """The flow's members as snake_case params (what Get answers, what the store keeps)."""
        return {
            "instance_id": self.instance_id,
            "name": self.name,
            "sources": [_source_params(s) for s in self.sources],
            "transformation": _transformation_params(self.transformation),
            "target": _target_params(self.target),
        }


#: The members UpdateDataIntegrationFlow may replace.
UPDATABLE = ("sources", "transformation", "target")

_DATASET_ARN = re.compile(
    r"arn:aws:scn:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):instance/(?P<instance>[a-f0-9-]{36})"
    r"/namespaces/(?P<namespace>[A-Za-z0-9_]+)/datasets/(?P<dataset>[A-Za-z0-9_]+)"
)


def build_flow(params: Mapping[str, Any]) -> FlowDefinition:
    """The flow of CreateDataIntegrationFlow's parsed params, or FlowValidationError."""
    instance_id = str(params["instance_id"])
    sources = tuple(
        _source(instance_id, raw, f"sources[{i}]") for i, raw in enumerate(params["sources"])
    )
    seen: dict[str, int] = {}
    for i, s in enumerate(sources):
        key = s.source_name.lower()
        if key in seen:
            raise FlowValidationError(
                f"sources[{i}].sourceName {s.source_name!r} is also the name of "
                f"sources[{seen[key]}]: source names must be unique in a flow "
                "(they are the table names of the SQL)."
            )
        seen[key] = i
    transformation = _transformation(params["transformation"])
    if transformation.transformation_type is TransformationType.NONE and len(sources) != 1:
        raise FlowValidationError(
            "transformation.transformationType NONE passes one source through: this flow has "
            f"{len(sources)} sources; use SQL to combine them."
        )
    target = _target(instance_id, params["target"])
    return FlowDefinition(instance_id, str(params["name"]), sources, transformation, target)


def merge_update(current: FlowDefinition, params: Mapping[str, Any]) -> FlowDefinition:
    """The flow after UpdateDataIntegrationFlow: members given replace, the rest are kept."""
    merged = current.to_params()
    for member in UPDATABLE:
        if params.get(member) is not None:
            merged[member] = params[member]
    return build_flow(merged)


def parse_dataset_arn(identifier: str, member: str) -> DatasetRef:
    """The dataset an ARN names, or FlowValidationError naming ``member``."""
    m = _DATASET_ARN.fullmatch(identifier)
    if m is None:
        raise FlowValidationError(
            f"{member} {identifier!r} is not a dataset ARN "
            "(arn:aws:scn:<region>:<account>:instance/<id>/namespaces/<namespace>/datasets/<name>)."
        )
    return DatasetRef(
        m["region"], m["account"], m["instance"], m["namespace"].lower(), m["dataset"].lower()
    )


# -- from params ---------------------------------------------------------------------------
def _source(instance_id: str, raw: Mapping[str, Any], path: str) -> Source:
    source_type = SourceType(raw["source_type"])
    s3_raw: Any = raw.get("s3_source")
    ds_raw: Any = raw.get("dataset_source")
    _one_of(source_type, s3_raw, ds_raw, path, "sourceType", "s3Source", "datasetSource")
    if source_type is SourceType.S3:
        return Source(source_type, str(raw["source_name"]), s3=_s3(s3_raw))
    dataset = _dataset(instance_id, ds_raw, f"{path}.datasetSource")
    return Source(source_type, str(raw["source_name"]), dataset=dataset)


def _target(instance_id: str, raw: Mapping[str, Any]) -> Target:
    target_type = TargetType(raw["target_type"])
    s3_raw: Any = raw.get("s3_target")
    ds_raw: Any = raw.get("dataset_target")
    _one_of(target_type, s3_raw, ds_raw, "target", "targetType", "s3Target", "datasetTarget")
    if target_type is TargetType.S3:
        return Target(target_type, s3=_s3(s3_raw))
    return Target(target_type, dataset=_dataset(instance_id, ds_raw, "target.datasetTarget"))


def _one_of(
    kind: StrEnum,
    s3: Any,
    dataset: Any,
    path: str,
    type_member: str,
    s3_member: str,
    ds_member: str,
) -> None:
    wanted, unwanted = (s3_member, ds_member) if kind.value == "S3" else (ds_member, s3_member)
    given = {s3_member: s3, ds_member: dataset}
    if given[wanted] is None:
        raise FlowValidationError(f"{path}.{wanted} is required when {type_member} is {kind}.")
    if given[unwanted] is not None:
        raise FlowValidationError(
            f"{path}.{unwanted} must not be given when {type_member} is {kind}."
        )


def _s3(raw: Mapping[str, Any]) -> S3Location:
    options = raw.get("options")
    file_type = options.get("file_type") if options is not None else None
    return S3Location(
        bucket_name=str(raw["bucket_name"]),
        prefix=str(raw["prefix"]),
        options_sent=options is not None,
        file_type=FileType(file_type) if file_type is not None else None,
    )


def _dataset(instance_id: str, raw: Mapping[str, Any], path: str) -> DatasetEndpoint:
    identifier = str(raw["dataset_identifier"])
    ref = parse_dataset_arn(identifier, f"{path}.datasetIdentifier")
    if ref.instance_id != instance_id:
        raise FlowValidationError(
            f"{path}.datasetIdentifier names a dataset of instance {ref.instance_id}: "
            f"a flow of instance {instance_id} reads and writes its own instance's datasets."
        )
    options = raw.get("options")
    return DatasetEndpoint(
        identifier, ref, _options(options, f"{path}.options") if options is not None else None
    )


def _options(raw: Mapping[str, Any], path: str) -> DatasetOptions:
    load_type = raw.get("load_type")
    dedupe_records = raw.get("dedupe_records")
    strategy = raw.get("dedupe_strategy")
    fields: tuple[DedupeField, ...] | None = None
    if strategy is not None:
        priority = strategy.get("field_priority")
        if priority is None:
            raise FlowValidationError(
                f"{path}.dedupeStrategy.fieldPriority is required when type is FIELD_PRIORITY."
            )
        fields = tuple(
            DedupeField(str(f["name"]), SortOrder(f["sort_order"])) for f in priority["fields"]
        )
        names = [f.name for f in fields]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise FlowValidationError(
                    f"{path}.dedupeStrategy.fieldPriority.fields[{i}].name {name!r} is listed "
                    "more than once."
                )
        if dedupe_records is False:
            raise FlowValidationError(
                f"{path}.dedupeStrategy is given but dedupeRecords is false: set dedupeRecords "
                "to true (or leave it out) to dedupe by the strategy."
            )
    return DatasetOptions(
        load_type=LoadType(load_type) if load_type is not None else None,
        dedupe_records=bool(dedupe_records) if dedupe_records is not None else None,
        dedupe_fields=fields,
    )


def _transformation(raw: Mapping[str, Any]) -> Transformation:
    kind = TransformationType(raw["transformation_type"])
    sql = raw.get("sql_transformation")
    if kind is TransformationType.SQL and sql is None:
        raise FlowValidationError(
            "transformation.sqlTransformation is required when transformationType is SQL."
        )
    return Transformation(kind, str(sql["query"]) if sql is not None else None)


# -- to params -----------------------------------------------------------------------------
def _source_params(s: Source) -> dict[str, Any]:
    out: dict[str, Any] = {"source_type": s.source_type.value, "source_name": s.source_name}
    if s.s3 is not None:
        out["s3_source"] = _s3_params(s.s3)
    if s.dataset is not None:
        out["dataset_source"] = _dataset_params(s.dataset)
    return out


def _target_params(t: Target) -> dict[str, Any]:
    out: dict[str, Any] = {"target_type": t.target_type.value}
    if t.s3 is not None:
        out["s3_target"] = _s3_params(t.s3)
    if t.dataset is not None:
        out["dataset_target"] = _dataset_params(t.dataset)
    return out


def _s3_params(loc: S3Location) -> dict[str, Any]:
    out: dict[str, Any] = {"bucket_name": loc.bucket_name, "prefix": loc.prefix}
    if loc.options_sent:
        out["options"] = {} if loc.file_type is None else {"file_type": loc.file_type.value}
    return out


def _dataset_params(d: DatasetEndpoint) -> dict[str, Any]:
    out: dict[str, Any] = {"dataset_identifier": d.identifier}
    if d.options is not None:
        options: dict[str, Any] = {}
        if d.options.load_type is not None:
            options["load_type"] = d.options.load_type.value
        if d.options.dedupe_records is not None:
            options["dedupe_records"] = d.options.dedupe_records
        if d.options.dedupe_fields is not None:
            options["dedupe_strategy"] = {
                "type": "FIELD_PRIORITY",
                "field_priority": {
                    "fields": [
                        {"name": f.name, "sort_order": f.sort_order.value}
                        for f in d.options.dedupe_fields
                    ]
                },
            }
        out["options"] = options
    return out


def _transformation_params(t: Transformation) -> dict[str, Any]:
    out: dict[str, Any] = {"transformation_type": t.transformation_type.value}
    if t.query is not None:
        out["sql_transformation"] = {"query": t.query}
    return out


def dataset_sources(flow: FlowDefinition) -> Sequence[tuple[str, DatasetEndpoint]]:
    """``(member path, endpoint)`` of every dataset the flow reads, in source order."""
    return [
        (f"sources[{i}].datasetSource", s.dataset)
        for i, s in enumerate(flow.sources)
        if s.dataset is not None
    ]
