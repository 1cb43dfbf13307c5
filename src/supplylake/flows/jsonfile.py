"""JSON source files: JSON lines (one object per line) or one JSON array of objects.

Values become text columns, as CSV's are (a string as itself; numbers, booleans, objects and
arrays as their JSON text; null as null), so one converter turns both into the target's types
with the same rules as event records. pyarrow's JSON reader fixes each column's type from the
first block and refuses a file whose values change kind later, which real exports do.

The columns are the fields of the first batch of records; a field first seen later fails the
file with its line (nothing is dropped silently). JSON lines stream; a JSON array is parsed
whole, so an array file is refused above ``MAX_ARRAY_BYTES`` (write JSON lines instead).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO, Any

import orjson
import pyarrow as pa

from supplylake.flows.errors import FileFormatError
from supplylake.flows.source import FileBatch, SourceFile

MAX_ARRAY_BYTES = 256 << 20


def open_json(stream: IO[bytes], name: str, batch_rows: int) -> SourceFile:
    """The JSON lines or JSON array file in ``stream`` as text columns."""
    first = _first_byte(stream)
    if first is None:
        raise FileFormatError(f"{name} is empty: no JSON records.")
    lead, start = first
    if lead == b"[":
        records = _array_records(start + stream.read(MAX_ARRAY_BYTES + 1 - len(start)), name)
    else:
        records = _line_records(start, stream, name)
    chunks = _chunks(records, batch_rows)
    try:
        head = next(chunks)
    except StopIteration:
        raise FileFormatError(f"{name} holds no JSON records.") from None
    columns: dict[str, None] = {}
    for _, record in head:
        columns.update(dict.fromkeys(record))
    schema = pa.schema([pa.field(c, pa.string()) for c in columns])
    with_lines = lead != b"["
    return SourceFile(
        name, schema, _batches(head, chunks, schema, name, with_lines), has_lines=with_lines
    )


def _first_byte(stream: IO[bytes]) -> tuple[bytes, bytes] | None:
    """The first non-blank byte and what was read to find it (a UTF-8 BOM skipped)."""
    read = b""
    while True:
        chunk = stream.read(1 << 16)
        if not chunk:
            return None
        read += chunk
        unmarked = read.removeprefix(b"\xef\xbb\xbf")
        text = unmarked.lstrip()
        if text:
            # All of it, leading blank lines included, so that line numbers stay right.
            return text[:1], unmarked


def _line_records(start: bytes, stream: IO[bytes], name: str) -> Iterator[tuple[int, Any]]:
    number = 0
    for line in _lines(start, stream):
        number += 1
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            raise FileFormatError(f"{name}, line {number}: not JSON ({e.args[0]}).") from None
        if not isinstance(record, dict):
            raise FileFormatError(f"{name}, line {number}: a JSON object was expected.")
        yield number, record


def _lines(start: bytes, stream: IO[bytes]) -> Iterator[bytes]:
    pending = start
    while True:
        chunk = stream.read(1 << 20)
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from complete
        if not chunk:
            if pending:
                yield pending
            return


def _array_records(data: bytes, name: str) -> Iterator[tuple[int, Any]]:
    if len(data) > MAX_ARRAY_BYTES:
        raise FileFormatError(
            f"{name}: a JSON array file is read whole, and this one is over "
            f"{MAX_ARRAY_BYTES >> 20} MiB: write it as JSON lines (one object per line)."
        )
    try:
        records = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise FileFormatError(f"{name}: not JSON ({e.args[0]}).") from None
    for i, record in enumerate(records, 1):
        if not isinstance(record, dict):
            raise FileFormatError(f"{name}, record {i}: a JSON object was expected.")
        yield i, record


def _chunks(
    records: Iterable[tuple[int, Any]], size: int
) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    chunk: list[tuple[int, dict[str, Any]]] = []
    for item in records:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _batches(
    head: list[tuple[int, dict[str, Any]]],
    rest: Iterator[list[tuple[int, dict[str, Any]]]],
    schema: pa.Schema,
    name: str,
    with_lines: bool,
) -> Iterator[FileBatch]:
    first = 0
    names = schema.names
    known = set(names)
    for chunk in _chain(head, rest):
        values: dict[str, list[str | None]] = {n: [] for n in names}
        for number, record in chunk:
            for key in record:
                if key not in known:
                    where = f"line {number}" if with_lines else f"record {number}"
                    raise FileFormatError(
                        f"{name}, {where}: field {key!r} is not in the file's first records, "
                        "which name the columns; give every record the same fields."
                    )
            for n in names:
                values[n].append(_text(record.get(n)))
        batch = pa.record_batch([pa.array(values[n], pa.string()) for n in names], schema=schema)
        lines = pa.array([number for number, _ in chunk], pa.int64()) if with_lines else None
        yield FileBatch(batch, first, lines)
        first += len(chunk)


def _chain(
    head: list[tuple[int, dict[str, Any]]], rest: Iterator[list[tuple[int, dict[str, Any]]]]
) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    yield head
    yield from rest


def _text(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    return orjson.dumps(value).decode()
