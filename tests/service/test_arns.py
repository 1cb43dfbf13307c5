from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supplylake.aws.errors import ValidationException
from supplylake.service.arns import (
    ResourceArn,
    dataset_arn,
    instance_arn,
    namespace_arn,
    parse_arn,
)
from supplylake.store.base import Instance

regions = st.from_regex(r"[a-z]{2}-[a-z]{4,9}-[1-9]", fullmatch=True)
accounts = st.from_regex(r"[0-9]{12}", fullmatch=True)
names = st.from_regex(r"[a-z0-9_]{1,40}", fullmatch=True)


def _instance(region: str, account: str, instance_id: str) -> Instance:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return Instance(instance_id, account, region, "Active", at, at)


@given(regions, accounts, st.uuids(), names, names)
def test_built_arns_parse_back_to_their_parts(region, account, uid, namespace, dataset):
    iid = str(uid)
    inst = _instance(region, account, iid)
    assert parse_arn(instance_arn(region, account, iid)) == ResourceArn(region, account, iid)
    assert parse_arn(namespace_arn(inst, namespace)) == ResourceArn(region, account, iid, namespace)
    assert parse_arn(dataset_arn(inst, namespace, dataset)) == ResourceArn(
        region, account, iid, namespace, dataset
    )


def test_dataset_arn_has_the_documented_form():
    inst = _instance("us-east-1", "123456789012", "1877dd20-dee9-4639-8e99-cb67acf21fe5")
    assert dataset_arn(inst, "asc", "inbound_order") == (
        "arn:aws:scn:us-east-1:123456789012:instance/1877dd20-dee9-4639-8e99-cb67acf21fe5"
        "/namespaces/asc/datasets/inbound_order"
    )


@pytest.mark.parametrize(
    "arn",
    [
        "",
        "arn:aws:s3:::bucket",
        "arn:aws:scn:us-east-1:123:instance/1877dd20-dee9-4639-8e99-cb67acf21fe5",
        "arn:aws:scn:us-east-1:123456789012:instance/not-a-uuid",
        "arn:aws:scn:us-east-1:123456789012:instance/1877dd20-dee9-4639-8e99-cb67acf21fe5/datasets/x",
        "arn:aws:scn:us-east-1:123456789012:instance/1877dd20-dee9-4639-8e99-cb67acf21fe5/namespaces/",
    ],
)
def test_other_arns_are_refused_with_the_expected_form(arn):
    with pytest.raises(ValidationException, match=r"is not the ARN of an instance, namespace"):
        parse_arn(arn)
