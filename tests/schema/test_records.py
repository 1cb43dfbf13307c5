import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from supplylake.schema.arrow import json_to_arrow, records_to_arrow
from supplylake.schema.arrow_types import arrow_schema
from supplylake.schema.asc import ASC_INTERNAL_FIELDS, CONNECTION_ID, asc_datasets
from supplylake.schema.errors import RecordError
from supplylake.schema.records import parse_records
from supplylake.schema.types import (
    DatasetSchema,
    Field,
    FieldType,
    Operation,
    PartitionField,
    Transform,
)
from supplylake.schema.validate import check_records, validate_records

NONE: frozenset[str] = frozenset()

SCHEMA = DatasetSchema(
    "orders",
    (
        Field("id", FieldType.STRING, required=True),
        Field("line", FieldType.INT),
        Field("qty", FieldType.DOUBLE, required=True),
        Field("seq", FieldType.LONG),
        Field("order_date", FieldType.TIMESTAMP),
        Field("note", FieldType.STRING),
    ),
    primary_keys=("id", "line"),
)
GOOD = {"id": "a", "line": 1, "qty": 2.5, "seq": 7, "order_date": "2024-01-02", "note": "x"}


def check(records, schema=SCHEMA, op=Operation.APPEND, internal=NONE):
    validate_records(records, schema, op, internal_fields=internal)


def failures(records, schema=SCHEMA, op=Operation.APPEND, internal=NONE):
    with pytest.raises(RecordError) as info:
        check(records, schema, op, internal)
    return [(f.index, f.field, f.rule) for f in info.value.failures]


def error(records, schema=SCHEMA, op=Operation.APPEND, internal=NONE) -> str:
    with pytest.raises(RecordError) as info:
        check(records, schema, op, internal)
    return info.value.message


# parse_records


def test_an_object_is_one_record_and_an_array_several():
    assert parse_records('{"id": "a"}') == [{"id": "a"}]
    assert parse_records(b'[{"id": "a"}, {}]') == [{"id": "a"}, {}]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("[]", "Invalid data: data must contain at least one record"),
        ("42", "Invalid data: expected a JSON object or an array of objects, got 42"),
        ('"x"', "Invalid data: expected a JSON object or an array of objects, got 'x'"),
        ("null", "Invalid data: expected a JSON object or an array of objects, got null"),
        ('[{}, 1, [2], {"a": 1}, "s"]', "Invalid data: record 1: expected a JSON object, got 1; "
         "record 2: expected a JSON object, got an array; "
         "record 4: expected a JSON object, got 's'"),
    ],
)  # fmt: skip
def test_data_that_holds_no_records_is_rejected(data, message):
    with pytest.raises(RecordError) as info:
        parse_records(data)
    assert info.value.message == message


@pytest.mark.parametrize("data", ["", "{", '{"a": 1,}', "NaN", '{"a": 1e999}', "[1] x"])
def test_invalid_json_is_rejected(data):
    with pytest.raises(RecordError, match=r"^Invalid data: not valid JSON \("):
        parse_records(data)


# fields present or not


def test_a_valid_record_passes_every_operation():
    for op in Operation:
        check([GOOD, dict(GOOD, id="b")], op=op)


def test_optional_fields_may_be_absent_or_null():
    check([{"id": "a", "qty": 1.0}, {"id": "b", "qty": 1.0, "note": None, "line": None}])


def test_required_fields_must_hold_a_value():
    assert failures([{"id": "a"}, {"id": None, "qty": 1.0}]) == [
        (0, "qty", "missing"),
        (1, "id", "null"),
    ]
    assert error([{"id": "a"}]) == "Invalid data: record 0, field 'qty': required field is missing"


def test_upsert_needs_every_primary_key_field():
    record = {"id": "a", "qty": 1.0}  # line is optional but part of the key
    check([record])
    assert failures([record], op=Operation.UPSERT) == [(0, "line", "missing")]
    assert error([dict(record, line=None)], op=Operation.UPSERT) == (
        "Invalid data: record 0, field 'line': primary key field is null"
    )


