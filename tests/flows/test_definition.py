"""The flow definition from a parsed request: cross-member rules, echo and the update merge."""

from __future__ import annotations

import pytest

from supplylake.flows.definition import (
    FileType,
    LoadType,
    SortOrder,
    TransformationType,
    build_flow,
    merge_update,
)
from supplylake.flows.errors import FlowValidationError
from tests.flows.wire import (
    BUCKET,
    INSTANCE,
    OTHER_INSTANCE,
    create,
    dataset_arn,
    dataset_source,
    dataset_target,
    parsed,
    s3_source,
    sql,
)


def _refused(params: dict[str, object]) -> str:
    with pytest.raises(FlowValidationError) as caught:
        build_flow(params)
    assert caught.value.code == "ValidationException"
    return caught.value.message


def test_aws_s3_to_dataset_example_builds_typed_members() -> None:
    flow = build_flow(create(tags={"tagKey1": "tagValue1"}))
    assert flow.instance_id == INSTANCE and flow.name == "orders-flow"
    (source,) = flow.sources
    assert source.s3 is not None and source.s3.bucket_name == BUCKET
    assert source.s3.key_prefix == "orders/" and source.s3.file_type is None
    assert flow.transformation.transformation_type is TransformationType.SQL
    assert flow.target.dataset is not None
    assert str(flow.target.dataset.ref) == "default.staging"


def test_params_echo_exactly_what_was_sent() -> None:
    params = create(
        sources=[s3_source(fileType="CSV"), dataset_source("prices", "default", "prices")],
        target=dataset_target(
            "asc",
            "trading_partner",
            loadType="REPLACE",
            dedupeRecords=True,
            dedupeStrategy={
                "type": "FIELD_PRIORITY",
                "fieldPriority": {"fields": [{"name": "eff_start_date", "sortOrder": "ASC"}]},
            },
        ),
    )
    flow = build_flow(params)
    expected = {k: v for k, v in params.items() if k != "tags"}
    assert flow.to_params() == expected
    assert build_flow(flow.to_params()) == flow
    options = flow.target.dataset.options if flow.target.dataset else None
    assert options is not None and options.load_type is LoadType.REPLACE and options.dedupes
    assert options.dedupe_fields is not None
    assert options.dedupe_fields[0].sort_order is SortOrder.ASC
    assert flow.sources[0].s3 is not None and flow.sources[0].s3.file_type is FileType.CSV


def test_options_left_out_stay_out() -> None:
    flow = build_flow(create())
    assert "options" not in flow.to_params()["sources"][0]["s3_source"]
    assert "options" not in flow.to_params()["target"]["dataset_target"]
    assert flow.target.dataset is not None and flow.target.dataset.options is None


def test_query_never_shows_in_repr() -> None:
    flow = build_flow(create(transformation=sql("SELECT secret_column FROM orders")))
    assert "secret_column" not in repr(flow)


@pytest.mark.parametrize(
    ("source", "member"),
    [
        ({"sourceType": "S3", "sourceName": "a"}, "sources[0].s3Source is required"),
        (
            {
                "sourceType": "DATASET",
                "sourceName": "a",
                "s3Source": {"bucketName": BUCKET, "prefix": "p"},
            },
            "sources[0].datasetSource is required",
        ),
        (
            {
                **s3_source(),
                "datasetSource": {"datasetIdentifier": dataset_arn("default", "x")},
            },
            "sources[0].datasetSource must not be given when sourceType is S3",
        ),
        (
            {
                **dataset_source("a", "default", "x"),
                "s3Source": {"bucketName": BUCKET, "prefix": "p"},
            },
            "sources[0].s3Source must not be given when sourceType is DATASET",
        ),
    ],
)
def test_source_type_needs_its_own_configuration(source: dict[str, object], member: str) -> None:
    assert member in _refused(create(sources=[source]))


def test_source_names_are_unique_ignoring_case() -> None:
    message = _refused(create(sources=[s3_source("orders"), s3_source("Orders", prefix="b")]))
    assert "sources[1].sourceName" in message and "sources[0]" in message


def test_sql_needs_its_query() -> None:
    message = _refused(create(transformation={"transformationType": "SQL"}))
    assert "transformation.sqlTransformation is required" in message


