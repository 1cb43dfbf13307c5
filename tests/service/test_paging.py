"""A List request's page: its size, the cursor its nextToken carries, and what it answers."""

from __future__ import annotations

import asyncio

import pytest

from supplylake.aws.errors import ValidationException
from supplylake.service.context import Services
from supplylake.service.paging import PageRequest, page_request


def _request(svc: Services, scope: str, **params: object) -> PageRequest:
    return asyncio.run(page_request(svc, dict(params), scope))


def test_a_page_answers_its_limit_and_a_token_that_resumes_after_it(services: Services) -> None:
    first = _request(services, "ListThings:i-1", max_results=2)
    assert (first.limit, first.cursor, first.after_name) == (2, None, None)
    page = first.answer("things", ["a", "b", "c"], str.upper, lambda name: name)
    assert page["things"] == ["A", "B"]
    second = _request(services, "ListThings:i-1", max_results=2, next_token=page["next_token"])
    assert second.after_name == "b"
    assert second.answer("things", ["c"], str.upper, lambda name: name) == {"things": ["C"]}


def test_without_max_results_a_page_holds_ten(services: Services) -> None:
    assert _request(services, "ListThings:i-1").limit == 10


def test_hidden_items_do_not_move_the_token(services: Services) -> None:
    page = _request(services, "ListThings:i-1", max_results=2).answer(
        "things", ["a", "b", "c"], str.upper, lambda name: name, shown=lambda name: name != "b"
    )
    assert page["things"] == ["A"]
    resumed = _request(services, "ListThings:i-1", next_token=page["next_token"])
    assert resumed.cursor == "b"


def test_a_token_of_another_listing_is_refused(services: Services) -> None:
    page = _request(services, "ListThings:i-1", max_results=1).answer(
        "things", ["a", "b"], str.upper, lambda name: name
    )
    with pytest.raises(ValidationException, match="nextToken is invalid"):
        _request(services, "ListThings:i-2", next_token=page["next_token"])
