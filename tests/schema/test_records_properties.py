"""Properties: valid records pass and survive the trip to Arrow; any one mutation is caught."""

import json
import re
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supplylake.schema.arrow import json_to_arrow, records_to_arrow
from supplylake.schema.errors import RecordError
from supplylake.schema.records import parse_records
from supplylake.schema.rules import DECIMAL_TEXT, INT_TEXT, text_ok, texts_ok
from supplylake.schema.types import DatasetSchema, Field, FieldType, Operation
from supplylake.schema.validate import check_records, validate_records

from .strategies import EPOCH_MS_MAX, NAMES, decimal_texts, schemas, timestamps, values


@st.composite
def batches(
    draw: st.DrawFn, schema: DatasetSchema, operation: Operation
) -> tuple[str, list[dict[str, Any]]]:
    """Event data valid for ``schema`` and the rows the table must hold."""
    needed = set(schema.primary_keys) if operation is not Operation.APPEND else set()
    if operation is not Operation.DELETE:
        needed |= {f.name for f in schema.fields if f.required}
    records, rows = [], []
    for _ in range(draw(st.integers(1, 6))):
        record, row = {}, {}
        for f in schema.fields:
            choice = (
                "value" if f.name in needed else draw(st.sampled_from(["value", "null", "absent"]))
            )
            value, stored = draw(values(f.type)) if choice == "value" else (None, None)
            if choice != "absent":
                record[f.name] = value
            row[f.name] = stored
        records.append(dict(draw(st.permutations(list(record.items())))))
        rows.append(row)
    return orjson.dumps(records).decode(), rows


def table_rows(table: pa.Table) -> list[dict[str, Any]]:
    # Timestamps compared as microseconds: the expected side never went through datetime → Arrow.
    columns = [c.cast(pa.int64()) if pa.types.is_timestamp(c.type) else c for c in table.columns]
    return pa.Table.from_arrays(columns, names=table.column_names).to_pylist()


@st.composite
def cases(draw: st.DrawFn) -> tuple[DatasetSchema, Operation, str, list[dict[str, Any]]]:
    schema = draw(schemas())
    operation = draw(
        st.sampled_from(list(Operation) if schema.primary_keys else [Operation.APPEND])
    )
    data, rows = draw(batches(schema, operation))
    return schema, operation, data, rows


@settings(deadline=None)
@given(cases())
def test_valid_records_pass_and_round_trip_through_arrow(case):
    schema, operation, data, rows = case
    records = parse_records(data)
    validate_records(records, schema, operation, internal_fields=frozenset())
    assert table_rows(records_to_arrow(records, schema, operation=operation)) == rows


def _not(pattern: str) -> st.SearchStrategy[str]:
    """Text that does not spell ``pattern``."""
    return st.text().filter(lambda t: re.fullmatch(pattern, t) is None)


def wrong_values(field_type: FieldType) -> st.SearchStrategy[Any]:
    containers = st.just([1]) | st.just({"a": 1})
    if field_type in (FieldType.INT, FieldType.LONG):
        low, high = (-(2**31), 2**31 - 1) if field_type is FieldType.INT else (-(2**63), 2**63 - 1)
        out_of_range = st.integers(high + 1, 2**64 - 1) | st.integers(-(2**65), low - 1)
        return (
            st.floats().filter(lambda f: not f.is_integer())
            | st.booleans()
            | out_of_range
            | out_of_range.map(str)
            | _not(INT_TEXT)
            | decimal_texts()
            | containers
        )
    if field_type is FieldType.DOUBLE:
        inexact = st.integers(2**53 + 1, 2**64 - 1) | st.integers(-(2**63), -(2**53) - 1)
        special = st.sampled_from(["NaN", "nan", "Infinity", "-inf", "1e400", "-2E+309", "0x10"])
        return (
            _not(DECIMAL_TEXT) | st.booleans() | inexact | inexact.map(str) | special | containers
        )
    if field_type is FieldType.STRING:
        return st.integers() | st.floats() | st.booleans() | containers
    bad_text = st.sampled_from(["yesterday", "", "2024-01-02T03", "2024-13-01", "-1", "+5"])
    out_of_range = st.integers(EPOCH_MS_MAX + 1, 2**64 - 1) | st.integers(-(2**63), -1)
    return (
        st.floats()
        | st.booleans()
        | containers
        | bad_text
        | out_of_range
        | st.integers(EPOCH_MS_MAX + 1, 10**30).map(str)
        | timestamps().map(lambda t: t[0] + "x")
    )