def test_delete_needs_only_the_primary_key():
    check([{"id": "a", "line": 1}], op=Operation.DELETE)
    check([dict(GOOD)], op=Operation.DELETE)
    assert failures([{"id": "a", "qty": 1.0}], op=Operation.DELETE) == [(0, "line", "missing")]
    assert failures([{"id": "a", "line": 1, "qty": "x"}], op=Operation.DELETE) == [
        (0, "qty", "type")
    ]


def test_delete_needs_the_required_fields_that_place_it_in_a_partition():
    schema = DatasetSchema(
        "p",
        (
            Field("id", FieldType.STRING, required=True),
            Field("day", FieldType.TIMESTAMP, required=True),
            Field("region", FieldType.STRING),
            Field("note", FieldType.STRING, required=True),
        ),
        primary_keys=("id",),
        partition_spec=(
            PartitionField("day", Transform.DAY),
            PartitionField("region", Transform.IDENTITY),
        ),
    )
    check([{"id": "a", "day": "2024-01-02"}], schema, Operation.DELETE)
    assert failures([{"id": "a", "region": "eu"}], schema, Operation.DELETE) == [
        (0, "day", "missing")
    ]


@pytest.mark.parametrize("op", [Operation.UPSERT, Operation.DELETE])
def test_upsert_and_delete_need_a_dataset_with_primary_keys(op):
    keyless = DatasetSchema("logs", (Field("msg", FieldType.STRING),))
    check([{"msg": "m"}], schema=keyless)
    with pytest.raises(RecordError, match=f"^{op} needs a dataset with primary keys"):
        check([{"msg": "m"}], schema=keyless, op=op)


def test_unknown_fields_are_rejected():
    assert failures([dict(GOOD, colour="red")]) == [(0, "colour", "unknown")]
    assert error([dict(GOOD, colour="red")]) == (
        "Invalid data: record 0, field 'colour': no such field in the dataset"
    )


def test_internal_fields_are_reserved_for_the_service():
    schema = asc_datasets()["inbound_order"]
    record = {"id": "o1", "tpartner_id": "t1", CONNECTION_ID: "mine"}
    message = error([record], schema, Operation.UPSERT, ASC_INTERNAL_FIELDS)
    assert message == (
        "Invalid data: record 0, field 'connection_id': "
        "reserved field: the service fills it, do not send it"
    )
    del record[CONNECTION_ID]
    check([record], schema, Operation.UPSERT, ASC_INTERNAL_FIELDS)


def test_an_internal_primary_key_field_is_not_asked_of_the_client():
    schema = asc_datasets()["supply_planning_parameters"]
    record = {
        "product_id": "p",
        "product_group_id": "g",
        "site_id": "s",
        "eff_start_date": "2024-01-01",
        "eff_end_date": "2025-01-01",
    }
    for op in Operation:
        check([record], schema, op, ASC_INTERNAL_FIELDS)


# value types

TYPE_CASES = {
    FieldType.INT: (
        [0, -(2**31), 2**31 - 1, "1", "-2147483648", "2147483647", "007", "-0"],
        [
            2**31,
            -(2**31) - 1,
            1.5,
            2.0,
            True,
            [1],
            "2.5",
            "2.0",
            "1e3",
            "2147483648",
            "",
            " 1",
            "+1",
            "0x10",
            "1_000",
            "true",
            "\uff11",
            "9" * 5000,
        ],
    ),
    FieldType.LONG: (
        [0, -(2**63), 2**63 - 1, "7", "9223372036854775807", "-9223372036854775808"],
        [2**63, 2**64 - 1, 1.0, False, {"a": 1}, "9223372036854775808", "7.0", "1e2", "NaN"],
    ),
    FieldType.DOUBLE: (
        [
            0,
            1.5,
            -2.0,
            2**53,
            -(2**53),
            1e308,
            "1.5",
            "100.0",
            "-0",
            ".5",
            "5.",
            "1e-400",
            "1E5",
            "-2.5e+3",
            "9007199254740992",
            "-9007199254740992",
        ],
        [
            2**53 + 1,
            True,
            [],
            "1e400",
            "-1e309",
            "NaN",
            "nan",
            "Infinity",
            "inf",
            "",
            " 1.5",
            "+1.5",
            "1.5.1",
            "0x1p3",
            "1,5",
            "e5",
            ".",
            "-",
            "9007199254740993",
            "true",
        ],
    ),
    FieldType.STRING: (["", "x", "ü" * 500], [1, 1.5, True, {}, []]),
}


