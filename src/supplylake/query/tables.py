"""What the query engine needs from the lake, as protocols: it never imports the lake itself.

The lake (`supplylake.lake.Lake`) satisfies them; keeping the engine on this side of them is what
lets `supplylake.lake.query` use the engine without an import circle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import pyarrow as pa


class TableFiles(Protocol):
    """The Parquet files of a table's current snapshot, as URIs (`file://` or `s3://`)."""

    @property
    def schema(self) -> pa.Schema: ...  # the columns and the types rows are read in

    @property
    def clean(self) -> Sequence[str]: ...  # data files no delete file applies to

    @property
    def deleted_from(self) -> Sequence[str]: ...  # data files deletes may remove rows from

    @property
    def deletes(self) -> Sequence[str]: ...  # position delete files: (file_path, pos) rows

    @property
    def paths(self) -> Sequence[str]: ...  # all of them


class Tables(Protocol):
    """An instance's datasets, by namespace."""

    def namespaces(self, instance_id: str) -> list[str]: ...

    def current_files(self, instance_id: str, namespace: str, name: str) -> TableFiles:
        """The table's files; a LookupError if the instance has no such dataset."""
        ...

    def scan(self, instance_id: str, namespace: str, name: str) -> pa.Table: ...
