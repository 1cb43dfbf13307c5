"""The OpenAPI document is derived from the model: every operation, its parameters and errors."""

from __future__ import annotations

import re

from supplylake.aws.openapi import openapi_document
from supplylake.aws.spec import service_model


def test_every_operation_appears_once_with_its_method() -> None:
    doc = openapi_document()
    found = {
        op["operationId"]: (path, method)
        for path, methods in doc["paths"].items()
        for method, op in methods.items()
    }
    model = service_model()
    assert set(found) == set(model.operation_names)
    for name, (path, method) in found.items():
        http = model.operation_model(name).http
        assert method == http["method"].lower()
        assert path == http["requestUri"].split("?")[0]


def test_path_parameters_match_the_template() -> None:
    for path, methods in openapi_document()["paths"].items():
        labels = set(re.findall(r"\{(\w+)\}", path))
        for op in methods.values():
            assert {p["name"] for p in op["parameters"] if p["in"] == "path"} == labels


def test_constraints_and_errors_come_from_the_model() -> None:
    doc = openapi_document()
    send = doc["paths"]["/api-data/data-integration/instance/{instanceId}/data-integration-events"][
        "post"
    ]
    body = doc["components"]["schemas"]["SendDataIntegrationEventRequest"]
    assert body["properties"]["data"]["maxLength"] == 1048576
    assert set(body["required"]) == {"eventType", "data", "eventGroupId"}
    assert "instanceId" not in body["properties"]  # a path parameter, not a body member
    assert {"400", "403", "404", "409", "429", "402", "500"} <= set(send["responses"])
    assert send["requestBody"]["required"] is True