@pytest.mark.parametrize("field_type", list(TYPE_CASES))
def test_values_of_each_type(field_type):
    schema = DatasetSchema("t", (Field("v", field_type),))
    good, bad = TYPE_CASES[field_type]
    check([{"v": v} for v in good], schema)
    assert failures([{"v": v} for v in bad], schema) == [(i, "v", "type") for i in range(len(bad))]
    # The column-at-a-time check of larger events agrees, value by value.
    check_records(
        json.dumps([{"v": v} for v in good] * 40), schema, Operation.APPEND, internal_fields=NONE
    )
    for v in bad:
        with pytest.raises(RecordError):
            check_records(
                json.dumps([{"v": good[0]}] * 40 + [{"v": v}]),
                schema,
                Operation.APPEND,
                internal_fields=NONE,
            )


STRING_NUMBERS = [
    (FieldType.INT, "007", 7),
    (FieldType.INT, "-0", 0),
    (FieldType.INT, "-2147483648", -(2**31)),
    (FieldType.LONG, "9223372036854775807", 2**63 - 1),
    (FieldType.DOUBLE, "100.0", 100.0),
    (FieldType.DOUBLE, "1e-400", 0.0),
    (FieldType.DOUBLE, ".5", 0.5),
    (FieldType.DOUBLE, "0.1", 0.1),
    (FieldType.DOUBLE, "9007199254740992", 2.0**53),
    (FieldType.DOUBLE, "-2.5E+3", -2500.0),
]


@pytest.mark.parametrize(("field_type", "text", "stored"), STRING_NUMBERS)
def test_numbers_sent_as_strings_are_stored_as_numbers(field_type, text, stored):
    schema = DatasetSchema("t", (Field("v", field_type), Field("n", field_type)))
    records = [{"v": text, "n": stored}, {"v": None}]
    check(records, schema)
    table = records_to_arrow(records, schema)
    assert table.schema == arrow_schema(schema)
    assert table.column("v").to_pylist() == [stored, None]
    assert table.column("v").to_pylist()[0] == table.column("n").to_pylist()[0]


