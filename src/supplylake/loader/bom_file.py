"""A bill-of-materials CSV, checked whole and converted to ``product_bom``'s types before any write.

The file is read as a stream of batches (``flows.files``); each batch's text converts by the
rules of event records (``schema.text``), and the converted rows go to a spill file on local disk,
so memory holds one batch however large the file is. Any problem fails the file as a whole: the
header is checked first (every column names a field, the service's own ``connection_id`` is not
given, every required field has a column), then every cell. The message names the line and
column of the first few problems, counts the rest, and the spill file is dropped unread.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from supplylake.flows.definition import FileType
from supplylake.flows.files import BATCH_ROWS, FileBatch, open_source_file
from supplylake.lake.keys import match_columns
from supplylake.schema.arrow_types import arrow_schema
from supplylake.schema.asc import CONNECTION_ID
from supplylake.schema.errors import SHOWN_FAILURES, CellFailure, TableError, show_name
from supplylake.schema.text import convert_text_table
from supplylake.schema.types import DatasetSchema

#: Spill files are named ``.bom-<pid>-*.arrow``: those of a process that died are removed.
SPILL_PREFIX = ".bom-"
#: Fields a row may leave empty and that then hold the time the rows were loaded (as events do).
LOAD_TIME_FIELDS = ("db_creation_dttm", "db_updation_dttm")


class BomFileError(Exception):
    """A file that cannot be imported; the message says why, in words a person can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CheckedFile:
    """The converted rows of a good file, in a spill file read as often as needed."""

    path: Path
    rows: int
    #: The match columns (``lake.keys.match_columns``) of every row, in file order.
    keys: pa.Table

    def batches(self) -> Iterator[pa.RecordBatch]:
        # Read, not mapped: mapped pages would count against the process as it reads.
        with pa.OSFile(str(self.path)) as source:
            reader = ipc.open_file(source)
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i)


def check_header(names: list[str], schema: DatasetSchema, where: str) -> None:
    """Fail unless the header names fields, each once, and every required field."""
    fields = {f.name for f in schema.fields}
    problems = []
    seen: set[str] = set()
    for name in names:
        if name in seen:
            problems.append(f"column {show_name(name)} is given twice")
        seen.add(name)
    for name in names:
        if name == CONNECTION_ID:
            problems.append(
                f"column {show_name(name)} is filled by the service and may not be given"
            )
        elif name not in fields:
            problems.append(f"column {show_name(name)} is not a field of {schema.name}")
    missing = [
        f.name
        for f in schema.fields
        if f.required and f.name != CONNECTION_ID and f.name not in seen
    ]
    problems += [f"required column {show_name(n)} is missing" for n in missing]
    if problems:
        raise BomFileError(f"{where}, line 1 (header): {'; '.join(problems[:SHOWN_FAILURES])}.")


def check_file(
    stream: BinaryIO,
    uri: str,
    schema: DatasetSchema,
    connection_id: str,
    loaded_at: datetime,
    spill_dir: Path,
    *,
    batch_rows: int | None = None,
) -> CheckedFile:
    """Read, check and convert the CSV ``stream`` (named ``uri`` in messages) into a spill file.

    Raises BomFileError (or a ``flows.errors.ExecutionError`` for a file that is not CSV) with
    nothing kept. The caller removes the spill file once done with it.
    """
    source = open_source_file(stream, uri, FileType.CSV, batch_rows=batch_rows or BATCH_ROWS)
    with source:
        check_header(source.schema.names, schema, uri)
        target = arrow_schema(schema)
        fill = {CONNECTION_ID: connection_id}
        shown: list[CellFailure] = []
        count = 0
        rows = 0
        key_columns = match_columns(schema)
        keys: list[pa.Table] = []
        spill = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, or by the caller
            dir=spill_dir, prefix=f"{SPILL_PREFIX}{os.getpid()}-", suffix=".arrow", delete=False
        )
        path = Path(spill.name)
        try:
            with spill, ipc.new_file(spill, target) as writer:
                for batch in source.batches():
                    try:
                        converted = _convert(batch, schema, fill, loaded_at)
                    except TableError as e:
                        count += e.count
                        shown += [_at_line(f, batch) for f in e.failures]
                        continue
                    rows += converted.num_rows
                    if not count:  # once the file is known bad, nothing more is kept
                        writer.write_table(converted)
                        keys.append(converted.select(key_columns))
            if count:
                raise BomFileError(_summary(uri, shown, count))
            if rows == 0:
                raise BomFileError(f"{uri} has a header row but no rows: nothing to import.")
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return CheckedFile(path, rows, pa.concat_tables(keys).combine_chunks())


def _convert(
    batch: FileBatch, schema: DatasetSchema, fill: dict[str, str], loaded_at: datetime
) -> pa.Table:
    text = pa.Table.from_batches([batch.data])
    table = convert_text_table(text, schema, first_line=0, fill=fill)
    for name in LOAD_TIME_FIELDS:
        index = table.schema.get_field_index(name)
        if index < 0 or not pa.types.is_timestamp(table.field(index).type):
            continue
        column = table.column(index)
        now = pa.scalar(loaded_at, column.type)
        table = table.set_column(index, table.field(index), pc.fill_null(column, now))
    return table


def _at_line(failure: CellFailure, batch: FileBatch) -> CellFailure:
    """The failure with its line in the file (``convert_text_table`` counted rows from 0)."""
    if failure.line is None:
        return failure
    line = batch.lines[failure.line].as_py() if batch.lines is not None else failure.line + 2
    return CellFailure(line, failure.column, failure.rule, failure.message)


def _summary(uri: str, shown: list[CellFailure], count: int) -> str:
    first = sorted(shown, key=lambda f: f.line or 0)[:SHOWN_FAILURES]
    more = count - len(first)
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
    listed = "; ".join(str(f) for f in first)
    return f"{uri} has values that do not fit product_bom, nothing was imported: {listed}{suffix}."


def remove_spill(checked: CheckedFile | None) -> None:
    if checked is not None:
        with contextlib.suppress(FileNotFoundError):
            checked.path.unlink()


def remove_dead_spills(spill_dir: Path) -> int:
    """Remove the spill files of processes that are gone (killed mid-job); how many."""
    removed = 0
    for path in spill_dir.glob(f"{SPILL_PREFIX}*.arrow"):
        pid = path.name[len(SPILL_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
