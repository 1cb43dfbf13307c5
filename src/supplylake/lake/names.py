"""How datasets are named in the Iceberg catalog.

Each (instance, namespace) is one single-level Iceberg namespace
`scn_<instance id without dashes>_<namespace>`, and a dataset is a table in it, e.g.

    scn_4f1c2e0a9b7d4c3e8f6a5b4c3d2e1f0a_asc.inbound_order

Single-level, lowercase `[a-z0-9_]` names need no quoting in Spark, Trino, Athena or DuckDB
(Trino's schemas are single-level), and the instance prefix keeps instances apart. The
instance id has a fixed 32 hex digits, so the namespace after it is unambiguous.
"""

from __future__ import annotations

import re

_INSTANCE = re.compile(r"[0-9a-f]{32}")


def namespace_identifier(instance_id: str, namespace: str) -> str:
    """The Iceberg namespace of an instance's namespace."""
    return f"{instance_prefix(instance_id)}{namespace}"


def table_identifier(instance_id: str, namespace: str, dataset: str) -> str:
    """The Iceberg table identifier of a dataset, as other engines type it."""
    return f"{namespace_identifier(instance_id, namespace)}.{dataset}"


def instance_prefix(instance_id: str) -> str:
    """What every Iceberg namespace of the instance starts with."""
    compact = instance_id.replace("-", "").lower()
    if not _INSTANCE.fullmatch(compact):
        raise ValueError(f"instance id is not a UUID: {instance_id!r}")
    return f"scn_{compact}_"
