from datetime import UTC, datetime, timedelta

from supplylake.service.idempotency import idempotency_key, request_hash

AT = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_token_itself_is_not_part_of_the_request_hash():
    a = {"instance_id": "i", "data": "{}", "client_token": "one"}
    assert request_hash(a) == request_hash({**a, "client_token": "two"})
    assert request_hash(a) != request_hash({**a, "data": "[]"})


def test_a_request_without_a_token_has_no_key():
    assert idempotency_key("scope", {"x": 1}, AT, 8) is None
    assert idempotency_key("scope", {"x": 1, "client_token": ""}, AT, 8) is None


def test_a_key_remembers_scope_token_hash_and_lifetime():
    params = {"x": 1, "client_token": "t"}
    key = idempotency_key("scope", params, AT, 8)
    assert key is not None
    assert (key.scope, key.token, key.request_hash) == ("scope", "t", request_hash(params))
    assert key.expires_at == AT + timedelta(hours=8)
