import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supplylake.schema.timestamps import TIMESTAMP, timestamp_array, timestamp_ok, timestamps_ok

from .strategies import timestamps


def test_an_empty_batch_is_fine():
    assert timestamps_ok([])
    assert timestamp_array([]).type == TIMESTAMP


def test_a_batch_fails_on_any_value_that_is_no_string():
    assert not timestamps_ok(["2024-01-02", 5])
    assert not timestamp_ok(None) and not timestamp_ok(20240102)


@settings(deadline=None)
@given(st.lists(timestamps(), min_size=1, max_size=8), st.lists(st.text(max_size=30), max_size=3))
def test_a_batch_is_fine_exactly_when_each_value_is(good, other):
    batch = [text for text, _ in good] + other
    assert timestamps_ok(batch) == all(timestamp_ok(v) for v in batch)
    assert timestamps_ok([text for text, _ in good])


@settings(deadline=None)
@given(timestamps(), st.integers(1, 50), st.integers(0, 49), st.text(max_size=30))
def test_a_batch_of_one_spelling_is_fine_exactly_when_each_value_is(good, count, at, other):
    # Values spelled alike are checked with one comparison; one odd value among them counts.
    batch = [good[0]] * count
    assert timestamps_ok(batch)
    batch[at % count] = other
    assert timestamps_ok(batch) == timestamp_ok(other)


@pytest.mark.parametrize(
    "odd", ["2024-01-02\n2024-01-02", "2024-02-30", "2024-01-02T24:00", "0000-01-01", ""]
)
def test_one_wrong_value_among_values_spelled_alike_fails_the_batch(odd):
    assert not timestamps_ok(["2024-01-02"] * 10 + [odd] + ["2024-01-02"] * 10)


@settings(deadline=None)
@given(st.lists(st.none() | timestamps(), max_size=8))
def test_every_conversion_path_gives_utc_microseconds(values):
    # One spelling style per column takes an Arrow cast, a mix of them the fromisoformat path.
    array = timestamp_array([None if v is None else v[0] for v in values])
    assert array.type == TIMESTAMP
    assert array.cast(pa.int64()).to_pylist() == [None if v is None else v[1] for v in values]


def test_offsets_and_utc_mix_in_one_column():
    array = timestamp_array(["2024-01-02T00:00+01:00", None, "2024-01-02 00:00:00.5"])
    assert array.cast(pa.int64()).to_pylist() == [1704150000000000, None, 1704153600500000]
