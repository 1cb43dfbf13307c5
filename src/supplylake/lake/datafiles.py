"""Write rows as Parquet data files of a table, without committing them.

This is what pyiceberg's own write path does (split by partition, pack into files of the target
size, project the rows onto the table's schema with field ids, write Parquet, gather the column
statistics for the manifest), with the plan kept. pyiceberg works out, for every write, the
Iceberg schema of the rows, the projection, the statistics plan and the Parquet options from
the table's schema and properties: for the loader's batches of a few rows that planning costs
many times the write itself. A table's plan depends only on its schema, its properties and the
Arrow schema of the rows, so it is made once for each of these and kept.

A file of a few rows is compressed with Snappy instead of the table's default, Zstandard,
unless the table names a codec: setting up Zstandard for each column chunk cost twice the rest
of such a file's write, for no saving worth having on a file compaction soon replaces. Parquet
records the codec of each column chunk, so every reader reads either.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.io import FileIO
from pyiceberg.io.pyarrow import (
    StatisticsCollector,
    bin_pack_arrow_table,
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
)
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.partitioning import PartitionKey
from pyiceberg.table import Table, TableProperties
from pyiceberg.table.locations import LocationProvider, load_location_provider
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.typedef import Record
from pyiceberg.utils.properties import property_as_int

from supplylake.lake._pyiceberg import file_schema_of, parquet_writer_options, split_by_partition
from supplylake.lake.lru import Lru

#: Plans kept: one per table and schema of rows written to it.
_PLANS = 512
#: Files of one write written at once.
_WRITERS = 4


@dataclass(frozen=True)
class WritePlan:
    """What writing rows of one Arrow schema to one table takes, worked out once."""

    arrow_schema: pa.Schema  # the rows as the file holds them: table field ids, projected types
    statistics: dict[int, StatisticsCollector]
    column_ids: dict[str, int]
    options: dict[str, Any]
    small_options: dict[str, Any]  # for files of at most `_SMALL_BYTES` of rows
    row_group_rows: int
    target_bytes: int
    locations: LocationProvider
    spec_id: int
    partitioned: bool


_plans: Lru[tuple[Any, ...], WritePlan] = Lru(_PLANS)


def write_data_files(table: Table, rows: pa.Table) -> list[DataFile]:
    """Write `rows` as data files of `table`, split by partition and size (not committed)."""
    return [data_file for data_file, _ in write_rows(table, rows)]


def write_rows(table: Table, rows: pa.Table) -> list[tuple[DataFile, pa.Table]]:
    """`write_data_files`, with the rows each file holds, in file order."""
    if not rows.num_rows:
        return []
    metadata = table.metadata
    plan = plan_for(metadata, rows.schema)
    write_uuid = uuid.uuid4()
    counter = itertools.count()
    parts: Iterable[tuple[PartitionKey | None, pa.Table]]
    if plan.partitioned:
        parts = split_by_partition(metadata.spec(), metadata.schema(), rows)
    else:
        parts = [(None, rows)]
    tasks = [
        (key, batches, f"00000-{next(counter)}-{write_uuid}.parquet")
        for key, part in parts
        for batches in bin_pack_arrow_table(part, plan.target_bytes)
    ]
    if len(tasks) == 1:
        return [_write_one(table.io, plan, *tasks[0])]
    # Writing and compressing release the GIL. A pool of its own: callers may run on
    # pyiceberg's shared executor, and waiting on it from its own workers can deadlock.
    with ThreadPoolExecutor(max_workers=min(_WRITERS, len(tasks))) as pool:
        return list(pool.map(lambda task: _write_one(table.io, plan, *task), tasks))


def plan_for(metadata: TableMetadata, rows: pa.Schema) -> WritePlan:
    """The plan for writing rows of schema `rows` to a table with `metadata`."""
    props = metadata.properties
    key = (
        metadata.table_uuid,
        metadata.current_schema_id,
        metadata.default_spec_id,
        metadata.location,
        tuple(sorted(props.items())),
        rows,
    )
    plan = _plans.get(key)
    if plan is None:
        file_schema, arrow_schema = file_schema_of(metadata, rows)
        options = parquet_writer_options(props)
        small = dict(options)
        if TableProperties.PARQUET_COMPRESSION not in props:
            small.update(compression="snappy", compression_level=None)
        plan = WritePlan(
            arrow_schema=arrow_schema,
            statistics=compute_statistics_plan(file_schema, props),
            column_ids=parquet_path_to_id_mapping(file_schema),
            options=options,
            small_options=small,
            row_group_rows=_int(props, TableProperties.PARQUET_ROW_GROUP_LIMIT, _ROW_GROUP_ROWS),
            target_bytes=_int(props, TableProperties.WRITE_TARGET_FILE_SIZE_BYTES, _TARGET_BYTES),
            locations=load_location_provider(metadata.location, props),
            spec_id=metadata.default_spec_id,
            partitioned=not metadata.spec().is_unpartitioned(),
        )
        _plans.put(key, plan)
    return plan


def forget_plans() -> None:
    """Drop every kept plan (tests)."""
    _plans.clear()


#: Rows (in Arrow) up to which a file is written with `WritePlan.small_options`.
_SMALL_BYTES = 1 << 20
_ROW_GROUP_ROWS = TableProperties.PARQUET_ROW_GROUP_LIMIT_DEFAULT
_TARGET_BYTES = TableProperties.WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT


def _int(props: dict[str, str], name: str, default: int) -> int:
    value = property_as_int(props, name, default)
    return default if value is None else value


def _write_one(
    io: FileIO,
    plan: WritePlan,
    key: PartitionKey | None,
    batches: list[pa.RecordBatch],
    name: str,
) -> tuple[DataFile, pa.Table]:
    given = pa.Table.from_batches(batches)
    rows = given.cast(plan.arrow_schema)
    path = plan.locations.new_data_location(data_file_name=name, partition_key=key)
    output = io.new_output(path)
    options = plan.small_options if rows.nbytes <= _SMALL_BYTES else plan.options
    with output.create(overwrite=True) as stream:
        with pq.ParquetWriter(
            stream, schema=plan.arrow_schema, store_decimal_as_integer=True, **options
        ) as writer:
            writer.write(rows, row_group_size=plan.row_group_rows)
        statistics = data_file_statistics_from_parquet_metadata(
            parquet_metadata=writer.writer.metadata,
            stats_columns=plan.statistics,
            parquet_column_mapping=plan.column_ids,
        )
    data_file = DataFile.from_args(
        content=DataFileContent.DATA,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=key.partition if key is not None else Record(),
        file_size_in_bytes=len(output),
        sort_order_id=None,
        spec_id=plan.spec_id,
        equality_ids=None,
        key_metadata=None,
        **statistics.to_serialized_dict(),
    )
    return data_file, given
