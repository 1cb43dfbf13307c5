import json
import re
from importlib.resources import files
from pathlib import Path

import pytest

from supplylake.aws.spec import service_model
from supplylake.schema.asc import (
    ASC_INTERNAL_FIELDS,
    ASC_NAMESPACE,
    CONNECTION_ID,
    DEFAULT_NAMESPACE,
    asc_datasets,
    asc_event_types,
    internal_fields,
)
from supplylake.schema.types import FieldType

FIELD_NAME = re.compile(
    service_model().shape_for("DataLakeDatasetSchemaFieldName").metadata["pattern"]
)


def test_the_data_model_ships_inside_the_package():
    assert files("supplylake.schema").joinpath("asc_data_model.json").is_file()


def test_all_44_datasets_load_named_after_themselves():
    datasets = asc_datasets()
    assert len(datasets) == 44
    assert all(schema.name == name for name, schema in datasets.items())
    assert asc_datasets() is datasets


def test_every_dataset_has_one_internal_required_connection_id_before_the_db_fields():
    for name, schema in asc_datasets().items():
        names = [f.name for f in schema.fields]
        assert names.count(CONNECTION_ID) == 1, name
        field = schema.field(CONNECTION_ID)
        assert field is not None
        assert field.type is FieldType.STRING and field.required, name
        if name != "supply_planning_parameters":
            assert names[-3] == CONNECTION_ID, name


def test_every_dataset_ends_with_the_optional_db_timestamps_aws_returns():
    for name, schema in asc_datasets().items():
        last = [(f.name, f.type, f.required) for f in schema.fields[-2:]]
        assert last == [
            ("db_creation_dttm", FieldType.TIMESTAMP, False),
            ("db_updation_dttm", FieldType.TIMESTAMP, False),
        ], name


def test_inbound_order_has_the_fields_of_aws_example():
    examples = json.loads(
        (Path(__file__).parents[1] / "examples" / "aws_examples.json").read_text()
    )
    get = next(e for e in examples["examples"] if e["operation"] == "GetDataLakeDataset")
    published = {
        (f["name"], f["type"], f["isRequired"])
        for f in get["output"]["dataset"]["schema"]["fields"]
    }
    ours = {(f.name, f.type.value, f.required) for f in asc_datasets()["inbound_order"].fields}
    assert ours == published


def test_connection_id_is_in_the_key_only_where_the_guide_puts_it():
    with_key = {n for n, s in asc_datasets().items() if CONNECTION_ID in s.primary_keys}
    assert with_key == {"supply_planning_parameters"}


@pytest.mark.parametrize("name", sorted(asc_datasets()))
def test_schema_is_consistent(name):
    schema = asc_datasets()[name]
    names = [f.name for f in schema.fields]
    assert len(names) == len(set(names))
    assert all(FIELD_NAME.fullmatch(n) for n in names), names
    assert schema.primary_keys and set(schema.primary_keys) <= set(names)
    assert schema.partition_spec == ()


def test_field_names_spelled_with_a_space_get_an_underscore():
    names = {f.name for f in asc_datasets()["customer_cost"].fields}
    assert {"tax_1", "tax_2", "tax_3"} <= names


def test_known_dataset_shape():
    schema = asc_datasets()["inbound_order_line"]
    assert schema.primary_keys == ("id", "order_id", "tpartner_id", "product_id")
    assert schema.field("quantity_submitted").type is FieldType.DOUBLE
    assert schema.field("expected_delivery_date").type is FieldType.TIMESTAMP


def test_15_event_types_map_to_existing_datasets():
    events = asc_event_types()
    assert len(events) == 15
    assert all(t.startswith("scn.data.") for t in events)
    assert set(events.values()) <= set(asc_datasets())
    assert events["scn.data.inboundorder"] == "inbound_order"
    assert "scn.data.dataset" not in events


def test_internal_fields_exist_only_in_asc():
    assert ASC_NAMESPACE == "asc" and DEFAULT_NAMESPACE == "default"
    assert internal_fields(ASC_NAMESPACE) == ASC_INTERNAL_FIELDS == {CONNECTION_ID}
    assert internal_fields(DEFAULT_NAMESPACE) == frozenset()
    assert internal_fields("my_namespace") == frozenset()
