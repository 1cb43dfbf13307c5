"""An OpenAPI 3.0 document generated from the service model (served at ``/openapi.json``)."""

from __future__ import annotations

from functools import cache
from typing import Any

from supplylake.aws.spec import service_model

_REF = "#/components/schemas/"
_SCALARS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer", "format": "int32"},
    "long": {"type": "integer", "format": "int64"},
    "boolean": {"type": "boolean"},
    "double": {"type": "number", "format": "double"},
    "float": {"type": "number", "format": "float"},
    "timestamp": {"type": "number", "description": "seconds since the epoch"},
    "blob": {"type": "string", "format": "byte"},
}


def _schema(shape: Any, components: dict[str, Any]) -> dict[str, Any]:
    """A schema for ``shape``; structures become shared components referenced by name."""
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if shape.name not in components:
            components[shape.name] = {}  # placeholder first: shapes may be recursive
            body = [(n, m) for n, m in shape.members.items() if "location" not in m.serialization]
            obj: dict[str, Any] = {
                "type": "object",
                "properties": {n: _schema(m, components) for n, m in body},
            }
            required = [n for n in shape.required_members if n in dict(body)]
            if required:
                obj["required"] = required
            components[shape.name] = obj
        return {"$ref": _REF + shape.name}
    if kind == "list":
        out: dict[str, Any] = {"type": "array", "items": _schema(shape.member, components)}
        _copy(meta, out, {"min": "minItems", "max": "maxItems"})
        return out
    if kind == "map":
        out = {"type": "object", "additionalProperties": _schema(shape.value, components)}
        _copy(meta, out, {"min": "minProperties", "max": "maxProperties"})
        return out
    out = dict(_SCALARS.get(kind, {"type": "string"}))
    if kind == "string":
        _copy(
            meta,
            out,
            {"min": "minLength", "max": "maxLength", "pattern": "pattern", "enum": "enum"},
        )
        if "pattern" in out:
            out["pattern"] = f"^(?:{out['pattern']})$"
    elif kind in ("integer", "long", "double", "float"):
        _copy(meta, out, {"min": "minimum", "max": "maximum"})
    return out


def _copy(meta: dict[str, Any], out: dict[str, Any], names: dict[str, str]) -> None:
    for ours, theirs in names.items():
        if ours in meta:
            out[theirs] = meta[ours]


def _operation(op: Any, components: dict[str, Any]) -> dict[str, Any]:
    params: list[dict[str, Any]] = []
    body_members = {}
    shape = op.input_shape
    if shape is not None:
        for name, member in shape.members.items():
            where = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if where in ("uri", "querystring", "header"):
                param: dict[str, Any] = {
                    "name": wire,
                    "in": {"uri": "path", "querystring": "query", "header": "header"}[where],
                    "required": where == "uri" or name in shape.required_members,
                    "schema": _schema(member, components),
                }
                if member.type_name == "list" and where == "querystring":
                    param["style"], param["explode"] = "form", True
                params.append(param)
            elif where is None:
                body_members[name] = member
    spec: dict[str, Any] = {
        "operationId": op.name,
        "summary": op.name,
        "parameters": params,
        "responses": {
            str(op.http.get("responseCode", 200)): {
                "description": "Success",
                "content": {"application/json": {"schema": _schema(op.output_shape, components)}}
                if op.output_shape is not None
                else {},
            },
            **{
                str(err.metadata["error"]["httpStatusCode"]): {
                    "description": err.name,
                    "content": {"application/json": {"schema": _schema(err, components)}},
                }
                for err in op.error_shapes
            },
            "403": {"description": "Authentication failed or access denied (AWS error codes)"},
        },
    }
    if body_members:
        spec["requestBody"] = {
            "required": any(n in shape.required_members for n in body_members),
            "content": {"application/json": {"schema": _schema(shape, components)}},
        }
    return spec


@cache
def openapi_document() -> dict[str, Any]:
    """The whole API as OpenAPI 3.0, derived from botocore's model (cached)."""
    model = service_model()
    components: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for name in model.operation_names:
        op = model.operation_model(name)
        path = op.http["requestUri"].split("?", 1)[0].replace("+}", "}")
        paths.setdefault(path, {})[op.http["method"].lower()] = _operation(op, components)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "supplylake: AWS Supply Chain API",
            "version": model.api_version,
            "description": "Generated from botocore's supplychain service model. Every request "
            "must be signed with AWS Signature Version 4 (service 'scn').",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "sigv4": {"type": "apiKey", "in": "header", "name": "Authorization"}
            },
        },
        "security": [{"sigv4": []}],
    }
