"""Upsert a whole imported file into its table in one snapshot, at most once per import job.

An import is a flow execution's UPSERT without a flow (``FlowWriter`` with no sequence number):
its rows are staged as data files while they stream, then the live rows with a key of the file
are removed by position delete files in the same snapshot as the new data files. What is
particular to an import is said here: a key given twice in the file keeps its last row, and
every live row with a key of the file is replaced, whichever job or flow wrote it.

The rows come as a source of record batches that can be read more than once (a spill file): the
keys are read first to find the last row of each, then the rows are streamed to the writer, so
memory holds the key columns of the file and a chunk of rows, never the file.

The snapshot records the job's id as its execution (``execution_committed``): a job run again
after its loader died between the commit and recording the outcome finds its snapshot and
commits nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from supplylake.lake.flows_write import (
    FlowCommit,
    FlowWriter,
    WriteMode,
    execution_committed,
)
from supplylake.lake.keys import encode_keys, match_columns
from supplylake.lake.layout import arrow_schema
from supplylake.lake.tables import Lake
from supplylake.schema.types import DatasetSchema, Transform

#: The writer an import's snapshot names (``FLOW_PROPERTY``); its execution is the job's id.
IMPORT_WRITER = "supplylake:BillOfMaterialsImportJob"

#: Rows gathered before they are written as data files; an import holds two such chunks at
#: most (one being written while the next gathers).
GROUP_ROWS = 256 * 1024

_SEQ = "__supplylake_seq"

#: Record batches of the rows to import, read afresh at each call.
BatchSource = Callable[[], Iterator[pa.RecordBatch]]


def upsert_import(
    lake: Lake,
    instance_id: str,
    namespace: str,
    schema: DatasetSchema,
    source: BatchSource,
    job_id: str,
    *,
    keys: pa.Table | None = None,
    exclusive: Callable[[], AbstractContextManager[Any]] | None = None,
    group_rows: int = GROUP_ROWS,
) -> FlowCommit:
    """Upsert the rows of ``source`` (the dataset's Arrow schema) in one snapshot for ``job_id``.

    ``keys``, if the caller gathered them, are the ``match_columns`` of every row of ``source``
    in order (else they are read from ``source``). The data files are written first;
    ``exclusive()`` is then held (the table's other writers kept out) while the rows to replace
    are found and the snapshot is committed.
    """
    if not schema.primary_keys:
        raise ValueError(f"an import upserts by primary key; {schema.name!r} has none")
    table = lake.open_table(instance_id, namespace, schema, create=True)
    if execution_committed(table, job_id):
        return FlowCommit(None, 0, 0, already=True)
    keep = _last_of_each_key(_keys(source, schema) if keys is None else keys, schema)
    writer = FlowWriter(
        table,
        schema,
        flow=IMPORT_WRITER,
        execution_id=job_id,
        seq=None,
        mode=WriteMode.UPSERT,
        chunk_rows=group_rows,
    )
    try:
        for rows in _kept(source, keep):
            writer.add(rows)
        writer.finish()
        with exclusive() if exclusive is not None else contextlib.nullcontext():
            return writer.commit(lambda: lake.table(instance_id, namespace, schema.name))
    except BaseException:
        writer.abort()
        raise


def _keys(source: BatchSource, schema: DatasetSchema) -> pa.Table:
    """The match columns of every row of ``source``, copied out of its batches."""
    columns = match_columns(schema)
    parts = [pa.Table.from_batches([b.select(columns)]).combine_chunks() for b in source()]
    if not parts:
        return arrow_schema(schema).empty_table().select(columns)
    return pa.concat_tables(parts).combine_chunks()


def _last_of_each_key(keys: pa.Table, schema: DatasetSchema) -> pa.Array:
    """Which rows to write: the last of each key, as a mask over all rows."""
    columns = match_columns(schema)
    if keys.column_names != columns:
        raise ValueError(f"the keys of an import are the columns {columns}")
    everywhere = pc.fill_null(pa.nulls(keys.num_rows, pa.bool_()), True)
    seq = pc.indices_nonzero(everywhere).cast(pa.int64())  # 0, 1, 2, ...
    if all(p.transform is Transform.IDENTITY for p in schema.partition_spec):
        # The match key is the columns themselves: grouped as they are, nothing encoded.
        grouped = keys.append_column(_SEQ, seq)
        by = columns
    else:
        grouped = pa.table({"key": encode_keys(keys, schema), _SEQ: seq})
        by = ["key"]
    last = grouped.group_by(by, use_threads=False).aggregate([(_SEQ, "max")])
    return pc.is_in(seq, value_set=last.column(f"{_SEQ}_max").combine_chunks())


def _kept(source: BatchSource, keep: pa.Array) -> Iterator[pa.Table]:
    """The rows of ``source`` that ``keep`` (a mask over all its rows) selects."""
    start = 0
    for batch in source():
        mask = keep.slice(start, batch.num_rows)
        start += batch.num_rows
        batch = batch.filter(mask)
        if batch.num_rows:
            yield pa.Table.from_batches([batch])