@settings(deadline=None)
@given(cases(), st.data())
def test_one_mutation_is_named_by_record_and_field(case, data):
    schema, operation, text, _ = case
    records = parse_records(text)
    index = data.draw(st.integers(0, len(records) - 1))
    record = records[index]
    needed = set(schema.primary_keys) if operation is not Operation.APPEND else set()
    if operation is not Operation.DELETE:
        needed |= {f.name for f in schema.fields if f.required}
    needed = sorted(needed)
    kinds = ["type", "unknown"] + (["missing", "null"] if needed else [])
    kind = data.draw(st.sampled_from(kinds))
    if kind == "type":
        field = data.draw(st.sampled_from(schema.fields))
        name = field.name
        record[name] = data.draw(wrong_values(field.type))
    elif kind == "unknown":
        name = data.draw(NAMES.filter(lambda n: schema.field(n) is None))
        record[name] = data.draw(st.none() | st.integers() | st.text())
    else:
        name = data.draw(st.sampled_from(needed))
        if kind == "missing":
            del record[name]
        else:
            record[name] = None
    with pytest.raises(RecordError) as info:
        validate_records(records, schema, operation, internal_fields=frozenset())
    assert [(f.index, f.field, f.rule) for f in info.value.failures] == [(index, name, kind)]
    assert info.value.message.startswith(f"Invalid data: record {index}, field {name!r}: ")


def _column_path(records: list[dict[str, Any]], schema: DatasetSchema, operation: Operation) -> Any:
    """records_to_arrow through its column-by-column path alone: the table, or the error."""
    from supplylake.schema import arrow as module

    saved = module._struct_to_arrow
    module._struct_to_arrow = lambda *args: None  # type: ignore[assignment]
    try:
        return records_to_arrow(records, schema, operation=operation)
    except (RecordError, ValueError, TypeError) as exc:
        return type(exc)
    finally:
        module._struct_to_arrow = saved


@settings(deadline=None)
@given(cases(), st.data())
def test_the_struct_path_agrees_with_the_column_path(case, data):
    """Valid or not (one field given a wrong value), the fast path gives the slow path's table, or
    steps aside (None) so that the slow path raises its error."""
    schema, operation, text, _ = case
    records = parse_records(text)
    if data.draw(st.booleans()):
        field = data.draw(st.sampled_from(schema.fields))
        records[data.draw(st.integers(0, len(records) - 1))][field.name] = data.draw(
            wrong_values(field.type) | st.none()
        )
    from supplylake.schema.arrow import _struct_to_arrow

    slow = _column_path(records, schema, operation)
    fast = _struct_to_arrow(records, schema, {}, operation, False)
    if isinstance(slow, pa.Table) and not (fast is None and _spelled_apart(records, schema)):
        assert fast is not None and fast.equals(slow)
    elif not isinstance(slow, pa.Table):
        assert fast is None


def _spelled_apart(records: list[dict[str, Any]], schema: DatasetSchema) -> bool:
    """Whether a field's values are spelled in ways one struct cannot read: a numeric field as
    a string in some records only (or not in the first), a timestamp as an integer."""
    for f in schema.fields:
        kinds = {type(r.get(f.name)) for r in records} - {type(None)}
        if f.type is FieldType.TIMESTAMP and int in kinds:
            return True
        numeric = f.type in (FieldType.INT, FieldType.LONG, FieldType.DOUBLE)
        if numeric and str in kinds and (kinds != {str} or type(records[0].get(f.name)) is not str):
            return True
    return False


def _outcome(run: Any) -> Any:
    try:
        run()
    except RecordError as exc:
        return exc.message, [(f.index, f.field, f.rule) for f in exc.failures]
    return "ok"


