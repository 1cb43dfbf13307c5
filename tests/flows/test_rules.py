"""Rules across resources: datasets that exist, dedupe fields, the instance bucket, no cycles."""

from __future__ import annotations

from typing import Any

import pytest

from supplylake.flows.definition import DatasetRef, FlowDefinition, build_flow
from supplylake.flows.errors import FlowResourceNotFoundError, FlowValidationError
from supplylake.flows.rules import check_flow
from supplylake.schema.types import DatasetSchema, Field, FieldType
from tests.flows.wire import BUCKET, create, dataset_source, dataset_target, s3_source, sql

PARTNER = DatasetSchema(
    "trading_partner",
    (
        Field("id", FieldType.STRING, True),
        Field("tpartner_type", FieldType.STRING),
        Field("eff_start_date", FieldType.TIMESTAMP),
        Field("description", FieldType.STRING),
    ),
    ("id", "tpartner_type"),
)
STAGING = DatasetSchema("staging", (Field("id", FieldType.STRING),))
SCHEMAS = {
    ("asc", "trading_partner"): PARTNER,
    ("default", "staging"): STAGING,
    ("default", "staging1"): STAGING,
    ("default", "staging2"): STAGING,
}


def _lookup(ref: DatasetRef) -> DatasetSchema | None:
    return SCHEMAS.get((ref.namespace, ref.name))


def _flow(name: str = "f", **members: Any) -> FlowDefinition:
    return build_flow(create(name, **members))


def _priority(*fields: tuple[str, str]) -> dict[str, Any]:
    return {
        "type": "FIELD_PRIORITY",
        "fieldPriority": {"fields": [{"name": n, "sortOrder": o} for n, o in fields]},
    }


def test_aws_dataset_join_example_passes_and_answers_the_schemas() -> None:
    flow = _flow(
        sources=[
            dataset_source("testSourceName1", "default", "staging1"),
            dataset_source("testSourceName2", "default", "staging2"),
        ],
        transformation=sql(
            "SELECT S1.id AS id FROM testSourceName1 AS S1 LEFT JOIN testSourceName2 as S2 "
            "ON S1.id=S2.id"
        ),
        target=dataset_target(
            "asc",
            "trading_partner",
            loadType="REPLACE",
            dedupeRecords=True,
            dedupeStrategy=_priority(("eff_start_date", "ASC")),
        ),
    )
    schemas = check_flow(flow, _lookup)
    assert {str(r) for r in schemas} == {
        "default.staging1",
        "default.staging2",
        "asc.trading_partner",
    }


def test_missing_dataset_is_not_found_naming_the_member() -> None:
    flow = _flow(target=dataset_target("default", "nowhere"))
    with pytest.raises(FlowResourceNotFoundError) as caught:
        check_flow(flow, _lookup)
    assert caught.value.code == "ResourceNotFoundException"
    assert "target.datasetTarget.datasetIdentifier" in caught.value.message
    flow = _flow(
        sources=[dataset_source("a", "default", "gone")], transformation=sql("SELECT * FROM a")
    )
    with pytest.raises(FlowResourceNotFoundError, match=r"sources\[0\]\.datasetSource"):
        check_flow(flow, _lookup)


@pytest.mark.parametrize(
    ("field", "wording"),
    [
        ("nope", "is not a field of dataset asc.trading_partner"),
        ("tpartner_type", "is a primary key"),
    ],
)
def test_dedupe_fields_exist_and_are_not_keys(field: str, wording: str) -> None:
    flow = _flow(
        target=dataset_target(
            "asc",
            "trading_partner",
            dedupeStrategy=_priority(("eff_start_date", "DESC"), (field, "ASC")),
        )
    )
    with pytest.raises(FlowValidationError) as caught:
        check_flow(flow, _lookup)
    assert (
        "target.datasetTarget.options.dedupeStrategy.fieldPriority.fields[1].name"
        in caught.value.message
    )
    assert wording in caught.value.message


def test_dedupe_needs_a_primary_key() -> None:
    flow = _flow(target=dataset_target("default", "staging", dedupeRecords=True))
    with pytest.raises(FlowValidationError, match="no primary key"):
        check_flow(flow, _lookup)
    # Not asking for dedupe is fine on a dataset without a key.
    check_flow(_flow(target=dataset_target("default", "staging", dedupeRecords=False)), _lookup)


def test_s3_members_name_the_instance_bucket() -> None:
    source = s3_source()
    source["s3Source"]["bucketName"] = "some-other-bucket"
    with pytest.raises(FlowValidationError, match=r"sources\[0\]\.s3Source\.bucketName"):
        check_flow(_flow(sources=[source]), _lookup)
    target = {"targetType": "S3", "s3Target": {"bucketName": "elsewhere", "prefix": "out"}}
    with pytest.raises(FlowValidationError, match=r"target\.s3Target\.bucketName"):
        check_flow(_flow(target=target), _lookup)


def _dataset_flow(name: str, reads: str, writes: str) -> FlowDefinition:
    ns_r, ds_r = reads.split(".")
    ns_w, ds_w = writes.split(".")
    return _flow(
        name,
        sources=[dataset_source("src", ns_r, ds_r)],
        transformation=sql("SELECT * FROM src"),
        target=dataset_target(ns_w, ds_w),
    )


def test_a_flow_may_not_feed_what_it_reads() -> None:
    with pytest.raises(FlowValidationError, match=r"would feed dataset default\.staging"):
        check_flow(_dataset_flow("self", "default.staging", "default.staging"), _lookup)


def test_a_cycle_through_other_flows_is_refused_naming_them() -> None:
    a = _dataset_flow("a", "default.staging1", "default.staging2")
    b = _dataset_flow("b", "default.staging2", "asc.trading_partner")
    closing = _dataset_flow("c", "asc.trading_partner", "default.staging1")
    with pytest.raises(FlowValidationError) as caught:
        check_flow(closing, _lookup, [a, b])
    assert "through flow a then b" in caught.value.message
    assert caught.value.message.startswith("target.datasetTarget.datasetIdentifier")
    # A chain is fine; and a flow replacing itself (update) is not its own cycle.
    check_flow(_dataset_flow("c", "asc.trading_partner", "default.staging"), _lookup, [a, b])
    check_flow(_dataset_flow("a", "default.staging1", "default.staging"), _lookup, [a, b])


def test_an_s3_target_feeding_its_own_s3_source_is_a_cycle() -> None:
    loop = _flow(
        sources=[s3_source("orders", prefix="orders")],
        target={"targetType": "S3", "s3Target": {"bucketName": BUCKET, "prefix": "orders/out"}},
    )
    with pytest.raises(FlowValidationError, match=r"target\.s3Target\.prefix"):
        check_flow(loop, _lookup)
    apart = _flow(
        sources=[s3_source("orders", prefix="orders")],
        target={"targetType": "S3", "s3Target": {"bucketName": BUCKET, "prefix": "orders-out"}},
    )
    check_flow(apart, _lookup)