def test_none_passes_exactly_one_source() -> None:
    flow = build_flow(create(transformation={"transformationType": "NONE"}))
    assert flow.transformation.query is None
    message = _refused(
        create(
            sources=[s3_source("a"), s3_source("b", prefix="b")],
            transformation={"transformationType": "NONE"},
        )
    )
    assert "transformation.transformationType" in message


@pytest.mark.parametrize(
    ("target", "member"),
    [
        ({"targetType": "DATASET"}, "target.datasetTarget is required"),
        ({"targetType": "S3"}, "target.s3Target is required"),
        (
            {
                **dataset_target("default", "x"),
                "targetType": "S3",
                "s3Target": {"bucketName": BUCKET, "prefix": "out"},
            },
            "target.datasetTarget must not be given when targetType is S3",
        ),
    ],
)
def test_target_type_needs_its_own_configuration(target: dict[str, object], member: str) -> None:
    assert member in _refused(create(target=target))


def test_dataset_identifier_must_be_a_dataset_arn_of_the_same_instance() -> None:
    bad = {"targetType": "DATASET", "datasetTarget": {"datasetIdentifier": "default/staging"}}
    assert "target.datasetTarget.datasetIdentifier" in _refused(create(target=bad))
    other = {
        "targetType": "DATASET",
        "datasetTarget": {"datasetIdentifier": dataset_arn("default", "x", OTHER_INSTANCE)},
    }
    message = _refused(create(target=other))
    assert "target.datasetTarget.datasetIdentifier" in message and OTHER_INSTANCE in message


def test_field_priority_needs_its_fields_and_dedupe_not_disabled() -> None:
    no_fields = dataset_target("default", "x", dedupeStrategy={"type": "FIELD_PRIORITY"})
    assert "target.datasetTarget.options.dedupeStrategy.fieldPriority" in _refused(
        create(target=no_fields)
    )
    disabled = dataset_target(
        "default",
        "x",
        dedupeRecords=False,
        dedupeStrategy={
            "type": "FIELD_PRIORITY",
            "fieldPriority": {"fields": [{"name": "a", "sortOrder": "ASC"}]},
        },
    )
    assert "dedupeRecords is false" in _refused(create(target=disabled))
    twice = dataset_target(
        "default",
        "x",
        dedupeStrategy={
            "type": "FIELD_PRIORITY",
            "fieldPriority": {
                "fields": [{"name": "a", "sortOrder": "ASC"}, {"name": "a", "sortOrder": "DESC"}]
            },
        },
    )
    assert "fieldPriority.fields[1].name" in _refused(create(target=twice))


def test_update_replaces_given_members_and_keeps_the_rest() -> None:
    flow = build_flow(create())
    update = parsed(
        "UpdateDataIntegrationFlow",
        instanceId=INSTANCE,
        name=flow.name,
        target=dataset_target("default", "staging", loadType="REPLACE"),
    )
    updated = merge_update(flow, update)
    assert updated.sources == flow.sources
    assert updated.transformation == flow.transformation
    assert updated.target.dataset is not None and updated.target.dataset.options is not None
    assert updated.target.dataset.options.load_type is LoadType.REPLACE
    # botocore sends {} for an update with nothing optional: the flow stays as it was.
    assert (
        merge_update(flow, parsed("UpdateDataIntegrationFlow", instanceId=INSTANCE, name=flow.name))
        == flow
    )


def test_update_is_checked_like_a_create() -> None:
    flow = build_flow(create())
    update = parsed(
        "UpdateDataIntegrationFlow",
        instanceId=INSTANCE,
        name=flow.name,
        sources=[s3_source("a"), s3_source("b", prefix="b")],
    )
    # Two sources, and the kept query still reads the old one: fine for the definition, the
    # SQL is the execution's business; NONE would not be.
    assert len(merge_update(flow, update).sources) == 2
    none = merge_update(
        flow,
        parsed(
            "UpdateDataIntegrationFlow",
            instanceId=INSTANCE,
            name=flow.name,
            transformation={"transformationType": "NONE"},
        ),
    )
    with pytest.raises(FlowValidationError):
        merge_update(none, update)
