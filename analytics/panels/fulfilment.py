"""Fulfilment: how long parcels take (placed → handed to the carrier → delivered, p50 and p90 per warehouse and
carrier), the share that left within the promised time and arrived by the date promised, carrier exceptions, and
the orders waiting now by state and age. Parcels count on the day the carrier took them, under the warehouse they
left from."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from inventory.models import Warehouse
from orders.models import Allocation, Order
from shipping.models import Carrier

from ..db import rows
from ..facts import ShipmentFact
from .base import Chart, Column, Context, Figure, Nothing, Panel, Table, hours, ratio
from .common import bucket_label

SF = ShipmentFact._meta.db_table
WAITING = [Order.Status.PLACED, Order.Status.CONFIRMED, Order.Status.PROCESSING, Order.Status.PACKED,
           Order.Status.PARTIALLY_SHIPPED, Order.Status.ON_HOLD, Order.Status.RETURNED]
AGES = [(0, 24, "under 24 h"), (24, 48, "24–48 h"), (48, 72, "2–3 days"), (72, 168, "3–7 days"),
        (168, None, "over a week")]

_MEASURES = """count(*) AS parcels,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY x.placed_to_shipped_hours) AS ship_p50,
             percentile_cont(0.9) WITHIN GROUP (ORDER BY x.placed_to_shipped_hours) AS ship_p90,
             percentile_cont(0.5) WITHIN GROUP (ORDER BY x.shipped_to_delivered_hours) AS deliver_p50,
             percentile_cont(0.9) WITHIN GROUP (ORDER BY x.shipped_to_delivered_hours) AS deliver_p90,
             count(*) FILTER (WHERE x.placed_to_shipped_hours <= %(promise)s) AS shipped_in_time,
             count(x.delivered_by_promise) AS with_promise,
             count(*) FILTER (WHERE x.delivered_by_promise) AS delivered_in_time,
             count(*) FILTER (WHERE x.exception) AS exceptions"""
_SCOPE = "x.channel = ANY(%(channels)s) AND (%(warehouse)s::bigint IS NULL OR x.warehouse_id = %(warehouse)s)"

# Per warehouse and carrier (and in all) for the period; in all only for the period before.
PARCELS_SQL = f"""
SELECT g.*, w.code AS warehouse_code, w.name AS warehouse_name, c.name AS carrier_name
FROM (SELECT x.warehouse_id, x.carrier_id, true AS current, GROUPING(x.warehouse_id, x.carrier_id) = 3 AS total,
             {_MEASURES}
      FROM {SF} x WHERE x.day BETWEEN %(start)s AND %(end)s AND {_SCOPE}
      GROUP BY GROUPING SETS ((x.warehouse_id, x.carrier_id), ())
      UNION ALL
      SELECT NULL, NULL, false, true, {_MEASURES}
      FROM {SF} x WHERE x.day BETWEEN %(pstart)s AND %(pend)s AND {_SCOPE}) g
LEFT JOIN {Warehouse._meta.db_table} w ON w.id = g.warehouse_id
LEFT JOIN {Carrier._meta.db_table} c ON c.id = g.carrier_id
ORDER BY g.total DESC, w.priority, w.code, c.name NULLS LAST
"""

STEPS_SQL = f"""
SELECT date_trunc(%(grain)s, x.day)::date AS bucket, count(*) AS parcels,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY x.placed_to_shipped_hours) AS ship_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY x.placed_to_shipped_hours) AS ship_p90,
       count(*) FILTER (WHERE x.placed_to_shipped_hours <= %(promise)s) AS shipped_in_time
FROM {SF} x WHERE x.day BETWEEN %(start)s AND %(end)s AND {_SCOPE}
GROUP BY 1
"""

_AGE_CASE = " ".join(f"WHEN o.placed_at > %(now)s - interval '{high} hours' THEN {i}"
                     for i, (_, high, _) in enumerate(AGES) if high)
WAITING_SQL = f"""
SELECT o.status, CASE {_AGE_CASE} ELSE {len(AGES) - 1} END AS age, count(*) AS orders
FROM {Order._meta.db_table} o
WHERE o.status = ANY(%(waiting)s) AND o.channel = ANY(%(channels)s)
  AND (%(warehouse)s::bigint IS NULL OR EXISTS (SELECT 1 FROM {Allocation._meta.db_table} a
                                               WHERE a.order_id = o.id AND a.warehouse_id = %(warehouse)s))
