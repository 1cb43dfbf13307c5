"""Access grants: IAM-style wildcards over actions and instances."""

from __future__ import annotations

import pytest

from supplylake.auth.access import Grant, check_access, parse_actions, parse_instances
from supplylake.aws.errors import AccessDeniedException

INSTANCE = "1c9a0f5e-8d3b-4c2a-9e6f-0a1b2c3d4e5f"
OTHER = "2d8b1e6f-9c4a-4d3b-8f7a-1b2c3d4e5f60"
ARN = f"arn:aws:scn:us-east-1:000000000000:instance/{INSTANCE}"


@pytest.mark.parametrize(
    ("patterns", "action", "allowed"),
    [
        (("scn:*",), "SendDataIntegrationEvent", True),
        (("*",), "scn:GetInstance", True),
        (("scn:Get*",), "scn:GetInstance", True),
        (("scn:Get*",), "scn:GetDataLakeDataset", True),
        (("scn:Get*",), "scn:ListInstances", False),
        (("scn:get*",), "scn:GetInstance", True),
        (("SCN:GETINSTANCE",), "scn:GetInstance", True),
        (("scn:GetInstance",), "scn:GetInstances", False),
        (("scn:GetInstance",), "scn:GetInstanc", False),
        (("scn:?etInstance",), "scn:GetInstance", True),
        (("scn:?Instance",), "scn:GetInstance", False),
        (("scn:*Instance*",), "scn:UpdateInstance", True),
        (("scn:List*", "scn:Get*"), "scn:GetInstance", True),
        (("scn:List*", "scn:Get*"), "scn:DeleteInstance", False),
        (("s3:*",), "scn:GetInstance", False),
        (("scn:Get.*",), "scn:GetInstance", False),
        (("scn:Get.nstance",), "scn:GetInstance", False),
        ((), "scn:GetInstance", False),
    ],
)
def test_matches_actions_case_insensitively_with_wildcards(
    patterns: tuple[str, ...], action: str, allowed: bool
) -> None:
    assert Grant(actions=patterns).allows_action(action) is allowed


@pytest.mark.parametrize(
    ("patterns", "instance", "allowed"),
    [
        (("*",), INSTANCE, True),
        ((INSTANCE,), INSTANCE, True),
        ((INSTANCE,), OTHER, False),
        ((INSTANCE.upper(),), INSTANCE, False),
        (("1c9a*",), INSTANCE, True),
        (("1c9a*",), OTHER, False),
        (("?c9a" + INSTANCE[4:],), INSTANCE, True),
        ((OTHER, "1c*"), INSTANCE, True),
        ((), INSTANCE, False),
    ],
)
def test_matches_instances_with_wildcards(
    patterns: tuple[str, ...], instance: str, allowed: bool
) -> None:
    assert Grant(instances=patterns).allows_instance(instance) is allowed


def test_the_default_grant_allows_everything() -> None:
    check_access(Grant(), "DeleteInstance", INSTANCE, ARN, principal="AKID")


def test_requests_without_an_instance_need_only_the_action() -> None:
    grant = Grant(actions=("scn:ListInstances",), instances=(OTHER,))
    check_access(
        grant,
        "ListInstances",
        None,
        "arn:aws:scn:us-east-1:000000000000:instance/*",
        principal="AKID",
    )


def test_denies_an_action_outside_the_grant_with_an_aws_message() -> None:
    grant = Grant(actions=("scn:Get*",))
    with pytest.raises(AccessDeniedException) as caught:
        check_access(grant, "SendDataIntegrationEvent", INSTANCE, ARN, principal="AKIDEXAMPLE")
    assert caught.value.message == (
        "User: AKIDEXAMPLE is not authorized to perform: scn:SendDataIntegrationEvent "
        f"on resource: {ARN}"
    )
    assert caught.value.status == 403


def test_denies_an_instance_outside_the_grant() -> None:
    grant = Grant(instances=(OTHER,))
    with pytest.raises(AccessDeniedException, match=r"scn:GetInstance on resource"):
        check_access(grant, "scn:GetInstance", INSTANCE, ARN, principal="AKID")


def test_parses_actions() -> None:
    assert parse_actions(" scn:GetInstance, SCN:List* ,*,scn:GetInstance") == (
        "scn:GetInstance",
        "scn:List*",
        "*",
    )
    assert parse_actions("scn:get?nstance") == ("scn:get?nstance",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no action"),
        ("scn:GetInstance,,scn:ListInstances", "empty action"),
        ("GetInstance", "invalid action"),
        ("s3:GetObject", "invalid action"),
        ("scn:", "invalid action"),
        ("scn:Get Instance", "invalid action"),
        ("scn:Get.*", "invalid action"),
        ("scn:GetInstanse", "matches no scn operation"),
        ("scn:Frobnicate*", "matches no scn operation"),
    ],
)
def test_rejects_invalid_actions(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_actions(text)


def test_parses_instances() -> None:
    assert parse_instances(f"{INSTANCE}, *,1c9a*,{INSTANCE}") == (INSTANCE, "*", "1c9a*")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (" ", "no instance"),
        (f"{INSTANCE},", "empty instance"),
        ("not-a-uuid", "invalid instance id"),
        (INSTANCE.upper(), "invalid instance id"),
        ("1c9a/*", "invalid instance"),
        ("[a-f]*", "invalid instance"),
    ],
)
def test_rejects_invalid_instances(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_instances(text)