ACCEPTED_TIMESTAMPS = {
    "2024-01-02": "2024-01-02T00:00:00+00:00",
    "2024-01-02T03:04": "2024-01-02T03:04:00+00:00",
    "2024-01-02 03:04:05": "2024-01-02T03:04:05+00:00",
    "2024-01-02T03:04:05.5": "2024-01-02T03:04:05.500000+00:00",
    "2024-01-02T03:04:05.123456Z": "2024-01-02T03:04:05.123456+00:00",
    "2024-01-02T03:04:05+05:30": "2024-01-01T21:34:05+00:00",
    "2024-01-02T03:04-08:00": "2024-01-02T11:04:00+00:00",
    "2024-02-29T23:59:59.999-00:00": "2024-02-29T23:59:59.999000+00:00",
    "0001-01-01": "0001-01-01T00:00:00+00:00",
    "9999-12-31T23:59:59.999999": "9999-12-31T23:59:59.999999+00:00",
    # Epoch milliseconds, as AWS's examples send them: a JSON integer or a string of digits.
    "1672470400000": "2022-12-31T07:06:40+00:00",
    1672470400001: "2022-12-31T07:06:40.001000+00:00",
    0: "1970-01-01T00:00:00+00:00",
    "000": "1970-01-01T00:00:00+00:00",
    253402300799999: "9999-12-31T23:59:59.999000+00:00",
    # Digits alone are milliseconds, never a basic-format date.
    "20240102": "1970-01-01T05:37:20.102000+00:00",
}
REJECTED_TIMESTAMPS = [
    "yesterday",
    "",
    "2024-01-02T03:04:05.1234567Z",  # beyond microseconds: would be cut
    "20240102T030405Z",
    "2024-W01-1",
    "2024-01-02T03",
    "2024-01-02t03:04",
    "2024-01-02X03:04",
    "2024-01-02T03:04:05,5",
    "2024-01-02T03:04:05+05",
    "2024-01-02T03:04:05+0530",
    "2024-01-02Z",
    " 2024-01-02",
    "2024-13-01",
    "2023-02-29",
    "2024-01-02T24:00:00",
    "0000-01-01",
    "2024-01-02T03:04:05+24:00",
    "\uff12\uff10\uff12\uff14-01-02",  # full-width digits
    "2024-01-02\n2024-01-03",
    1704164645.0,
    "1704164645.0",
    "1.6e12",
    True,
    -1,
    "-1",
    "+1672470400000",
    253402300800000,
    "253402300800000",
    "9" * 5000,
    "\uff11",  # a full-width digit
]


def test_accepted_timestamps_are_stored_as_utc_microseconds():
    schema = DatasetSchema("t", (Field("at", FieldType.TIMESTAMP),))
    records = [{"at": s} for s in ACCEPTED_TIMESTAMPS]
    check(records, schema)
    check_records(json.dumps(records * 20), schema, Operation.APPEND, internal_fields=NONE)
    stored = records_to_arrow(records, schema).column("at").to_pylist()
    assert [d.isoformat() for d in stored] == list(ACCEPTED_TIMESTAMPS.values())


def test_rejected_timestamps_are_named_one_by_one():
    schema = DatasetSchema("t", (Field("a", FieldType.STRING), Field("at", FieldType.TIMESTAMP)))
    records = [{"a": "ok", "at": "2024-01-02"}] + [{"at": v} for v in REJECTED_TIMESTAMPS]
    found = failures(records, schema)
    assert found == [(i, "at", "type") for i in range(1, len(records))]


def test_a_bad_timestamp_among_good_ones_is_found():
    schema = asc_datasets()["inv_level"]
    records = [
        {
            "snapshot_date": f"2024-01-{d:02d}T00:00:00Z",
            "site_id": "s",
            "product_id": f"p{d}",
            "inv_condition": "good",
            "lot_number": "l",
            "on_hand_inventory": d,
        }
        for d in range(1, 29)
    ]
    records[17]["snapshot_date"] = "2024-01-18T00:00:00.0000000Z"
    assert failures(records, schema, Operation.UPSERT, ASC_INTERNAL_FIELDS) == [
        (17, "snapshot_date", "type")
    ]


def test_records_of_one_shape_are_each_checked_for_range():
    schema = DatasetSchema("t", (Field("n", FieldType.INT),))
    records = [{"n": i} for i in range(100)] + [{"n": 2**40}] + [{"n": 1}]
    assert failures(records, schema) == [(100, "n", "type")]


# messages


def test_message_names_the_first_five_failures_and_counts_the_rest():
    records = [dict(GOOD, order_date="yesterday")] + [{"qty": 1.0}] * 7
    message = error(records)
    assert message == (
        "Invalid data: record 0, field 'order_date': expected a TIMESTAMP (an ISO 8601 "
        "timestamp, or epoch milliseconds as an integer or a string of digits), "
        "got 'yesterday'; record 1, field 'id': required field is missing; "
        "record 2, field 'id': required field is missing; "
        "record 3, field 'id': required field is missing; "
        "record 4, field 'id': required field is missing (and 3 more errors)"
    )


