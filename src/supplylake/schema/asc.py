"""The predefined datasets of the ``asc`` namespace (the AWS Supply Chain data model).

The schemas come from ``asc_data_model.json``, shipped with the package. Choices made here:

- Every asc dataset carries the internal ``connection_id`` STRING field, appended last (and
  required, as AWS reports it) unless the guide already lists it. Clients may not send it; the
  service fills it when loading.
- ``connection_id`` is *not* added to the primary key: a client matches UPSERT and DELETE on the
  key fields it can send. It stays in the key only where the guide puts it there
  (``supply_planning_parameters``); as the service fills one constant value it changes nothing.
- The guide spells a few field names with a space (``tax 1``); field names may not contain spaces,
  so they become underscores (``tax_1``).
- asc datasets have no partition spec.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import orjson

from supplylake.schema.types import DatasetSchema, Field, FieldType

ASC_NAMESPACE = "asc"
DEFAULT_NAMESPACE = "default"
CONNECTION_ID = "connection_id"
#: Fields of asc datasets that the service fills and clients may not send.
ASC_INTERNAL_FIELDS = frozenset({CONNECTION_ID})


@cache
def _model() -> dict[str, Any]:
    data = files("supplylake.schema").joinpath("asc_data_model.json").read_bytes()
    model: dict[str, Any] = orjson.loads(data)
    return model


def _field_name(raw: str) -> str:
    return raw.strip().replace(" ", "_")


def _dataset(name: str, entry: dict[str, Any]) -> DatasetSchema:
    fields = [
        Field(_field_name(f["name"]), FieldType(f["type"]), bool(f["required"]))
        for f in entry["fields"]
    ]
    if not any(f.name == CONNECTION_ID for f in fields):
        fields.append(Field(CONNECTION_ID, FieldType.STRING, required=True))
    return DatasetSchema(
        name=name,
        fields=tuple(fields),
        primary_keys=tuple(_field_name(k) for k in entry["primary_key"]),
    )


@cache
def asc_datasets() -> dict[str, DatasetSchema]:
    """The 44 predefined asc datasets by dataset name (treat the dict as read-only)."""
    return {name: _dataset(name, entry) for name, entry in _model()["datasets"].items()}


@cache
def asc_event_types() -> dict[str, str]:
    """Event type (``scn.data.inboundorder``) → the asc dataset it writes to."""
    return dict(_model()["event_types"])


def internal_fields(namespace: str) -> frozenset[str]:
    """The fields of datasets in ``namespace`` that only the service may fill."""
    return ASC_INTERNAL_FIELDS if namespace == ASC_NAMESPACE else frozenset()
