"""The data lake: Iceberg tables of all datasets (the only package that imports pyiceberg)."""

from supplylake.lake.api import open_lake, query, read_dataset
from supplylake.lake.catalog import Lake, namespace_identifier, table_identifier
from supplylake.lake.compact import CompactResult
from supplylake.lake.errors import CommitConflictError, LakeError, TableNotFoundError
from supplylake.lake.fold import Change
from supplylake.lake.maintenance import MaintenanceResult
from supplylake.lake.write import ApplyResult

__all__ = [
    "ApplyResult",
    "Change",
    "CommitConflictError",
    "CompactResult",
    "Lake",
    "LakeError",
    "MaintenanceResult",
    "TableNotFoundError",
    "namespace_identifier",
    "open_lake",
    "query",
    "read_dataset",
    "table_identifier",
]
