"""Server-side constraints, each rule with AWS's wording, and what must never be echoed."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supplylake.aws.errors import ValidationException
from supplylake.aws.spec import service_model
from supplylake.aws.validation import MAX_ECHO, MAX_REPORTED, validate

INSTANCE = "8f9d6cf4-1b7e-4d7b-9a64-0c2d6b9e3f10"
DATASET_ARN = f"arn:aws:scn:us-east-1:123456789012:instance/{INSTANCE}/namespaces/asc/datasets/d"


def _input(name: str) -> Any:
    return service_model().operation_model(name).input_shape


SEND = _input("SendDataIntegrationEvent")


def _event(**overrides: Any) -> dict[str, Any]:
    event = {
        "instance_id": INSTANCE,
        "event_type": "scn.data.dataset",
        "data": '{"id": 1}',
        "event_group_id": "group-1",
        "client_token": "c" * 36,
        "dataset_target": {"dataset_identifier": DATASET_ARN, "operation_type": "APPEND"},
    }
    event.update(overrides)
    return event


def _message(shape: Any, params: dict[str, Any]) -> str:
    with pytest.raises(ValidationException) as err:
        validate(shape, params)
    return err.value.message


def test_a_valid_event_passes() -> None:
    validate(SEND, _event())


def test_missing_required_members_are_all_reported() -> None:
    assert _message(SEND, {}) == (
        "4 validation errors detected: "
        "Value null at 'instanceId' failed to satisfy constraint: Member must not be null; "
        "Value null at 'eventType' failed to satisfy constraint: Member must not be null; "
        "Value null at 'data' failed to satisfy constraint: Member must not be null; "
        "Value null at 'eventGroupId' failed to satisfy constraint: Member must not be null"
    )


def test_missing_nested_required_member_uses_the_wire_path() -> None:
    message = _message(SEND, _event(dataset_target={"dataset_identifier": DATASET_ARN}))
    assert message == (
        "1 validation error detected: Value null at 'datasetTarget.operationType' "
        "failed to satisfy constraint: Member must not be null"
    )


def test_string_too_long_is_reported_with_a_truncated_value() -> None:
    message = _message(SEND, _event(event_group_id="g" * 256))
    assert message == (
        f"1 validation error detected: Value '{'g' * MAX_ECHO}...' at 'eventGroupId' "
        "failed to satisfy constraint: Member must have length less than or equal to 255"
    )


def test_string_lengths_count_characters_not_bytes() -> None:
    validate(SEND, _event(event_group_id="é" * 255, client_token="\u02bc" * 33))
    message = _message(SEND, _event(client_token="\u02bc" * 32))
    assert "Member must have length greater than or equal to 33" in message


def test_enum_lists_the_allowed_values() -> None:
    message = _message(
        SEND, _event(dataset_target={"dataset_identifier": DATASET_ARN, "operation_type": "MERGE"})
    )
    assert message == (
        "1 validation error detected: Value 'MERGE' at 'datasetTarget.operationType' "
        "failed to satisfy constraint: Member must satisfy enum value set: [APPEND, UPSERT, DELETE]"
    )


@pytest.mark.parametrize(
    "instance_id",
    [
        INSTANCE.upper(),  # the pattern is lower-case hex
        INSTANCE[:-1] + "g",
        "x" + INSTANCE[1:],
    ],
)
def test_pattern_must_match_the_whole_value(instance_id: str) -> None:
    message = _message(SEND, _event(instance_id=instance_id))
    assert f"Value '{instance_id}' at 'instanceId' failed to satisfy constraint: " in message
    assert "Member must satisfy regular expression pattern: [a-f0-9]{8}-" in message


@pytest.mark.parametrize("name", ["sales-2024", "abc\n", "ok_name!", "Upper"])
def test_namespace_pattern_rejects_partial_matches(name: str) -> None:
    shape = _input("CreateDataLakeNamespace")
    message = _message(shape, {"instance_id": INSTANCE, "name": name})
    assert (
        "at 'name' failed to satisfy constraint: Member must satisfy regular expression" in message
    )


@pytest.mark.parametrize(
    ("value", "constraint"),
    [
        (0, "Member must have value greater than or equal to 1"),
        (21, "Member must have value less than or equal to 20"),
    ],
)
def test_numeric_ranges(value: int, constraint: str) -> None:
    shape = _input("ListDataIntegrationEvents")
    message = _message(shape, {"instance_id": INSTANCE, "max_results": value})
    assert message == (
        f"1 validation error detected: Value '{value}' at 'maxResults' "
        f"failed to satisfy constraint: {constraint}"
    )


def test_list_length_and_list_elements() -> None:
    shape = _input("ListInstances")
    states = [
        "Active",
        "Bogus",
        "Deleted",
        "Deleting",
        "Initializing",
        "CreateFailed",
        "DeleteFailed",
    ]
    message = _message(shape, {"instance_state_filter": states})
    assert message.startswith("2 validation errors detected: ")
    assert (
        "Value at 'instanceStateFilter' failed to satisfy constraint: "
        "Member must have length less than or equal to 6"
    ) in message
    assert "Value 'Bogus' at 'instanceStateFilter.2.member' failed" in message


def test_map_size_keys_and_values() -> None:
    shape = _input("TagResource")
    arn = f"arn:aws:scn:us-east-1:123456789012:instance/{INSTANCE}"
    validate(shape, {"resource_arn": arn, "tags": {"k" * 128: "v" * 256}})

    message = _message(shape, {"resource_arn": arn, "tags": {"k" * 129: "v", "ok": "v" * 257}})
    assert message.startswith("2 validation errors detected: ")
    assert (
        "at 'tags' failed to satisfy constraint: Map keys must satisfy constraint: "
        "[Member must have length less than or equal to 128]"
    ) in message
    assert (
        "at 'tags' failed to satisfy constraint: Map value must satisfy constraint: "
        "[Member must have length less than or equal to 256]"
    ) in message

    many = {f"k{i}": "v" for i in range(201)}
    assert "Member must have length less than or equal to 200" in _message(
        shape, {"resource_arn": arn, "tags": many}
    )


def test_nested_list_member_paths() -> None:
    shape = _input("CreateDataIntegrationFlow")
    params = {
        "instance_id": INSTANCE,
        "name": "flow-1",
        "sources": [
            {"source_type": "S3", "source_name": "ok"},
            {"source_type": "S3", "source_name": "not ok"},
        ],
        "transformation": {"transformation_type": "NONE"},
        "target": {"target_type": "DATASET"},
    }
    message = _message(shape, params)
    assert "Value 'not ok' at 'sources.2.member.sourceName' failed" in message


@pytest.mark.parametrize("data", ["", "x" * (1_048_576 + 1)])
def test_sensitive_data_is_never_echoed(data: str) -> None:
    message = _message(SEND, _event(data=data))
    assert "Value at 'data' failed to satisfy constraint: Member must have length" in message
    assert "xxxx" not in message


def test_sensitive_sql_query_is_never_echoed() -> None:
    shape = _input("UpdateDataIntegrationFlow")
    params = {
        "instance_id": INSTANCE,
        "name": "flow",
        "transformation": {
            "transformation_type": "SQL",
            "sql_transformation": {"query": "S" * 65536},
        },
    }
    message = _message(shape, params)
    assert "Value at 'transformation.sqlTransformation.query' failed" in message
    assert "SSSS" not in message


def test_only_the_first_violations_are_listed_but_all_are_counted() -> None:
    shape = _input("CreateDataIntegrationFlow")
    sources = [
        {"source_type": "S3", "source_name": f"bad name {i}"} for i in range(MAX_REPORTED + 2)
    ]
    params = {
        "instance_id": INSTANCE,
        "name": "flow",
        "sources": sources,
        "transformation": {"transformation_type": "NONE"},
        "target": {"target_type": "DATASET"},
    }
    message = _message(shape, params)
    assert message.startswith(f"{MAX_REPORTED + 2} validation errors detected: ")
    assert message.count("failed to satisfy constraint") == MAX_REPORTED


@settings(max_examples=50, deadline=None, database=None)
@given(token=st.text(min_size=33, max_size=126))
def test_any_client_token_of_allowed_length_passes(token: str) -> None:
    validate(SEND, _event(client_token=token))


@settings(max_examples=50, deadline=None, database=None)
@given(group=st.text(min_size=256, max_size=400))
def test_any_event_group_over_255_characters_fails(group: str) -> None:
    assert "less than or equal to 255" in _message(SEND, _event(event_group_id=group))