GROUP BY 1, 2
"""


def fulfilment_panel(ctx: Context) -> Panel:
    f, links = ctx.filters, ctx.links
    promise = settings.WAYBILL_ANALYTICS_SHIP_WITHIN_HOURS
    now = timezone.now()
    params = f.params(promise=promise, waiting=[str(s) for s in WAITING], now=now)
    parcels = rows(PARCELS_SQL, params)
    totals = {r["current"]: r for r in parcels if r["total"]}
    cur, prev = totals.get(True) or {}, (totals.get(False) or Nothing()) if f.previous else None

    def v(row, key):
        return None if row is None else row.get(key)

    panel = Panel("fulfilment", "Fulfilment", f, notes=[
        f"Parcels count on the day the carrier took them, under the warehouse they left from. In time: handed to "
        f"the carrier within {promise} h of the order (WAYBILL_ANALYTICS_SHIP_WITHIN_HOURS); on time: delivered by "
        "the date the parcel promised.",
        "Orders waiting are counted now, whatever the period."])
    panel.figures = [
        Figure("Parcels sent", v(cur, "parcels") or 0, prev and (v(prev, "parcels") or 0), "int",
               links.shipments(f)),
        Figure("Placed → carrier (median)", hours(v(cur, "ship_p50")), prev and hours(v(prev, "ship_p50")),
               "hours", better="down", note=f"p90 {hours(v(cur, 'ship_p90')) or '–'} h"),
        Figure("Carrier → door (median)", hours(v(cur, "deliver_p50")), prev and hours(v(prev, "deliver_p50")),
               "hours", better="down", note=f"p90 {hours(v(cur, 'deliver_p90')) or '–'} h"),
        Figure(f"Sent within {promise} h", ratio(v(cur, "shipped_in_time"), v(cur, "parcels")),
               prev and ratio(v(prev, "shipped_in_time"), v(prev, "parcels")), "pct"),
        Figure("Delivered by the promised date", ratio(v(cur, "delivered_in_time"), v(cur, "with_promise")),
               prev and ratio(v(prev, "delivered_in_time"), v(prev, "with_promise")), "pct"),
        Figure("Carrier exceptions", v(cur, "exceptions") or 0, prev and (v(prev, "exceptions") or 0), "int",
               better="down"),
    ]

    by_route = Table("routes", "Per warehouse and carrier", [
        Column("warehouse", "Warehouse"), Column("carrier", "Carrier"), Column("parcels", "Parcels", "int"),
        Column("ship_p50", "Placed → carrier p50", "hours"), Column("ship_p90", "p90", "hours"),
        Column("deliver_p50", "Carrier → door p50", "hours"), Column("deliver_p90", "p90", "hours"),
        Column("in_time", f"Sent within {promise} h", "pct"), Column("on_time", "Delivered on time", "pct"),
        Column("exceptions", "Exceptions", "int"), Column("exception_rate", "Exception rate", "pct")])
    for r in parcels:
        if r["total"] or not r["current"]:
            continue
        scope = {"warehouse__id__exact": r["warehouse_id"]}
        if r["carrier_id"]:
            scope["carrier__id__exact"] = r["carrier_id"]
        else:
            scope["carrier__isnull"] = "True"
        by_route.rows.append({
            "warehouse": r["warehouse_code"], "carrier": r["carrier_name"] or "(no carrier)",
            "parcels": r["parcels"], "ship_p50": hours(r["ship_p50"]), "ship_p90": hours(r["ship_p90"]),
            "deliver_p50": hours(r["deliver_p50"]), "deliver_p90": hours(r["deliver_p90"]),
            "in_time": ratio(r["shipped_in_time"], r["parcels"]),
            "on_time": ratio(r["delivered_in_time"], r["with_promise"]), "exceptions": r["exceptions"],
            "exception_rate": ratio(r["exceptions"], r["parcels"]),
            "_links": {"parcels": links.shipments(f, **scope),
                       "exceptions": links.shipments(f, **scope, status__exact="exception")}})
    panel.charts.append(Chart("routes", "Hours from order to carrier and from carrier to door (p50 and p90)", "bar",
                              [f"{r['warehouse']} · {r['carrier']}" for r in by_route.rows],
                              [{"label": "Placed → carrier p50", "data": [r["ship_p50"] for r in by_route.rows]},
                               {"label": "Placed → carrier p90", "data": [r["ship_p90"] for r in by_route.rows]},
                               {"label": "Carrier → door p50", "data": [r["deliver_p50"] for r in by_route.rows]},
                               {"label": "Carrier → door p90", "data": [r["deliver_p90"] for r in by_route.rows]}],
                              table="routes", unit="h"))
    panel.tables.append(by_route)

    steps = {r["bucket"]: r for r in rows(STEPS_SQL, params)}
    per_step = Table("steps", f"Parcels per {f.grain}", [
        Column("step", "Period"), Column("parcels", "Parcels", "int"),
        Column("ship_p50", "Placed → carrier p50", "hours"), Column("ship_p90", "p90", "hours"),
        Column("in_time", f"Sent within {promise} h", "pct")])
    for bucket in f.buckets():
        r = steps.get(bucket) or {}
        per_step.rows.append({
            "step": bucket_label(bucket, f.grain), "parcels": r.get("parcels") or 0,
            "ship_p50": hours(r.get("ship_p50")), "ship_p90": hours(r.get("ship_p90")),
            "in_time": ratio(r.get("shipped_in_time"), r.get("parcels")),
            "_links": {"parcels": links.shipments(f, f.bucket_start(bucket), f.bucket_end(bucket))}})
    panel.tables.append(per_step)

    waiting = {(r["status"], r["age"]): r["orders"] for r in rows(WAITING_SQL, params)}
    table = Table("waiting", "Orders waiting now, by state and age", [Column("status", "State")]
                  + [Column(f"age{i}", label, "int") for i, (_, _, label) in enumerate(AGES)]
                  + [Column("total", "All", "int")], empty="No order is waiting.")
    labels = dict(Order.Status.choices)
    for status in WAITING:
        counts = {f"age{i}": waiting.get((status, i), 0) for i in range(len(AGES))}
        if not any(counts.values()):
            continue
        row_links = {}
        for i, (low, high, _) in enumerate(AGES):
            placed = {"placed_at__lte": (now - timedelta(hours=low)).isoformat()}
            if high:
                placed["placed_at__gt"] = (now - timedelta(hours=high)).isoformat()
            row_links[f"age{i}"] = links.orders_now(f, status__exact=status, **placed)
        row_links["total"] = links.orders_now(f, status__exact=status)
        table.rows.append({"status": labels[status], **counts, "total": sum(counts.values()), "_links": row_links})
    panel.tables.append(table)
    return panel

