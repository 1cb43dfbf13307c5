"""The data lake: Iceberg tables of all datasets (the only package that imports pyiceberg).

What users call (`open_lake`, `read_dataset`, `query`) is in `api`; `Lake` (in `tables`) is
what the service, the loader and the query engine hold.
"""

from supplylake.lake.api import open_lake, query, read_dataset
from supplylake.lake.compact import CompactResult
from supplylake.lake.errors import CommitConflictError, LakeError, TableNotFoundError
from supplylake.lake.fold import Change
from supplylake.lake.live import CurrentFiles
from supplylake.lake.maintenance import MaintenanceResult
from supplylake.lake.names import namespace_identifier, table_identifier
from supplylake.lake.tables import Lake
from supplylake.lake.write import ApplyResult

__all__ = [
    "ApplyResult",
    "Change",
    "CommitConflictError",
    "CompactResult",
    "CurrentFiles",
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
