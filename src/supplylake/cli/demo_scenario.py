"""The demo's scenario: a buyer's purchase orders, shipments, inventory and forecasts as events.

``Scenario.next_steps`` answers the next few SendDataIntegrationEvent calls, keeping orders in
flight (open, confirmed, shipped, received or cancelled) so later events update earlier rows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

OPEN_ORDERS = "open_purchase_orders"
DOOMED = "supplier_scorecard_staging"
OPEN_ORDERS_SCHEMA = {
    "name": "OpenPurchaseOrders",
    "fields": [
        {"name": "order_id", "type": "STRING", "isRequired": True},
        {"name": "order_date", "type": "TIMESTAMP", "isRequired": True},
        {"name": "supplier", "type": "STRING", "isRequired": False},
        {"name": "to_site_id", "type": "STRING", "isRequired": False},
        {"name": "status", "type": "STRING", "isRequired": False},
        {"name": "lines", "type": "INT", "isRequired": False},
        {"name": "quantity", "type": "DOUBLE", "isRequired": False},
        {"name": "value_usd", "type": "DOUBLE", "isRequired": False},
    ],
    "primaryKeys": [{"name": "order_id"}],
}
OPEN_ORDERS_PARTITIONS = {"fields": [{"name": "order_date", "transform": {"type": "DAY"}}]}
DOOMED_SCHEMA = {
    "name": "SupplierScorecardStaging",
    "fields": [
        {"name": "supplier", "type": "STRING", "isRequired": True},
        {"name": "on_time_rate", "type": "DOUBLE", "isRequired": False},
    ],
    "primaryKeys": [{"name": "supplier"}],
}
SUPPLIERS = [
    "acme-components",
    "borealis-foods",
    "cobalt-textiles",
    "delta-packaging",
    "evergreen-pharma",
]
SITES = ["DC-ATL", "DC-RNO", "DC-DFW", "DC-NJ1"]
PORTS = {
    "acme-components": "CNSHA",
    "borealis-foods": "CAVAN",
    "cobalt-textiles": "VNSGN",
    "delta-packaging": "USLAX",
    "evergreen-pharma": "DEHAM",
}
CARRIERS = ["Maersk", "UPS Freight", "DHL Global", "XPO Logistics"]
PRODUCTS = {
    f"SKU-{n}": price
    for n, price in zip(
        range(1001, 1013),
        [4.5, 12, 7.25, 30, 2.1, 18.9, 55, 9.99, 3.4, 21, 14.5, 6.75],
        strict=True,
    )
}


def _ts(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Order:
    order_id: str
    supplier: str
    site: str
    created: datetime
    lines: list[tuple[str, str, float]]  # line id, product, quantity
    status: str = "OPEN"
    shipment: str | None = None


@dataclass
class Send:
    """One SendDataIntegrationEvent call."""

    event_type: str
    group: str
    records: list[dict[str, Any]]
    dataset: str | None = None  # a custom dataset of `default` (with scn.data.dataset)
    operation: str = "UPSERT"


@dataclass
class Scenario:
    """The state of a simulated buyer: orders in flight, and what to send next."""

    rng: random.Random
    orders: list[Order] = field(default_factory=list)
    counter: int = 0

    def next_steps(self, now: datetime) -> list[Send]:
        open_ = [o for o in self.orders if o.status == "OPEN"]
        confirmed = [o for o in self.orders if o.status == "CONFIRMED"]
        shipped = [o for o in self.orders if o.status == "SHIPPED"]
        choices: list[tuple[float, Any]] = [
            (5, self.new_order),
            (3, self.inventory),
            (2, self.forecast),
        ]
        choices += [(4, self.confirm)] if open_ else []
        choices += [(1, self.cancel)] if open_ or confirmed else []
        choices += [(3, self.ship)] if confirmed else []
        choices += [(3, self.deliver)] if shipped else []
        choices += [(0.6, self.bad_record)]
        pick = self.rng.choices([c[1] for c in choices], weights=[c[0] for c in choices])[0]
        sends: list[Send] = pick(now)
        return sends

    def _order_row(self, o: Order, now: datetime) -> dict[str, Any]:
        return {
            "id": o.order_id,
            "tpartner_id": o.supplier,
            "order_type": "PO",
            "order_status": o.status,
            "to_site_id": o.site,
            "company_id": "demo-co",
            "order_creation_date": _ts(o.created),
            "order_currency_uom": "USD",
            "source_update_dttm": _ts(now),
            "source": "demo-erp",
        }

    def _open_row(self, o: Order) -> dict[str, Any]:
        qty = sum(q for _, _, q in o.lines)
        value = sum(q * PRODUCTS[p] for _, p, q in o.lines)
        return {
            "order_id": o.order_id,
            "order_date": _ts(o.created),
            "supplier": o.supplier,
            "to_site_id": o.site,
            "status": o.status,
            "lines": len(o.lines),
            "quantity": qty,
            "value_usd": round(value, 2),
        }

    def _lines(self, o: Order, now: datetime, confirmed: bool) -> list[dict[str, Any]]:
        rows = []
        for line_id, product, qty in o.lines:
            row: dict[str, Any] = {
                "id": line_id,
                "order_id": o.order_id,
                "tpartner_id": o.supplier,
                "product_id": product,
                "to_site_id": o.site,
                "status": o.status,
                "quantity_submitted": qty,
                "quantity_uom": "EA",
                "cost": PRODUCTS[product],
                "cost_uom": "USD",
                "line_creation_date": _ts(o.created),
                "expected_delivery_date": _ts(o.created + timedelta(days=14)),
            }
            if confirmed:
                row["quantity_confirmed"] = qty if self.rng.random() < 0.8 else qty - 10
                row["confirmation_date"] = _ts(now)
            rows.append(row)
        return rows

    def new_order(self, now: datetime) -> list[Send]:
        self.counter += 1
        oid = f"PO-{self.counter:06d}"
        picks = self.rng.sample(sorted(PRODUCTS), self.rng.randint(1, 4))
        lines = [
            (f"{oid}-{i + 1}", p, float(self.rng.randrange(20, 500, 10)))
            for i, p in enumerate(picks)
        ]
        o = Order(oid, self.rng.choice(SUPPLIERS), self.rng.choice(SITES), now, lines)
        self.orders.append(o)
        return [
            Send("scn.data.inboundorder", oid, [self._order_row(o, now)]),
            Send("scn.data.inboundorderline", oid, self._lines(o, now, False)),
            Send("scn.data.dataset", oid, [self._open_row(o)], OPEN_ORDERS),
        ]

    def confirm(self, now: datetime) -> list[Send]:
        o = self.rng.choice([o for o in self.orders if o.status == "OPEN"])
        o.status = "CONFIRMED"
        return [
            Send("scn.data.inboundorder", o.order_id, [self._order_row(o, now)]),
            Send("scn.data.inboundorderline", o.order_id, self._lines(o, now, True)),
            Send("scn.data.dataset", o.order_id, [self._open_row(o)], OPEN_ORDERS),
        ]

    def cancel(self, now: datetime) -> list[Send]:
        o = self.rng.choice([o for o in self.orders if o.status in ("OPEN", "CONFIRMED")])
        o.status = "CANCELLED"
        key = {"order_id": o.order_id, "order_date": _ts(o.created)}
        return [
            Send("scn.data.inboundorder", o.order_id, [self._order_row(o, now)]),
            Send("scn.data.dataset", o.order_id, [key], OPEN_ORDERS, "DELETE"),
        ]

    def _shipment_rows(self, o: Order, now: datetime, delivered: bool) -> list[dict[str, Any]]:
        assert o.shipment is not None
        rows = []
        for i, (line_id, product, qty) in enumerate(o.lines):
            row: dict[str, Any] = {
                "id": o.shipment,
                "supplier_tpartner_id": o.supplier,
                "product_id": product,
                "order_id": o.order_id,
                "order_line_id": line_id,
                "package_id": f"{o.shipment}-P{i + 1}",
                "ship_to_site_id": o.site,
                "origin_port": PORTS[o.supplier],
                "units_shipped": qty,
                "uom": "EA",
                "carrier_description": self.rng.choice(CARRIERS),
                "transportation_mode": "OCEAN" if PORTS[o.supplier] != "USLAX" else "TRUCK",
                "shipment_status": "DELIVERED" if delivered else "IN_TRANSIT",
                "actual_ship_date": _ts(now),
                "planned_delivery_date": _ts(now + timedelta(days=9)),
            }
            if delivered:
                row["actual_delivery_date"] = _ts(now)
                row["units_received"] = qty
            rows.append(row)
        return rows

    def _stops(self, o: Order, now: datetime, arrived: bool) -> list[dict[str, Any]]:
        assert o.shipment is not None
        origin = {
            "shipment_stop_id": f"{o.shipment}-S1",
            "shipment_id": o.shipment,
            "sequence": 1,
            "site_id": PORTS[o.supplier],
            "actual_departure_start_dttm": _ts(o.created),
        }
        dest: dict[str, Any] = {
            "shipment_stop_id": f"{o.shipment}-S2",
            "shipment_id": o.shipment,
            "sequence": 2,
            "site_id": o.site,
            "planned_arrival_start_dttm": _ts(now + timedelta(days=9)),
        }
        if arrived:
            dest["actual_arrival_start_dttm"] = _ts(now)
        return [origin, dest]

    def ship(self, now: datetime) -> list[Send]:
        o = self.rng.choice([o for o in self.orders if o.status == "CONFIRMED"])
        o.status, o.shipment = "SHIPPED", f"SHP-{o.order_id[3:]}"
        return [
            Send("scn.data.shipment", o.shipment, self._shipment_rows(o, now, False)),
            Send("scn.data.shipmentstop", o.shipment, self._stops(o, now, False)),
            Send("scn.data.inboundorder", o.order_id, [self._order_row(o, now)]),
            Send("scn.data.dataset", o.order_id, [self._open_row(o)], OPEN_ORDERS),
        ]

    def deliver(self, now: datetime) -> list[Send]:
        o = self.rng.choice([o for o in self.orders if o.status == "SHIPPED"])
        o.status = "RECEIVED"
        assert o.shipment is not None
        key = {"order_id": o.order_id, "order_date": _ts(o.created)}
        return [
            Send("scn.data.shipment", o.shipment, self._shipment_rows(o, now, True)),
            Send("scn.data.shipmentstop", o.shipment, self._stops(o, now, True)),
            Send("scn.data.inboundorder", o.order_id, [self._order_row(o, now)]),
            # Received: no longer an open order.
            Send("scn.data.dataset", o.order_id, [key], OPEN_ORDERS, "DELETE"),
        ]

    def inventory(self, now: datetime) -> list[Send]:
        site = self.rng.choice(SITES)
        day = now.strftime("%Y-%m-%d")
        rows = [
            {
                "snapshot_date": day,
                "site_id": site,
                "product_id": p,
                "inv_condition": "GOOD",
                "lot_number": "NA",
                "on_hand_inventory": float(self.rng.randint(0, 2000)),
                "allocated_inventory": float(self.rng.randint(0, 300)),
                "quantity_uom": "EA",
                "source_update_dttm": _ts(now),
            }
            for p in self.rng.sample(sorted(PRODUCTS), 5)
        ]
        return [Send("scn.data.inventorylevel", f"INV-{site}-{day}", rows)]

    def forecast(self, now: datetime) -> list[Send]:
        product, site = self.rng.choice(sorted(PRODUCTS)), self.rng.choice(SITES)
        monday = (now - timedelta(days=now.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        base = self.rng.uniform(50, 400)
        rows = []
        for week in range(4):
            mean = base * self.rng.uniform(0.85, 1.2)
            start = monday + timedelta(weeks=week + 1)
            rows.append(
                {
                    "snapshot_date": monday.strftime("%Y-%m-%d"),
                    "product_id": product,
                    "site_id": site,
                    "region_id": "NA",
                    "product_group_id": "general",
                    "mean": round(mean, 1),
                    "p10": round(mean * 0.7, 1),
                    "p50": round(mean, 1),
                    "p90": round(mean * 1.4, 1),
                    "forecast_start_dttm": _ts(start),
                    "forecast_end_dttm": _ts(start + timedelta(days=7)),
                    "quantity_uom": "EA",
                    "source": "demo-planner",
                }
            )
        return [Send("scn.data.forecast", f"FC-{product}-{site}", rows)]

    def bad_record(self, now: datetime) -> list[Send]:
        """Records the API refuses at send time (ValidationException): nothing is stored."""
        kind = self.rng.randrange(3)
        row: dict[str, Any]
        if kind == 0:
            row = {
                "id": "PO-BAD-1",
                "order_id": "PO-BAD",
                "tpartner_id": "acme-components",
                "product_id": "SKU-1001",
                "quantity_submitted": "twelve",
            }
            return [Send("scn.data.inboundorderline", "PO-BAD", [row])]
        if kind == 1:
            row = {
                "snapshot_date": now.strftime("%Y-%m-%d"),
                "product_id": "SKU-1002",
                "inv_condition": "GOOD",
                "lot_number": "NA",
                "on_hand_inventory": 5.0,
            }
            return [Send("scn.data.inventorylevel", "INV-BAD", [row])]
        row = {
            "snapshot_date": now.strftime("%Y-%m-%d"),
            "product_id": "SKU-1003",
            "site_id": "DC-ATL",
            "region_id": "NA",
            "product_group_id": "general",
            "forecast_start_dttm": "next monday",
            "forecast_end_dttm": _ts(now),
        }
        return [Send("scn.data.forecast", "FC-BAD", [row])]
