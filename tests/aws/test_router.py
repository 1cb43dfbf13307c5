"""Router: every modelled route, percent-encoded labels, greedy labels, and clear misses."""

from __future__ import annotations

import re

import pytest

from supplylake.aws.errors import UnknownOperationException, ValidationException
from supplylake.aws.router import Router
from supplylake.aws.spec import service_model

from .synthetic import synthetic_model

ROUTER = Router()
INSTANCE = "8f9d6cf4-1b7e-4d7b-9a64-0c2d6b9e3f10"


def _filled(uri: str) -> tuple[str, dict[str, str]]:
    labels = {name: f"v{i}-{name}" for i, name in enumerate(re.findall(r"{(\w+)}", uri))}
    return re.sub(r"{(\w+)}", lambda m: labels[m.group(1)], uri), labels


@pytest.mark.parametrize("name", sorted(service_model().operation_names))
def test_every_operation_routes_to_itself(name: str) -> None:
    operation = service_model().operation_model(name)
    path, labels = _filled(operation.http["requestUri"])

    matched, found = ROUTER.match(operation.http["method"], path)

    assert matched.name == name
    assert found == labels


def test_resource_arn_label_is_percent_decoded() -> None:
    arn = f"arn:aws:scn:us-east-1:123456789012:instance/{INSTANCE}/namespaces/ns/datasets/d"
    raw = arn.replace(":", "%3A").replace("/", "%2F")

    operation, labels = ROUTER.match("GET", f"/api/tags/{raw}")

    assert operation.name == "ListTagsForResource"
    assert labels == {"resourceArn": arn}


def test_same_path_different_methods_pick_different_operations() -> None:
    path = f"/api/instance/{INSTANCE}"
    names = {m: ROUTER.match(m, path)[0].name for m in ("GET", "PATCH", "DELETE")}
    assert names == {"GET": "GetInstance", "PATCH": "UpdateInstance", "DELETE": "DeleteInstance"}


def test_unknown_path_names_method_and_path() -> None:
    with pytest.raises(UnknownOperationException) as err:
        ROUTER.match("GET", "/api/nothing-here")
    assert err.value.status == 404
    assert "GET /api/nothing-here" in err.value.message


def test_known_path_with_wrong_method_lists_the_allowed_methods() -> None:
    with pytest.raises(UnknownOperationException) as err:
        ROUTER.match("PUT", "/api/instance")
    assert "accepts GET, POST" in err.value.message


@pytest.mark.parametrize(
    "path",
    [
        f"/api/instance/{INSTANCE}/",  # trailing slash
        "/api/instance//",  # empty label
        f"/api/instance/{INSTANCE}/extra",  # one segment too many
        "/api/tags/arn:aws:scn/with/slashes",  # an unencoded '/' does not belong to the label
    ],
)
def test_near_misses_do_not_match(path: str) -> None:
    with pytest.raises(UnknownOperationException):
        ROUTER.match("GET", path)


def test_label_with_invalid_utf8_is_a_validation_error() -> None:
    with pytest.raises(ValidationException):
        ROUTER.match("GET", "/api/instance/%FF%FE")


def test_greedy_label_keeps_slashes_and_literal_routes_win() -> None:
    router = Router(synthetic_model())

    operation, labels = router.match("GET", "/objects/b1/a/b%20c/%2Fd")
    special, special_labels = router.match("GET", "/objects/special/x/y")

    assert operation.name == "SyntheticGetObject"
    assert labels == {"bucket": "b1", "key": "a/b c//d"}
    assert special.name == "SyntheticGetSpecial"
    assert special_labels == {"key": "x/y"}
