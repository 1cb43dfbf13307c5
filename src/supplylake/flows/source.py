"""What reading a flow's source file gives, whatever its type: a SourceFile of FileBatches.

Apart from :mod:`.files` (which picks the reader by file type) so that the readers
(:mod:`.csvfile`, :mod:`.jsonfile`) and the picker share these types without importing each other.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO

import pyarrow as pa

#: The column ``SourceFile.reader(lines=True)`` adds: the line each row starts on.
LINE_COLUMN = "__supplylake_line"


@dataclass(frozen=True)
class FileBatch:
    """Rows of a file; ``first_row`` is the 0-based index of the first one among the file's rows."""

    data: pa.RecordBatch
    first_row: int
    #: The line of the file each row starts on (1-based), or None where a file has no lines.
    lines: pa.Int64Array | None = None

    def where(self, row: int) -> str:
        """Where row ``row`` of this batch is in its file, for a message (``line 7``)."""
        if self.lines is not None:
            return f"line {self.lines[row].as_py()}"
        return f"record {self.first_row + row + 1}"


class SourceFile:
    """An open source file: its columns (``schema``) and its batches, read once, in order.

    Close it (or use it as a context manager) to free what reading it took, such as the
    temporary copy of a Parquet file; the stream it was opened on stays the caller's.
    """

    def __init__(
        self,
        name: str,
        schema: pa.Schema,
        batches: Iterator[FileBatch],
        resources: Sequence[IO[bytes]] = (),
        *,
        has_lines: bool = False,
    ) -> None:
        self._has_lines = has_lines
        self.name = name
        self.schema = schema
        self._batches = batches
        self._resources = list(resources)

    def close(self) -> None:
        for resource in self._resources:
            resource.close()

    def __enter__(self) -> SourceFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def batches(self) -> Iterator[FileBatch]:
        return self._batches

    def reader(self, lines: bool = False) -> pa.RecordBatchReader:
        """The record batches (what an SQL engine scans), errors passed through.

        With ``lines``, files that have lines get a last column, ``LINE_COLUMN``, which
        ``flows.sql`` carries to the result where each result row is one row of the file.
        """
        if not lines or not self._has_lines:
            return pa.RecordBatchReader.from_batches(self.schema, (b.data for b in self._batches))
        schema = self.schema.append(pa.field(LINE_COLUMN, pa.int64()))
        return pa.RecordBatchReader.from_batches(
            schema, (b.data.append_column(LINE_COLUMN, b.lines) for b in self._batches)
        )