def test_message_says_one_more_error_in_the_singular():
    assert error([{"qty": 1.0}] * 6).endswith("required field is missing (and 1 more error)")


def test_message_explains_each_type():
    def one(field, value):
        return error([dict(GOOD, **{field: value})]).split(": ", 2)[2]

    assert one("line", 1.5) == (
        "expected an INT (an integer in -2147483648..2147483647, as a number or a string), got 1.5"
    )
    assert one("line", "2.5") == (
        "expected an INT (an integer in -2147483648..2147483647, as a number or a string), "
        "got '2.5'"
    )
    assert one("seq", 2**63) == (
        "expected a LONG (an integer in -9223372036854775808..9223372036854775807, "
        "as a number or a string), got 9223372036854775808"
    )
    assert one("qty", True) == (
        "expected a DOUBLE (a finite number, as a number or a string; an integer only in "
        "-9007199254740992..9007199254740992), got true"
    )
    assert one("note", {"a": 1}) == "expected a string, got an object"
    assert one("note", [1]) == "expected a string, got an array"


def test_messages_never_echo_long_values_or_names():
    value = "v" * 10_000
    message = error([dict(GOOD, line=value, **{"k" * 5000: 1})])
    assert "v" * 40 + "…" in message and "v" * 41 not in message
    assert "k" * 64 + "…" in message and "k" * 65 not in message
    assert len(message) < 400


# records_to_arrow


def test_arrow_schema_follows_the_dataset():
    assert arrow_schema(SCHEMA) == pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("line", pa.int32()),
            pa.field("qty", pa.float64(), nullable=False),
            pa.field("seq", pa.int64()),
            pa.field("order_date", pa.timestamp("us", tz="UTC")),
            pa.field("note", pa.string()),
        ]
    )


def test_records_become_a_table_in_schema_order():
    records = parse_records(
        '[{"note": "n", "qty": 3, "id": "a", "line": 2, "seq": 9223372036854775807},'
        ' {"id": "b", "qty": 0.5, "order_date": "2024-01-02T03:04:05+01:00"}]'
    )
    check(records)
    table = records_to_arrow(records, SCHEMA)
    assert table.schema == arrow_schema(SCHEMA)
    assert table.to_pylist() == [
        {"id": "a", "line": 2, "qty": 3.0, "seq": 2**63 - 1, "order_date": None, "note": "n"},
        {
            "id": "b",
            "line": None,
            "qty": 0.5,
            "seq": None,
            "order_date": datetime(2024, 1, 2, 2, 4, 5, tzinfo=UTC),
            "note": None,
        },
    ]


def test_a_column_mixing_offsets_and_utc_converts_too():
    schema = DatasetSchema("t", (Field("at", FieldType.TIMESTAMP),))
    values = ["2024-01-02T00:00:00+02:00", "2024-01-02", None, "2024-01-02 01:00:00.25Z"]
    table = records_to_arrow([{"at": v} for v in values], schema)
    assert table.column("at").cast(pa.int64()).to_pylist() == [
        1704146400000000,
        1704153600000000,
        None,
        1704157200250000,
    ]


def test_fill_sets_a_field_in_every_row():
    schema = asc_datasets()["inbound_order"]
    records = [{"id": "o1", "tpartner_id": "t"}, {"id": "o2", "tpartner_id": "t"}]
    table = records_to_arrow(records, schema, fill={CONNECTION_ID: "api"})
    assert table.column(CONNECTION_ID).to_pylist() == ["api", "api"]
    with pytest.raises(ValueError, match="fill names fields not in the schema"):
        records_to_arrow(records, schema, fill={"nope": "x"})


def test_a_required_field_without_value_fails_the_conversion():
    schema = asc_datasets()["inbound_order"]
    with pytest.raises(RecordError, match="field 'connection_id' needs a value in every record"):
        records_to_arrow([{"id": "o1", "tpartner_id": "t"}], schema)


