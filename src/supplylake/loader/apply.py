"""Apply one dataset's pending events to its Iceberg table, exactly once and in position order.

The lake records the position of the last applied event in the same Iceberg commit as the rows,
so after a crash the events at or below that position are known to be applied, whatever the
store says, and are only marked SUCCEEDED; the rest are applied again as one batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from supplylake import metrics
from supplylake.lake import Lake
from supplylake.lake.errors import CommitConflictError, TableNotFoundError
from supplylake.lake.fold import Change
from supplylake.schema.arrow import json_to_arrow, records_to_arrow
from supplylake.schema.asc import ASC_NAMESPACE, CONNECTION_ID, asc_datasets
from supplylake.schema.errors import RecordError
from supplylake.schema.records import parse_records
from supplylake.schema.types import DatasetSchema, Operation
from supplylake.states import GONE, LoadStatus
from supplylake.store.base import DatasetRef, Event, LeaseLost, Outcome, Store

log = logging.getLogger(__name__)

#: The value of ``connection_id`` on rows of ``asc`` datasets loaded from the events API.
CONNECTION_ID_VALUE = "supplylake:SendDataIntegrationEvent"
SUCCEEDED, FAILED = LoadStatus.SUCCEEDED, LoadStatus.FAILED


@dataclass
class BatchResult:
    outcomes: list[Outcome]
    applied_rows: int = 0


def _schema(store: Store, ref: DatasetRef) -> tuple[DatasetSchema | None, datetime | None]:
    """The dataset's schema, and since when it is the schema (None: always, for asc)."""
    if ref.namespace == ASC_NAMESPACE:
        return asc_datasets().get(ref.name), None
    ds = store.get_dataset(ref.instance_id, ref.namespace, ref.name)
    return (None, None) if ds is None else (ds.schema, ds.created_at)


def _instance_gone(store: Store, instance_id: str) -> bool:
    inst = store.get_instance(instance_id)
    return inst is None or inst.state in GONE


def is_transient(exc: BaseException) -> bool:
    """Faults worth retrying in order: I/O, locks, commit conflicts and catalog races.

    A catalog row another writer inserted first (IntegrityError) holds no record data: whatever
    raced is there when the batch is tried again, so it must not fail the events.
    """
    if isinstance(exc, OSError | TimeoutError | CommitConflictError):
        return True
    return type(exc).__name__ in _TRANSIENT_NAMES


_TRANSIENT_NAMES = frozenset(
    {"CommitFailedException", "CommitStateUnknownException", "OperationalError", "IntegrityError"}
)


def apply_dataset_batch(
    store: Store, lake: Lake, ref: DatasetRef, events: list[Event]
) -> BatchResult:
    """Apply ``events`` (one dataset, position order); return an outcome for each."""
    where = f"{ref.namespace}.{ref.name}"
    if _instance_gone(store, ref.instance_id):
        msg = f"Instance {ref.instance_id} was deleted after the event was accepted; nothing was loaded."
        return BatchResult([Outcome(e.position, FAILED, msg) for e in events])
    schema, since = _schema(store, ref)
    deleted = (
        f"Dataset {where} was deleted after the event was accepted; nothing was loaded. "
        "Create the dataset again and resend the event."
    )
    if schema is None:
        return BatchResult([Outcome(e.position, FAILED, deleted) for e in events])
    # asc tables are made on first use; a custom dataset's table is made with the dataset.
    create = ref.namespace == ASC_NAMESPACE
    try:
        table = lake.open_table(ref.instance_id, ref.namespace, schema, create=create)
    except TableNotFoundError:
        # The dataset may have been deleted (its table dropped) since its schema was read.
        if _schema(store, ref)[0] is not None:
            raise
        return BatchResult([Outcome(e.position, FAILED, deleted) for e in events])
    done = lake.position_of(table)
    outcomes = [Outcome(e.position, SUCCEEDED) for e in events if e.position <= done]
    fresh = [e for e in events if e.position > done]
    fill = {CONNECTION_ID: CONNECTION_ID_VALUE} if ref.namespace == ASC_NAMESPACE else None
    changes: list[Change] = []
    applied: list[Event] = []
    # Events received once the dataset had this schema were validated against it at intake:
    # their timestamps need no second check. (A dataset deleted and created again may not fit.)
    checked = since is None or (bool(fresh) and since <= min(e.received_at for e in fresh))
    for run in _runs(fresh):
        converted = _convert(run, schema, fill, where, checked)
        if isinstance(converted, Change):
            changes.append(converted)
            applied += run
            continue
        # Some event of the run does not fit: convert them one by one to fail only those.
        for ev in run:
            one = _convert([ev], schema, fill, where, checked)
            if isinstance(one, Change):
                changes.append(one)
                applied.append(ev)
            else:
                outcomes.append(Outcome(ev.position, FAILED, one))
    if not applied:
        return BatchResult(outcomes)
    if ref.namespace == ASC_NAMESPACE:
        loaded_at = datetime.now(UTC)
        changes = [_with_load_time(c, loaded_at) for c in changes]
    with metrics.LAKE_COMMIT_SECONDS.time():
        lake.apply_batch(
            ref.instance_id,
            ref.namespace,
            schema,
            changes,
            applied[-1].position,
            expected_position=done,
            table=table,
        )
    metrics.LAKE_COMMITS.labels(ref.namespace, ref.name).inc()
    outcomes += [Outcome(e.position, SUCCEEDED) for e in applied]
    return BatchResult(outcomes, sum(c.rows.num_rows for c in changes))


#: asc fields that a record may leave out and then hold the time the loader wrote the row.
LOAD_TIME_FIELDS = ("db_creation_dttm", "db_updation_dttm")


