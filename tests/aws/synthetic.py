"""A tiny made-up rest-json service with the traits the supplychain model does not use.

Shape and operation names start with ``Synthetic`` because the protocol layer caches per name.
"""

from __future__ import annotations

from typing import Any

from botocore.model import ServiceModel

_STRING = {"type": "string"}


def synthetic_model() -> Any:
    """Greedy labels, header/headers/statusCode members, query maps, timestamps, blobs, payloads."""
    return ServiceModel(
        {
            "metadata": {
                "apiVersion": "2024-01-01",
                "protocol": "rest-json",
                "serviceId": "Synthetic",
                "endpointPrefix": "synthetic",
                "signatureVersion": "v4",
            },
            "operations": {
                "SyntheticGetObject": {
                    "name": "SyntheticGetObject",
                    "http": {"method": "GET", "requestUri": "/objects/{bucket}/{key+}"},
                    "input": {"shape": "SyntheticGetObjectRequest"},
                    "output": {"shape": "SyntheticGetObjectResponse"},
                },
                "SyntheticGetSpecial": {
                    "name": "SyntheticGetSpecial",
                    "http": {"method": "GET", "requestUri": "/objects/special/{key+}"},
                    "input": {"shape": "SyntheticGetSpecialRequest"},
                },
                "SyntheticPutPayload": {
                    "name": "SyntheticPutPayload",
                    "http": {
                        "method": "PUT",
                        "requestUri": "/payload/{id}",
                        "responseCode": 201,
                    },
                    "input": {"shape": "SyntheticPutPayloadRequest"},
                    "output": {"shape": "SyntheticPutPayloadResponse"},
                },
            },
            "shapes": {
                "SyntheticString": _STRING,
                "SyntheticInteger": {"type": "integer"},
                "SyntheticBoolean": {"type": "boolean"},
                "SyntheticDouble": {"type": "double"},
                "SyntheticBlob": {"type": "blob"},
                "SyntheticTimestamp": {"type": "timestamp"},
                "SyntheticStringList": {
                    "type": "list",
                    "member": {"shape": "SyntheticString"},
                },
                "SyntheticStringMap": {
                    "type": "map",
                    "key": {"shape": "SyntheticString"},
                    "value": {"shape": "SyntheticString"},
                },
                "SyntheticGetObjectRequest": {
                    "type": "structure",
                    "required": ["bucket", "key"],
                    "members": {
                        "bucket": {
                            "shape": "SyntheticString",
                            "location": "uri",
                            "locationName": "bucket",
                        },
                        "key": {
                            "shape": "SyntheticString",
                            "location": "uri",
                            "locationName": "key",
                        },
                        "since": {
                            "shape": "SyntheticTimestamp",
                            "location": "querystring",
                            "locationName": "since",
                        },
                        "limit": {
                            "shape": "SyntheticInteger",
                            "location": "querystring",
                            "locationName": "limit",
                        },
                        "verbose": {
                            "shape": "SyntheticBoolean",
                            "location": "querystring",
                            "locationName": "verbose",
                        },
                        "ratio": {
                            "shape": "SyntheticDouble",
                            "location": "querystring",
                            "locationName": "ratio",
                        },
                        "extra": {"shape": "SyntheticStringMap", "location": "querystring"},
                        "trace": {
                            "shape": "SyntheticString",
                            "location": "header",
                            "locationName": "X-Trace-Id",
                        },
                        "ifModifiedSince": {
                            "shape": "SyntheticTimestamp",
                            "location": "header",
                            "locationName": "If-Modified-Since",
                        },
                        "labels": {
                            "shape": "SyntheticStringList",
                            "location": "header",
                            "locationName": "X-Labels",
                        },
                        "meta": {
                            "shape": "SyntheticStringMap",
                            "location": "headers",
                            "locationName": "x-meta-",
                        },
                        "context": {
                            "shape": "SyntheticString",
                            "jsonvalue": True,
                            "location": "header",
                            "locationName": "X-Context",
                        },
                    },
                },
                "SyntheticGetObjectResponse": {
                    "type": "structure",
                    "members": {
                        "status": {"shape": "SyntheticInteger", "location": "statusCode"},
                        "etag": {
                            "shape": "SyntheticString",
                            "location": "header",
                            "locationName": "ETag",
                        },
                        "lastModified": {
                            "shape": "SyntheticTimestamp",
                            "location": "header",
                            "locationName": "Last-Modified",
                        },
                        "meta": {
                            "shape": "SyntheticStringMap",
                            "location": "headers",
                            "locationName": "x-meta-",
                        },
                        "content": {"shape": "SyntheticBlob"},
                        "createdAt": {"shape": "SyntheticTimestamp"},
                        "checkedAt": {
                            "shape": "SyntheticTimestamp",
                            "timestampFormat": "iso8601",
                        },
                        "score": {"shape": "SyntheticDouble"},
                    },
                },
                "SyntheticGetSpecialRequest": {
                    "type": "structure",
                    "required": ["key"],
                    "members": {
                        "key": {
                            "shape": "SyntheticString",
                            "location": "uri",
                            "locationName": "key",
                        }
                    },
                },
                "SyntheticDocument": {
                    "type": "structure",
                    "members": {"text": {"shape": "SyntheticString"}},
                },
                "SyntheticPutPayloadRequest": {
                    "type": "structure",
                    "required": ["id"],
                    "payload": "document",
                    "members": {
                        "id": {"shape": "SyntheticString", "location": "uri", "locationName": "id"},
                        "document": {"shape": "SyntheticDocument"},
                    },
                },
                "SyntheticPutPayloadResponse": {
                    "type": "structure",
                    "payload": "data",
                    "members": {"data": {"shape": "SyntheticBlob"}},
                },
            },
        },
        service_name="synthetic",
    )
