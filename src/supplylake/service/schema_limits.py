"""The limits botocore's model sets on a custom schema's names and lists, for `schema.custom`.

The wire layer checks them on every request already; the schema rules check them again for
schemas that come another way, from the same source.
"""

from __future__ import annotations

import re
from functools import cache

from supplylake.aws.spec import service_model
from supplylake.schema.custom import Limit, SchemaLimits


def _limit(shape_name: str) -> Limit:
    meta = service_model().shape_for(shape_name).metadata
    pattern = re.compile(meta["pattern"]) if "pattern" in meta else None
    return Limit(pattern, int(meta.get("min", 0)), int(meta.get("max", 2**31)))


@cache
def schema_limits() -> SchemaLimits:
    """The model's limits on dataset, schema and field names and on the schema's lists."""
    return SchemaLimits(
        dataset_name=_limit("DataLakeDatasetName"),
        schema_name=_limit("DataLakeDatasetSchemaName"),
        field_name=_limit("DataLakeDatasetSchemaFieldName"),
        fields=_limit("DataLakeDatasetSchemaFieldList"),
        primary_keys=_limit("DataLakeDatasetPrimaryKeyFieldList"),
        partition_fields=_limit("DataLakeDatasetPartitionFieldList"),
    )