def _with_load_time(change: Change, at: datetime) -> Change:
    """The change with its rows' missing ``LOAD_TIME_FIELDS`` set to ``at``.

    One time per batch: a batch that is applied again after a crash wrote nothing visible the
    first time, so no row ever shows two load times.
    """
    if change.operation is Operation.DELETE:
        return change
    rows = change.rows
    for name in LOAD_TIME_FIELDS:
        i = rows.schema.get_field_index(name)
        if i < 0:
            continue
        column = rows.column(i)
        filled = pc.if_else(pc.is_null(column), pa.scalar(at, column.type), column)
        rows = rows.set_column(i, rows.schema.field(i), filled)
    return replace(change, rows=rows)


def _runs(events: list[Event]) -> list[list[Event]]:
    """Consecutive events of one operation: each run is converted to Arrow in one go."""
    runs: list[list[Event]] = []
    for ev in events:
        if runs and runs[-1][0].operation is ev.operation:
            runs[-1].append(ev)
        else:
            runs.append([ev])
    return runs


def _convert(
    run: list[Event],
    schema: DatasetSchema,
    fill: dict[str, str] | None,
    where: str,
    checked: bool,
) -> Change | str:
    """The run's records as one Change (folding treats it as its events in order), or why not.

    Events are converted a few MiB of text at a time, by pyarrow's JSON reader
    straight to Arrow (`json_to_arrow`); what it cannot take is parsed into Python records
    and converted as before, which also says what is wrong. A few kilobytes of text are parsed
    into records at once: the JSON reader's setup costs more than parsing that little.
    """
    operation = run[0].operation
    chunks: list[pa.Table] = []
    try:
        for events in _by_text_size(run, _CHUNK_CHARS):
            texts = [ev.data or "" for ev in events]
            table = None
            if sum(map(len, texts)) > _SMALL_CHARS:
                table = json_to_arrow(
                    texts, schema, fill=fill, operation=operation, checked=checked
                )
            if table is None:
                table = _convert_parsed(texts, schema, fill, operation, checked)
            chunks.append(table)
    except (RecordError, ValueError, TypeError) as exc:
        # The dataset's schema no longer fits (for example it was deleted and created again).
        return f"The records do not fit {where}: {exc}"
    rows = chunks[0] if len(chunks) == 1 else pa.concat_tables(chunks)
    return Change(operation, rows)


def _by_text_size(events: list[Event], chars: int) -> Iterator[list[Event]]:
    """Consecutive groups of ``events`` of about ``chars`` characters of data (one at least)."""
    group: list[Event] = []
    size = 0
    for ev in events:
        group.append(ev)
        size += len(ev.data or "")
        if size >= chars:
            yield group
            group, size = [], 0
    if group:
        yield group


def _convert_parsed(
    texts: list[str],
    schema: DatasetSchema,
    fill: dict[str, str] | None,
    operation: Operation,
    checked: bool,
) -> pa.Table:
    """Records parsed into Python, then converted: parsed JSON takes several times the memory of
    its text, so a chunk of records at a time."""
    chunks: list[pa.Table] = []
    records: list[dict[str, Any]] = []
    for n, text in enumerate(texts):
        records += parse_records(text)
        if len(records) >= _CHUNK_RECORDS or n == len(texts) - 1:
            chunks.append(
                records_to_arrow(records, schema, fill=fill, operation=operation, checked=checked)
            )
            records = []
    return chunks[0] if len(chunks) == 1 else pa.concat_tables(chunks)


#: Characters of event data converted at once by pyarrow's JSON reader (its Arrow is about
#: as large; the text is already in memory).
_CHUNK_CHARS = 8 << 20

#: Characters of event data below which records are parsed in Python rather than read by
#: pyarrow's JSON reader (for a few wide records, about four times faster).
_SMALL_CHARS = 64 << 10

#: Records parsed before they are converted to Arrow (about 5 MB of JSON for wide records).
_CHUNK_RECORDS = 5_000


def apply_with_retry(
    store: Store,
    lake: Lake,
    ref: DatasetRef,
    events: list[Event],
    sleep: Callable[[float], None] = time.sleep,
    max_delay: float = 5.0,
    held: Callable[[], bool] | None = None,
) -> BatchResult:
    """Apply a batch; retry transient faults with backoff; isolate events that fail for good.

    ``held`` proves the dataset's lease still held right before each attempt; if it is not,
    LeaseLost is raised and nothing more is done (another loader may hold the lease now).
    """
    delay = 0.05
    while True:
        if held is not None and not held():
            raise LeaseLost(f"lost the lease of {ref.namespace}.{ref.name}")
        try:
            return apply_dataset_batch(store, lake, ref, events)
        except Exception as exc:
            if is_transient(exc):
                log.warning("transient fault applying %s, retrying in %.2fs: %s", ref, delay, exc)
                sleep(delay)
                delay = min(delay * 2, max_delay)
                continue
            if len(events) == 1:
                log.error("event %s failed to load: %s", events[0].event_id, exc)
                msg = f"The event could not be loaded into {ref.namespace}.{ref.name}: {exc}"
                return BatchResult([Outcome(events[0].position, FAILED, msg)])
            # Apply one event at a time, in order, so one bad event fails alone.
            log.warning(
                "batch of %d events failed (%s); applying them one by one", len(events), exc
            )
            result = BatchResult([])
            for ev in events:
                one = apply_with_retry(store, lake, ref, [ev], sleep, max_delay, held)
                result.outcomes += one.outcomes
                result.applied_rows += one.applied_rows
            return result
