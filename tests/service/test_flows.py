"""The flow handlers without HTTP: ARNs, status spelling, error mapping, the instance bucket."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supplylake.aws.errors import ResourceNotFoundException, ValidationException
from supplylake.aws.spec import service_model
from supplylake.flows.errors import FlowResourceNotFoundError, FlowValidationError
from supplylake.service.arns import ResourceArn, flow_arn, parse_arn
from supplylake.service.errors import aws_error
from supplylake.states import FlowExecutionStatus
from supplylake.store.base import Instance

from .conftest import active_instance_id, call

flow_names = st.from_regex(r"[A-Za-z0-9-]{1,256}", fullmatch=True)


@given(st.uuids(), flow_names)
def test_a_flow_arn_parses_back_to_its_parts(uid, name):
    at = datetime(2026, 1, 1, tzinfo=UTC)
    inst = Instance(str(uid), "123456789012", "us-east-1", "Active", at, at)
    arn = flow_arn(inst, name)
    assert arn == (
        f"arn:aws:scn:us-east-1:123456789012:instance/{uid}/data-integration-flows/{name}"
    )
    assert parse_arn(arn) == ResourceArn("us-east-1", "123456789012", str(uid), flow=name)


@pytest.mark.parametrize(
    "bad", ["data-integration-flows/", "data-integration-flows/a_b", "flows/a"]
)
def test_a_malformed_flow_arn_is_refused(bad):
    with pytest.raises(ValidationException):
        parse_arn(
            f"arn:aws:scn:us-east-1:123456789012:instance/{'0' * 8}-0000-0000-0000-{'0' * 12}/{bad}"
        )


def test_execution_statuses_are_the_models_values():
    model = service_model().shape_for("DataIntegrationFlowExecutionStatus").enum
    assert sorted(FlowExecutionStatus) == sorted(model)


def test_flow_errors_are_answered_by_their_kind():
    missing = aws_error(FlowResourceNotFoundError("target.datasetTarget: gone"))
    assert isinstance(missing, ResourceNotFoundException) and missing.message.endswith("gone")
    invalid = aws_error(FlowValidationError("sources[0].s3Source is required"))
    assert isinstance(invalid, ValidationException)


def test_an_active_instance_has_its_bucket_and_a_flow_keeps_it(services, ctx):
    async def run() -> str:
        iid = await active_instance_id(services, ctx)
        bucket = services.settings.data_dir / "buckets" / f"aws-supply-chain-data-{iid}"
        assert bucket.is_dir()
        bucket.rmdir()  # as if the instance predated flows
        await call(
            services,
            ctx,
            "CreateDataIntegrationFlow",
            instance_id=iid,
            name="f",
            sources=[
                {
                    "source_type": "S3",
                    "source_name": "s",
                    "s3_source": {"bucket_name": f"aws-supply-chain-data-{iid}", "prefix": "in"},
                }
            ],
            transformation={"transformation_type": "NONE"},
            target={
                "target_type": "S3",
                "s3_target": {"bucket_name": f"aws-supply-chain-data-{iid}", "prefix": "out"},
            },
        )
        assert bucket.is_dir()
        return iid

    asyncio.run(run())