def test_delete_records_convert_with_only_their_key():
    table = records_to_arrow([{"id": "a", "line": 1}], SCHEMA, operation=Operation.DELETE)
    assert table.to_pylist() == [dict.fromkeys(arrow_schema(SCHEMA).names) | {"id": "a", "line": 1}]
    assert all(field.nullable for field in table.schema)
    with pytest.raises(RecordError, match="field 'line' needs a value in every record"):
        records_to_arrow([{"id": "a"}], SCHEMA, operation=Operation.DELETE)


def test_upsert_records_need_their_key_in_the_conversion_too():
    with pytest.raises(RecordError, match="field 'line' needs a value in every record"):
        records_to_arrow([{"id": "a", "qty": 1.0}], SCHEMA, operation=Operation.UPSERT)


@pytest.mark.parametrize(
    ("record", "match"),
    [
        ({"id": "a", "qty": 1.0, "order_date": "yesterday"}, "record 0, field 'order_date'"),
        ({"id": "a", "qty": 1.0, "line": "1.5"}, "record 0, field 'line'"),
        ({"id": "a", "qty": 1.0, "line": True}, "Invalid data in field 'line'"),
        ({"id": "a", "qty": 1.0, "line": 2**40}, "Invalid data in field 'line'"),
        ({"id": "a", "qty": 2**53 + 1}, "Invalid data in field 'qty'"),
    ],
)
def test_unvalidated_values_fail_the_conversion(record, match):
    with pytest.raises(RecordError, match=match):
        records_to_arrow([record], SCHEMA)


def test_no_records_make_an_empty_table():
    table = records_to_arrow([], SCHEMA)
    assert table.num_rows == 0 and table.schema == arrow_schema(SCHEMA)


# check_records: the column-at-a-time check of event data


def test_check_records_accepts_many_records_of_one_layout_with_nulls_where_allowed():
    rows = [dict(GOOD, id=f"r{i}", line=i, note=None if i % 3 else "x") for i in range(50)]
    rows[7] = {"qty": 1, "id": "other order", "line": None}  # another layout, nulls allowed
    check_records(json.dumps(rows), SCHEMA, Operation.APPEND, internal_fields=NONE)


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("line", 2**31, "type"),  # INT out of range
        ("seq", True, "type"),  # a boolean is no LONG
        ("qty", 2**53 + 1, "type"),  # no double holds it exactly
        ("qty", None, "null"),  # required
        ("id", None, "null"),  # a required string
        ("note", ["x"], "type"),
        ("order_date", "2024-02-30", "type"),
        ("order_date", "2024-01-02T03", "type"),
    ],
)
def test_check_records_names_the_one_bad_value_among_many(field, value, rule):
    rows = [dict(GOOD, id=f"r{i}") for i in range(40)]
    rows[23][field] = value
    with pytest.raises(RecordError) as info:
        check_records(json.dumps(rows), SCHEMA, Operation.APPEND, internal_fields=NONE)
    assert [(f.index, f.field, f.rule) for f in info.value.failures] == [(23, field, rule)]


@pytest.mark.parametrize("checked", [False, True])
def test_digits_are_epoch_milliseconds_on_every_path(checked):
    # Python's fromisoformat would read "20240102" as a date: the rules read milliseconds.
    schema = DatasetSchema("t", (Field("at", FieldType.TIMESTAMP),))
    records = [{"at": "20240102"}, {"at": "2024-01-02T00:00:00Z"}]
    want = ["1970-01-01T05:37:20.102000+00:00", "2024-01-02T00:00:00+00:00"]
    table = records_to_arrow(records, schema, checked=checked)
    assert [d.isoformat() for d in table.column("at").to_pylist()] == want
    from_json = json_to_arrow([json.dumps(records)], schema, checked=checked)
    assert from_json is not None and from_json.equals(table)
