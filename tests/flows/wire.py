"""Flow requests as the service receives them: serialized by botocore, parsed by the aws/ layer."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from botocore.serialize import create_serializer

from supplylake.aws.parser import parse_request
from supplylake.aws.router import Router
from supplylake.aws.spec import service_model
from supplylake.aws.validation import validate

INSTANCE = "8850c54e-e187-4fa7-89d4-6370f165174d"
OTHER_INSTANCE = "1c4f52a0-94a1-4bd8-a2f5-2d7c6a3f9e10"
BUCKET = f"aws-supply-chain-data-{INSTANCE}"
_SERIALIZER = create_serializer("rest-json")
_ROUTER = Router()


def dataset_arn(namespace: str, name: str, instance: str = INSTANCE) -> str:
    return f"arn:aws:scn:us-east-1:123456789012:instance/{instance}/namespaces/{namespace}/datasets/{name}"


def parsed(operation_name: str, **kwargs: Any) -> dict[str, Any]:
    """The snake_case params a handler of ``operation_name`` gets for these boto3 arguments."""
    operation = service_model().operation_model(operation_name)
    request = _SERIALIZER.serialize_to_request(kwargs, operation)
    url = urlsplit(request["url_path"])
    matched, labels = _ROUTER.match(request["method"], url.path)
    assert matched.name == operation_name
    params = parse_request(
        matched,
        labels,
        parse_qsl(request["query_string"] if isinstance(request["query_string"], str) else ""),
        request["headers"],
        request["body"] if isinstance(request["body"], bytes) else request["body"].encode(),
    )
    validate(matched.input_shape, params)
    return params


def s3_source(name: str = "orders", prefix: str = "orders", **options: Any) -> dict[str, Any]:
    source: dict[str, Any] = {"bucketName": BUCKET, "prefix": prefix}
    if options:
        source["options"] = options
    return {"sourceType": "S3", "sourceName": name, "s3Source": source}


def dataset_source(name: str, namespace: str, dataset: str) -> dict[str, Any]:
    return {
        "sourceType": "DATASET",
        "sourceName": name,
        "datasetSource": {"datasetIdentifier": dataset_arn(namespace, dataset)},
    }


def dataset_target(namespace: str, dataset: str, **options: Any) -> dict[str, Any]:
    target: dict[str, Any] = {"datasetIdentifier": dataset_arn(namespace, dataset)}
    if options:
        target["options"] = options
    return {"targetType": "DATASET", "datasetTarget": target}


def sql(query: str) -> dict[str, Any]:
    return {"transformationType": "SQL", "sqlTransformation": {"query": query}}


def create(name: str = "orders-flow", **members: Any) -> dict[str, Any]:
    """CreateDataIntegrationFlow's params (defaults: one S3 source, SELECT *, a staging dataset)."""
    kwargs: dict[str, Any] = {
        "instanceId": INSTANCE,
        "name": name,
        "sources": [s3_source()],
        "transformation": sql("SELECT * FROM orders"),
        "target": dataset_target("default", "staging"),
    }
    kwargs.update(members)
    return parsed("CreateDataIntegrationFlow", **kwargs)