@settings(deadline=None, max_examples=400)
@given(cases(), st.data())
def test_check_records_gives_the_verdict_and_message_of_validate_records(case, data):
    """check_records judges event data a column at a time: valid or not (any of the mutations
    above, in some records), it must say exactly what validate_records says of the parsed data."""
    schema, operation, text, _ = case
    records = parse_records(text)
    # Many records of one layout, as clients send them, so that the column check has its say
    # (from 32 records on).
    records = [dict(r) for r in records for _ in range(data.draw(st.integers(1, 8)))]
    records = [dict(r) for r in records * (32 // len(records) + 1)]
    for _ in range(data.draw(st.integers(0, 2))):
        record = records[data.draw(st.integers(0, len(records) - 1))]
        kind = data.draw(st.sampled_from(["type", "null", "unknown", "missing"]))
        name = data.draw(st.sampled_from([f.name for f in schema.fields]))
        if kind == "type":
            record[name] = data.draw(wrong_values(schema.field(name).type))  # type: ignore[union-attr]
        elif kind == "null":
            record[name] = None
        elif kind == "unknown":
            record[data.draw(NAMES.filter(lambda n: schema.field(n) is None))] = 1
        else:
            record.pop(name, None)
    text = json.dumps(records)  # orjson would refuse integers beyond 64 bits
    internal = data.draw(st.sets(st.sampled_from([f.name for f in schema.fields]), max_size=1))
    internal = frozenset(internal)
    expected = _outcome(
        lambda: validate_records(parse_records(text), schema, operation, internal_fields=internal)
    )
    got = _outcome(lambda: check_records(text, schema, operation, internal_fields=internal))
    assert got == expected


@st.composite
def event_texts(draw: st.DrawFn, records: list[dict[str, Any]]) -> list[str]:
    """The records spread over events as a client may send them: arrays or single objects,
    compact or indented (line breaks between tokens)."""
    texts, i = [], 0
    while i < len(records):
        n = draw(st.integers(1, len(records) - i))
        part = records[i : i + n]
        i += n
        value: Any = part[0] if n == 1 and draw(st.booleans()) else part
        indent = draw(st.sampled_from([None, 2]))
        texts.append(json.dumps(value, indent=indent, ensure_ascii=draw(st.booleans())))
    return texts


@settings(deadline=None)
@given(cases(), st.data())
def test_the_json_reader_path_gives_the_table_of_the_records(case, data):
    schema, operation, text, _rows = case
    records = parse_records(text)
    texts = data.draw(event_texts(records))
    checked = data.draw(st.booleans())
    fill = {}
    if (
        schema.fields
        and not schema.fields[-1].required
        and schema.fields[-1].type is FieldType.STRING
    ):
        fill = data.draw(st.sampled_from([{}, {schema.fields[-1].name: "filled"}]))
    expected = records_to_arrow(records, schema, operation=operation, fill=fill, checked=checked)
    got = json_to_arrow(texts, schema, operation=operation, fill=fill, checked=checked)
    if got is None:
        # It may step aside (the loader then converts the parsed records) only for spellings
        # one struct cannot read.
        assert _spelled_apart(records, schema)
        return
    assert got.schema == expected.schema
    assert got.equals(expected)


def test_the_json_reader_path_declines_what_it_cannot_vouch_for():
    schema = DatasetSchema(
        "t",
        (
            Field("id", FieldType.INT, required=True),
            Field("at", FieldType.TIMESTAMP),
            Field("name", FieldType.STRING),
        ),
    )
    good = '[{"id": 1, "at": "2026-01-02T03:04:05+02:00", "name": "a"}]'
    assert json_to_arrow([good], schema) is not None
    for bad in (
        '[{"id": 2.0}]',  # not an integer
        '[{"id": true}]',
        '[{"id": 1, "name": 5}]',
        '[{"name": "no id"}]',  # a required field without a value
        '[{"id": 1, "at": "yesterday"}]',
        '[{"id": 1}',  # not JSON
        '"text"',
        "",
    ):
        # The loader then parses the records and converts them as before, or says why not.
        assert json_to_arrow([good, bad], schema) is None, bad


def _number_texts(field_type: FieldType) -> st.SearchStrategy[str]:
    good = values(field_type).map(lambda p: p[0] if isinstance(p[0], str) else repr(p[0]))
    bad = wrong_values(field_type).filter(lambda v: isinstance(v, str))
    edge = st.sampled_from(["9007199254740992", "9007199254740993", "-9007199254740993", "1\n2"])
    return good | bad | edge


@settings(deadline=None, max_examples=300)
@given(st.sampled_from([FieldType.INT, FieldType.LONG, FieldType.DOUBLE]), st.data())
def test_a_column_of_number_texts_is_judged_as_each_text_is(field_type, data):
    texts = data.draw(st.lists(_number_texts(field_type), min_size=1, max_size=12))
    assert texts_ok(field_type, texts) == all(text_ok(field_type, t) for t in texts)
