"""A flow's source file as a stream of Arrow record batches, with bounded memory.

The file type comes from the source's ``fileType``, else from the key's extension (``.csv``,
``.parquet``/``.pq``, ``.json``/``.jsonl``/``.ndjson``; a trailing ``.gz`` is unpacked on the way).
CSV and JSON values arrive as text (``flows.csvfile``, ``flows.jsonfile``); Parquet keeps its
own types.

The seam with conversion: a FileBatch carries, for CSV and JSON lines, the line of the file
each row started on, so whoever converts the text to the target's types (``schema``'s converter,
at the call site) can name file, line and column in its message: ``batch.where(row)``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

import pyarrow as pa

from supplylake.flows.csvfile import open_csv
from supplylake.flows.definition import FileType
from supplylake.flows.errors import FileFormatError
from supplylake.flows.jsonfile import open_json
from supplylake.flows.source import LINE_COLUMN as LINE_COLUMN
from supplylake.flows.source import FileBatch as FileBatch
from supplylake.flows.source import SourceFile as SourceFile

#: Rows per batch: big enough for vectorized work, small enough that memory stays bounded.
BATCH_ROWS = 64 * 1024

_EXTENSIONS = {
    ".csv": FileType.CSV,
    ".tsv": FileType.CSV,
    ".txt": FileType.CSV,
    ".parquet": FileType.PARQUET,
    ".pq": FileType.PARQUET,
    ".json": FileType.JSON,
    ".jsonl": FileType.JSON,
    ".ndjson": FileType.JSON,
}


def file_type_of(key: str, file_type: FileType | None) -> FileType:
    """The type a source file is read as: the one given, else the key's extension."""
    if file_type is not None:
        return file_type
    name = key.rsplit("/", 1)[-1].lower()
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = Path(name).suffix
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    known = ", ".join(sorted(_EXTENSIONS))
    raise FileFormatError(
        f"{key}: no fileType in the flow's source options, and the extension does not say one "
        f"({known}, optionally .gz): set options.fileType or rename the file."
    )


def open_source_file(
    stream: BinaryIO,
    name: str,
    file_type: FileType | None,
    *,
    batch_rows: int = BATCH_ROWS,
    spool_dir: Path | None = None,
) -> SourceFile:
    """Read ``stream`` (named ``name`` in messages, e.g. its ``s3://`` URI) as its file type.

    The stream is read as the batches are; close it after the last one.
    """
    kind = file_type_of(name, file_type)
    source: IO[bytes] = stream
    if name.lower().endswith(".gz"):
        source = pa.CompressedInputStream(pa.PythonFile(stream, mode="r"), "gzip")
    if kind is FileType.CSV:
        return open_csv(source, name, batch_rows)
    if kind is FileType.JSON:
        return open_json(source, name, batch_rows)
    return _open_parquet(source, name, batch_rows, spool_dir)


def _open_parquet(
    stream: IO[bytes], name: str, batch_rows: int, spool_dir: Path | None
) -> SourceFile:
    import pyarrow.parquet as pq

    from supplylake.flows.buckets import spool

    # Parquet is read from its footer: a stream that cannot seek is copied to a temporary file.
    seekable = isinstance(stream, io.IOBase) and stream.seekable()
    source = stream if seekable else spool(stream, spool_dir)
    spooled = [] if source is stream else [source]
    try:
        parquet = pq.ParquetFile(source)
    except (pa.ArrowInvalid, OSError) as e:
        for f in spooled:
            f.close()
        raise FileFormatError(f"{name} is not a Parquet file: {_first_line(e)}.") from None

    def batches() -> Iterator[FileBatch]:
        first = 0
        try:
            for batch in parquet.iter_batches(batch_size=batch_rows):
                yield FileBatch(batch, first)
                first += batch.num_rows
        except (pa.ArrowInvalid, OSError) as e:
            raise FileFormatError(
                f"{name}: the Parquet data after row {first} cannot be read: {_first_line(e)}."
            ) from None

    return SourceFile(name, parquet.schema_arrow, batches(), spooled)


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
