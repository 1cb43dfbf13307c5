import uuid

from supplylake.service.ids import random_uuid, time_ordered_uuid


def test_random_uuids_are_version_4_and_distinct():
    ids = [random_uuid() for _ in range(2000)]
    parsed = [uuid.UUID(i) for i in ids]
    assert all(p.version == 4 and p.variant == uuid.RFC_4122 for p in parsed)
    assert [str(p) for p in parsed] == ids
    assert len(set(ids)) == len(ids)


def test_time_ordered_uuids_are_version_7_and_sort_by_time():
    ids = [time_ordered_uuid() for _ in range(2000)]
    parsed = [uuid.UUID(i) for i in ids]
    assert all(p.version == 7 and p.variant == uuid.RFC_4122 for p in parsed)
    millis = [p.int >> 80 for p in parsed]
    assert millis == sorted(millis)
