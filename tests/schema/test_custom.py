import copy

import pytest
from botocore import xform_name

from supplylake.aws.spec import service_model
from supplylake.schema.asc import asc_datasets
from supplylake.schema.custom import (
    build_dataset_schema,
    default_schema_name,
    partition_spec_to_api,
    schema_to_api,
)
from supplylake.schema.errors import SchemaError
from supplylake.schema.types import DatasetSchema, Field, FieldType, PartitionField, Transform
from supplylake.service.schema_limits import schema_limits

# The custom dataset of the AWS API reference's CreateDataLakeDataset example.
SCHEMA = {
    "name": "MyDataset",
    "fields": [
        {"name": "id", "type": "INT", "is_required": True},
        {"name": "description", "type": "STRING", "is_required": True},
        {"name": "price", "type": "DOUBLE", "is_required": False},
        {"name": "creation_time", "type": "TIMESTAMP", "is_required": False},
        {"name": "quantity", "type": "LONG", "is_required": False},
    ],
    "primary_keys": [{"name": "id"}],
}
PARTITION = {
    "fields": [
        {"name": "creation_time", "transform": {"type": "DAY"}},
        {"name": "description", "transform": {"type": "IDENTITY"}},
    ]
}


def build(schema=None, partition=None, name="my_dataset"):
    return build_dataset_schema(name, schema or SCHEMA, partition, limits=schema_limits())


def problem(schema=None, partition=None, name="my_dataset") -> str:
    with pytest.raises(SchemaError) as info:
        build(schema, partition, name)
    prefix = f"Invalid schema for dataset {name!r}: "
    assert info.value.message.startswith(prefix)
    return info.value.message.removeprefix(prefix)


def with_fields(*fields, keys=None):
    schema = {"name": "S", "fields": list(fields)}
    if keys is not None:
        schema["primary_keys"] = [{"name": k} for k in keys]
    return schema


def f(name, type_="STRING", required=False):
    return {"name": name, "type": type_, "is_required": required}


def test_the_api_reference_example_builds():
    assert build(partition=PARTITION) == DatasetSchema(
        "my_dataset",
        (
            Field("id", FieldType.INT, True),
            Field("description", FieldType.STRING, True),
            Field("price", FieldType.DOUBLE),
            Field("creation_time", FieldType.TIMESTAMP),
            Field("quantity", FieldType.LONG),
        ),
        primary_keys=("id",),
        partition_spec=(
            PartitionField("creation_time", Transform.DAY),
            PartitionField("description", Transform.IDENTITY),
        ),
    )


def test_keys_and_partition_are_optional():
    ds = build(with_fields(f("a")))
    assert ds.primary_keys == () and ds.partition_spec == ()


def test_schema_round_trips_through_the_api_form():
    ds = build(partition=PARTITION)
    assert schema_to_api(ds, "MyDataset") == SCHEMA
    assert partition_spec_to_api(ds) == PARTITION
    assert build(schema_to_api(ds, "MyDataset"), partition_spec_to_api(ds)) == ds


def test_schema_name_defaults_to_the_dataset_name_in_pascal_case():
    assert default_schema_name("inbound_order_line") == "InboundOrderLine"
    assert schema_to_api(build())["name"] == "MyDataset"
    assert partition_spec_to_api(build()) is None


def test_asc_schemas_answer_like_aws():
    api = schema_to_api(asc_datasets()["inbound_order"])
    assert api["name"] == "InboundOrder"
    assert {"name": "connection_id", "type": "STRING", "is_required": True} in api["fields"]
    assert api["primary_keys"] == [{"name": "id"}, {"name": "tpartner_id"}]


@pytest.mark.parametrize("name", sorted(asc_datasets()))
def test_every_asc_schema_passes_the_custom_rules(name):
    ds = asc_datasets()[name]
    assert build(schema_to_api(ds), partition_spec_to_api(ds), name) == ds


def test_api_keys_are_botocore_member_names():
    model = service_model()
    schema = model.shape_for("DataLakeDatasetSchema")
    field = model.shape_for("DataLakeDatasetSchemaField")
    partition = model.shape_for("DataLakeDatasetPartitionField")
    api = schema_to_api(build(partition=PARTITION))
    assert set(api) == {xform_name(m) for m in schema.members}
    assert set(api["fields"][0]) == {xform_name(m) for m in field.members}
    spec = partition_spec_to_api(build(partition=PARTITION))
    assert set(spec["fields"][0]) == {xform_name(m) for m in partition.members}


