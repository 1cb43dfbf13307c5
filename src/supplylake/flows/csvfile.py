"""CSV with a header row, read as text columns by pyarrow's streaming reader.

Every column is text and an empty field is null: types are the target's business, converted
with the same rules as event records. A row whose fields are all empty (a blank line) is skipped.

Lines are counted exactly, so that a message can point at the line a person opens in an editor:
blank lines are read as rows (and dropped after counting), and the line breaks inside quoted
values are counted per row. A row with the wrong number of fields fails the file with its line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from supplylake.flows.errors import FileFormatError
from supplylake.flows.source import FileBatch, SourceFile

#: Bytes read to find the header (a header longer than this is refused).
HEADER_BYTES = 1 << 20
#: Bytes pyarrow parses at a time.
BLOCK_BYTES = 4 << 20


def open_csv(stream: IO[bytes], name: str, batch_rows: int) -> SourceFile:
    """The CSV file in ``stream`` as text columns named by its header row."""
    head = stream.read(HEADER_BYTES)
    columns, header_lines = _header(head, name)
    invalid: list[tuple[int, int, int]] = []  # (record number, expected, actual)

    def on_invalid(row: Any) -> str:
        invalid.append((row.number, row.expected_columns, row.actual_columns))
        return "skip"

    try:
        reader = pacsv.open_csv(
            _Prepend(head, stream),
            read_options=pacsv.ReadOptions(
                use_threads=False, block_size=min(BLOCK_BYTES, max(batch_rows * 64, 1 << 16))
            ),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(columns, pa.string()),
                strings_can_be_null=True,
                null_values=[""],
            ),
        )
    except pa.ArrowInvalid as e:
        raise FileFormatError(f"{name} cannot be read as CSV: {_reason(e)}.") from None
    schema = pa.schema([pa.field(n, pa.string()) for n in reader.schema.names])
    return SourceFile(name, schema, _batches(reader, name, header_lines, invalid), has_lines=True)


def _header(head: bytes, name: str) -> tuple[list[str], int]:
    """The column names of the header row and how many lines it takes."""
    text = head.decode("utf-8-sig", errors="replace")
    if not text.strip():
        raise FileFormatError(f"{name} is empty: a CSV file starts with a header row.")
    lines = io.StringIO(text, newline="")
    rows = csv.reader(lines)
    try:
        names = next(rows)
    except csv.Error as e:
        raise FileFormatError(f"{name}: the header row cannot be read: {e}.") from None
    if lines.tell() >= len(text) and len(head) == HEADER_BYTES:
        raise FileFormatError(f"{name}: the header row is longer than {HEADER_BYTES} bytes.")
    if not any(n.strip() for n in names):
        raise FileFormatError(f"{name}: line 1 should be a header row naming the columns.")
    return names, rows.line_num


def _batches(
    reader: Any, name: str, header_lines: int, invalid: list[tuple[int, int, int]]
) -> Iterator[FileBatch]:
    next_line = header_lines + 1  # the line the next row starts on
    rows_read = 0  # rows pyarrow gave, blank ones included
    kept = 0
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            batch = None
        except pa.ArrowInvalid as e:
            raise FileFormatError(
                f"{name}: the rows after line {next_line - 1} cannot be read: {_reason(e)}."
            ) from None
        if batch is None:
            _raise_invalid(invalid, name, rows_read, None, next_line)
            return
        starts, after = _line_starts(batch, next_line)
        _raise_invalid(invalid, name, rows_read, (batch, starts), after)
        rows_read += batch.num_rows
        next_line = after
        if batch.num_rows == 0:
            continue
        # Blank lines (and rows of empty fields only) carry nothing: count them, then drop them.
        nonblank = _any_value(batch)
        if nonblank is not None:
            batch = batch.filter(nonblank)
            starts = starts.filter(nonblank)
        if batch.num_rows:
            yield FileBatch(batch, kept, starts)
            kept += batch.num_rows


def _line_starts(batch: pa.RecordBatch, first_line: int) -> tuple[pa.Int64Array, int]:
    """The line each row starts on, and the line after the batch."""
    breaks = None
    for column in batch.columns:
        count = pc.fill_null(pc.count_substring(column, "\n"), 0)
        breaks = count if breaks is None else pc.add(breaks, count)
    n = batch.num_rows
    if breaks is None or n == 0:
        return pa.array(range(first_line, first_line + n), pa.int64()), first_line + n
    spans = pc.add(pc.cast(breaks, pa.int64()), 1)  # lines each row takes
    ends = pc.cumulative_sum(spans)
    starts = pc.add(pc.subtract(ends, spans), first_line)
    return starts, first_line + ends[-1].as_py()


def _any_value(batch: pa.RecordBatch) -> pa.BooleanArray | None:
    """Rows with at least one value, or None when every row has one."""
    mask = None
    for column in batch.columns:
        valid = pc.is_valid(column)
        mask = valid if mask is None else pc.or_(mask, valid)
    if mask is None or pc.all(mask).as_py():
        return None
    return mask


def _raise_invalid(
    invalid: list[tuple[int, int, int]],
    name: str,
    rows_before: int,
    batch: tuple[pa.RecordBatch, pa.Int64Array] | None,
    line_after: int,
) -> None:
    """Fail on the first row with the wrong number of fields, once its line is known."""
    if not invalid:
        return
    number, expected, actual = invalid[0]
    # ``number`` counts records from 1, header included; valid rows before it were all given.
    index = number - 2 - rows_before
    if batch is not None and index < batch[0].num_rows:
        line = batch[1][index].as_py() if index >= 0 else line_after
    elif batch is None or index == batch[0].num_rows:
        line = line_after
    else:
        return  # in a later batch
    raise FileFormatError(
        f"{name}, line {line}: {actual} field{'s' if actual != 1 else ''} where the header "
        f"names {expected}."
    )


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    # pyarrow's parse errors end with the row's text: keep the reason, not the data.
    return text.split(": ", 2)[1] if text.startswith("CSV parse error: ") else text


class _Prepend(io.RawIOBase):
    """The bytes already read, then the rest of the stream."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
