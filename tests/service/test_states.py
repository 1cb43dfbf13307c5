from supplylake.aws.spec import service_model
from supplylake.states import GONE, InstanceState, LoadStatus


def _model_enum(shape: str) -> list[str]:
    return list(service_model().shape_for(shape).enum)


def test_instance_states_are_the_models_values():
    assert sorted(InstanceState) == sorted(_model_enum("InstanceState"))


def test_load_statuses_are_the_models_values():
    assert sorted(LoadStatus) == sorted(_model_enum("DataIntegrationEventDatasetLoadStatus"))


def test_a_state_is_its_wire_string():
    assert InstanceState.ACTIVE == "Active" and str(InstanceState.ACTIVE) == "Active"
    assert f"{LoadStatus.IN_PROGRESS}" == "IN_PROGRESS"
    # Read back from a store as plain text, a state still compares equal to its member.
    assert "DeleteFailed" in GONE and "Active" not in GONE