def test_connection_id_is_an_ordinary_name_outside_asc():
    assert build(with_fields(f("connection_id"), keys=["connection_id"])).primary_keys == (
        "connection_id",
    )


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (with_fields(f("a"), f("a", "INT")), "field 'a' is listed more than once"),
        (with_fields(f("Price")), "field name 'Price' must match [a-z0-9_]+"),
        (with_fields(f("unit price")), "field name 'unit price' must match [a-z0-9_]+"),
        (with_fields(f("a" * 101)), f"field name '{'a' * 101}' must be 1 to 100 characters"),
        (with_fields(f("")), "field name '' must be 1 to 100 characters"),
        (with_fields({"type": "INT", "is_required": True}), "field name None must be 1 to 100 characters"),
        (with_fields("a"), "each field must be a structure with a name"),
        (with_fields(f("a", "FLOAT")), "field 'a' has type 'FLOAT'; use one of INT, LONG, DOUBLE, STRING, TIMESTAMP"),
        (with_fields(f("a", ["INT"])), "field 'a' has type ['INT']; use one of INT, LONG, DOUBLE, STRING, TIMESTAMP"),
        (with_fields({"name": "a", "type": "INT"}), "field 'a' needs is_required true or false"),
        (with_fields(f("a", required="yes")), "field 'a' needs is_required true or false"),
        (with_fields(), "fields must list 1 to 500 entries"),
        (with_fields(*[f(f"f{i}") for i in range(501)]), "fields must list 1 to 500 entries"),
        ({"name": "S"}, "fields must list 1 to 500 entries"),
        (with_fields(f("a"), keys=["b"]), "primary key 'b' is not a field of the schema"),
        (with_fields(f("a"), keys=["a", "a"]), "primary key 'a' is listed more than once"),
        (with_fields(f("a"), keys=[]), "primary_keys must list 1 to 20 entries"),
        (with_fields(*[f(f"f{i}") for i in range(21)], keys=[f"f{i}" for i in range(21)]),
         "primary_keys must list 1 to 20 entries"),
        (dict(with_fields(f("a")), name="my_schema"), "schema name 'my_schema' must match [A-Za-z0-9]+"),
        (dict(with_fields(f("a")), name=""), "schema name '' must be 1 to 100 characters"),
        ({"fields": [f("a")]}, "schema name None must be 1 to 100 characters"),
    ],
)  # fmt: skip
def test_invalid_schemas_are_rejected(schema, message):
    assert problem(schema) == message


def test_twenty_primary_keys_and_500_fields_are_allowed():
    fields = [f(f"f{i}") for i in range(500)]
    assert len(build(with_fields(*fields, keys=[f"f{i}" for i in range(20)])).primary_keys) == 20


def part(*entries):
    return {"fields": [{"name": n, "transform": {"type": t}} for n, t in entries]}


@pytest.mark.parametrize(
    ("partition", "message"),
    [
        (part(("nope", "DAY")), "partition field 'nope' is not a field of the schema"),
        (part(("description", "YEAR")), "partition field 'description': transform YEAR needs a TIMESTAMP field, not STRING"),
        (part(("id", "HOUR")), "partition field 'id': transform HOUR needs a TIMESTAMP field, not INT"),
        (part(("creation_time", "WEEK")), "partition field 'creation_time' has transform 'WEEK'; use one of YEAR, MONTH, DAY, HOUR, IDENTITY"),
        ({"fields": [{"name": "id"}]}, "partition field 'id' has transform None; use one of YEAR, MONTH, DAY, HOUR, IDENTITY"),
        (part(("id", "IDENTITY"), ("id", "IDENTITY")), "partition field 'id' is listed more than once"),
        (part(("creation_time", "DAY"), ("creation_time", "MONTH")), "partition field 'creation_time' is listed more than once"),
        (part(*[("id", "IDENTITY")] * 11), "partition fields must list 1 to 10 entries"),
        ({"fields": []}, "partition fields must list 1 to 10 entries"),
        ({}, "partition fields must list 1 to 10 entries"),
    ],
)  # fmt: skip
def test_invalid_partition_specs_are_rejected(partition, message):
    assert problem(partition=partition) == message


def test_every_transform_fits_a_timestamp_and_identity_fits_any_type():
    for transform in Transform:
        assert (
            build(partition=part(("creation_time", transform))).partition_spec[0].transform
            is transform
        )
    identity = part(("id", "IDENTITY"), ("price", "IDENTITY"), ("quantity", "IDENTITY"))
    assert len(build(partition=identity).partition_spec) == 3
    ten = with_fields(*[f(f"f{i}") for i in range(10)])
    assert len(build(ten, part(*[(f"f{i}", "IDENTITY") for i in range(10)])).partition_spec) == 10


@pytest.mark.parametrize("name", ["My_dataset", "my-dataset", "", "a" * 76])
def test_the_dataset_name_is_checked(name):
    assert problem(name=name).startswith("dataset name ")


def test_the_input_is_not_changed():
    schema, partition = copy.deepcopy(SCHEMA), copy.deepcopy(PARTITION)
    build(schema, partition)
    assert (schema, partition) == (SCHEMA, PARTITION)
