"""The event stream of an instance (filters, live updates) and the detail of one event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from supplylake.console.access import authorize, call
from supplylake.console.web import Console, Viewer, format_time
from supplylake.schema.asc import asc_event_types
from supplylake.service.blocking import blocking
from supplylake.service.events import DATASET_EVENT
from supplylake.states import LoadStatus
from supplylake.store.base import Event, Store

STATUSES = tuple(LoadStatus)
PAGE_SIZE = 50
#: A filtered view reads at most this many of the newest events to find its matches.
SCAN_LIMIT = 20_000
_READ_BATCH = 500
#: Records shown on an event's page; the rest are counted.
RECORDS_SHOWN = 200


def event_types() -> list[str]:
    return sorted([*asc_event_types(), DATASET_EVENT])


@dataclass(frozen=True)
class EventFilter:
    event_type: str | None = None
    group: str | None = None
    status: str | None = None

    @classmethod
    def from_query(cls, query: QueryParams) -> EventFilter:
        event_type = query.get("type") or None
        status = query.get("status") or None
        return cls(
            event_type=event_type if event_type in event_types() else None,
            group=(query.get("group") or "").strip() or None,
            status=status if status in STATUSES else None,
        )

    def matches(self, ev: Event) -> bool:
        return (self.status is None or ev.status == self.status) and (
            self.group is None or self.group in ev.event_group_id
        )

    @property
    def active(self) -> bool:
        return any((self.event_type, self.group, self.status))


@dataclass
class EventPage:
    events: list[Event]
    #: Position to pass as ``before`` for the next (older) page, if there may be one.
    older: int | None
    scanned: int
    #: True when the scan stopped at SCAN_LIMIT before the listing was exhausted.
    truncated: bool


def find_events(
    store: Store, instance_id: str, flt: EventFilter, before: int | None, limit: int = PAGE_SIZE
) -> EventPage:
    """The newest events matching ``flt`` with positions below ``before``, newest first."""
    found: list[Event] = []
    scanned = 0
    cursor = before
    while scanned < SCAN_LIMIT:
        batch = store.list_events(instance_id, flt.event_type, cursor, _READ_BATCH)
        for ev in batch:
            scanned += 1
            if flt.matches(ev):
                found.append(ev)
                if len(found) > limit:
                    return EventPage(found[:limit], found[limit - 1].position, scanned, False)
        if len(batch) < _READ_BATCH:
            return EventPage(found, None, scanned, False)
        cursor = batch[-1].position
    return EventPage(found, cursor, scanned, True)


def event_row(instance_id: str, ev: Event) -> dict[str, Any]:
    """One event as the stream shows it (also the JSON the live updates read)."""
    return {
        "id": ev.event_id,
        "type": ev.event_type,
        "group": ev.event_group_id,
        "dataset": f"{ev.namespace}.{ev.dataset}",
        "operation": ev.operation.value,
        "timestamp": format_time(ev.event_timestamp).removesuffix(" UTC"),
        "received": format_time(ev.received_at),
        "status": ev.status,
        "message": ev.message or "",
    }


def records_table(data: str | None) -> tuple[list[str], list[dict[str, Any]], int]:
    """Columns, the first RECORDS_SHOWN records and the total count of an event's data."""
    if not data:
        return [], [], 0
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return [], [], 0
    records = [r for r in (parsed if isinstance(parsed, list) else [parsed]) if isinstance(r, dict)]
    columns: list[str] = []
    for record in records[:RECORDS_SHOWN]:
        columns += [k for k in record if k not in columns]
    return columns, records[:RECORDS_SHOWN], len(records)


def routes(console: Console) -> dict[str, Any]:
    """The event pages' endpoints by route name."""
    services = console.services

    async def _page(request: Request, viewer: Viewer) -> tuple[Any, EventFilter, EventPage]:
        iid = request.path_params["instance_id"]
        inst = await authorize(services, viewer.ctx, "ListDataIntegrationEvents", iid)
        flt = EventFilter.from_query(request.query_params)
        raw_before = request.query_params.get("before", "")
        before = int(raw_before) if raw_before.isdigit() else None
        page = await blocking(find_events, services.store, inst.instance_id, flt, before)
        return inst, flt, page

    async def stream(request: Request, viewer: Viewer) -> Response:
        inst, flt, page = await _page(request, viewer)
        return console.render(
            request,
            "events.html",
            {
                "inst": inst,
                "tab": "events",
                "flt": flt,
                "page": page,
                "rows": [event_row(inst.instance_id, e) for e in page.events],
                "event_types": event_types(),
                "statuses": STATUSES,
                "live": "before" not in request.query_params,
                "filter_query": urlencode(
                    [(k, v) for k, v in request.query_params.multi_items() if k != "before"]
                ),
            },
            viewer,
        )

    async def stream_json(request: Request, viewer: Viewer) -> Response:
        inst, _, page = await _page(request, viewer)
        return JSONResponse(
            {
                "events": [event_row(inst.instance_id, e) for e in page.events],
                "scanned": page.scanned,
                "truncated": page.truncated,
            }
        )

    async def detail(request: Request, viewer: Viewer) -> Response:
        iid, event_id = request.path_params["instance_id"], request.path_params["event_id"]
        # The API's own handler decides whether the key may see the event and whether it exists.
        found = await call(
            services,
            viewer.ctx,
            "GetDataIntegrationEvent",
            {"instance_id": iid, "event_id": event_id},
        )
        inst = await authorize(services, viewer.ctx, "GetDataIntegrationEvent", iid)
        ev = await blocking(services.store.get_event, inst.instance_id, event_id, True)
        if ev is None:  # purged between the two reads
            return console.error(request, viewer, 404, "Not found", f"Event {event_id} is gone.")
        columns, records, total = records_table(ev.data)
        return console.render(
            request,
            "event.html",
            {
                "inst": inst,
                "tab": "events",
                "ev": ev,
                "api": found["event"],
                "columns": columns,
                "records": records,
                "total_records": total,
                "shown": RECORDS_SHOWN,
            },
            viewer,
        )

    return {
        "events": console.page(stream),
        "events_json": console.json(stream_json),
        "event": console.page(detail),
    }
