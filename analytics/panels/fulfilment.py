"""Fulfilment: how long parcels take (placed → handed to the carrier → delivered, p50 and p90 per warehouse and
carrier), the share that left within the promised time and arrived by the date promised, carrier exceptions, and
the orders waiting now by state and age. Parcels count on the day the carrier took them, under the warehouse they
left from."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.utils import timezone

from inventory.models import Warehouse
from orders.models import Allocation, Order
from shipping.models import Carrier

from ..db import rows
from ..facts import ParcelDay, ParcelSpan
from .base import Chart, Column, Context, Figure, Nothing, Panel, Table, hours, ratio
from .common import bucket_label, whole_spans

WAITING = [Order.Status.PLACED, Order.Status.CONFIRMED, Order.Status.PROCESSING, Order.Status.PACKED,
           Order.Status.PARTIALLY_SHIPPED, Order.Status.ON_HOLD, Order.Status.RETURNED]
AGES = [(0, 24, "under 24 h"), (24, 48, "24–48 h"), (48, 72, "2–3 days"), (72, 168, "3–7 days"),
        (168, None, "over a week")]

PD, PS = ParcelDay._meta.db_table, ParcelSpan._meta.db_table
_COLUMNS = "x.warehouse_id, x.carrier_id, x.measure, x.hours, x.parcels, x.least, x.greatest, x.with_promise, " \
           "x.delivered_in_time, x.exceptions"
_SCOPE = "x.channel = ANY(%(channels)s) AND (%(warehouse)s::bigint IS NULL OR x.warehouse_id = %(warehouse)s)"


def _parcel_rows(name: str, start: date, end: date, grain: str, params: dict) -> str:
    """A subquery of the histogram rows of [start, end] in scope, with the step each is in (`bucket`): whole weeks
    or months from ParcelSpan, the other days from ParcelDay. Adds its day lists to `params` under `name`."""
    spans, days = whole_spans(start, end, grain)
    params[f"{name}_spans"], params[f"{name}_days"] = spans, days
    out = [f"SELECT date_trunc(%(grain)s, x.day)::date AS bucket, {_COLUMNS} FROM {PD} x "
           f"WHERE x.day = ANY(%({name}_days)s) AND {_SCOPE}"]
    if spans:
        out.append(f"SELECT x.start, {_COLUMNS} FROM {PS} x "
                   f"WHERE x.grain = '{grain}' AND x.start = ANY(%({name}_spans)s) AND {_SCOPE}")
    return "(" + " UNION ALL ".join(out) + ")"


def _percentiles(keys: str) -> str:
    """CTEs `r` → `pct`: from histogram rows `h` (keys..., measure, hours, n, lo, hi), each group's p50 and p90 as
    percentile_cont gives them (ranks floor and ceil of p × (n - 1), interpolated), a bucket's values taken as
    evenly spread between its least and greatest."""
    return f"""
r AS (SELECT h.*, sum(n) OVER w - n AS below, sum(n) OVER (PARTITION BY {keys}, measure) AS total
      FROM h WINDOW w AS (PARTITION BY {keys}, measure ORDER BY hours)),
p AS (SELECT t.*, q.q, q.q * (t.total - 1)::float8 AS pos
      FROM (SELECT DISTINCT {keys}, measure, total FROM r) t CROSS JOIN (VALUES (0.5::float8), (0.9::float8)) q (q)),
ranked AS (SELECT p.*, k.side, k.rank
           FROM p CROSS JOIN LATERAL (VALUES (0, floor(p.pos)), (1, ceil(p.pos))) k (side, rank)),
valued AS (SELECT {", ".join(f"x.{k.strip()}" for k in keys.split(","))}, x.measure, x.q, x.pos, x.side,
                  r.lo + (r.hi - r.lo) * coalesce((x.rank - r.below) / nullif(r.n - 1, 0)::float8, 0) AS value
           FROM ranked x JOIN r ON {" AND ".join(f"r.{k.strip()} = x.{k.strip()}" for k in keys.split(","))}
                             AND r.measure = x.measure AND x.rank >= r.below AND x.rank < r.below + r.n),
v AS (SELECT {keys}, measure, q, max(value) FILTER (WHERE side = 0)
                                 + (max(value) FILTER (WHERE side = 1) - max(value) FILTER (WHERE side = 0))
                                   * (max(pos) - floor(max(pos))) AS value
      FROM valued GROUP BY {keys}, measure, q),
pct AS (SELECT {keys}, max(value) FILTER (WHERE measure = 'shipped' AND q = 0.5) AS ship_p50,
               max(value) FILTER (WHERE measure = 'shipped' AND q = 0.9) AS ship_p90,
               max(value) FILTER (WHERE measure = 'delivered' AND q = 0.5) AS deliver_p50,
               max(value) FILTER (WHERE measure = 'delivered' AND q = 0.9) AS deliver_p90
        FROM v GROUP BY {keys})"""


_HISTOGRAM = """sum(x.parcels) AS n, min(x.least) AS lo, max(x.greatest) AS hi, sum(x.with_promise) AS wp,
                sum(x.delivered_in_time) AS dit, sum(x.exceptions) AS ex"""
_COUNTS = """sum(n)::bigint AS parcels,
             coalesce(sum(n) FILTER (WHERE hours <= %(promise)s), 0)::bigint AS shipped_in_time,
             sum(wp)::bigint AS with_promise, sum(dit)::bigint AS delivered_in_time, sum(ex)::bigint AS exceptions"""


def _parcels_sql(f, params: dict) -> str:
    """Per warehouse and carrier (w, c; c = 0: no carrier) and in all (w = c = -1) for the period; in all only for
    the period before."""
    current = _parcel_rows("cur", f.period.start, f.period.end, "month", params)
    previous = (_parcel_rows("prev", f.previous.start, f.previous.end, "month", params) if f.previous
                else f"(SELECT * FROM {current} x WHERE false)")
    return f"""
WITH h0 AS (SELECT true AS current, x.warehouse_id AS w, coalesce(x.carrier_id, 0) AS c, x.measure, x.hours,
                   {_HISTOGRAM}
            FROM {current} x GROUP BY 2, 3, 4, 5),
h AS (SELECT * FROM h0
      UNION ALL SELECT true, -1, -1, measure, hours, sum(n), min(lo), max(hi), sum(wp), sum(dit), sum(ex)
      FROM h0 GROUP BY measure, hours
      UNION ALL SELECT false, -1, -1, x.measure, x.hours, {_HISTOGRAM} FROM {previous} x GROUP BY x.measure, x.hours),
{_percentiles("current, w, c")},
counts AS (SELECT current, w, c, {_COUNTS} FROM h WHERE measure = 'shipped' GROUP BY current, w, c)
SELECT k.current, k.w = -1 AS total, nullif(k.w, -1) AS warehouse_id, CASE WHEN k.c > 0 THEN k.c END AS carrier_id,
       k.parcels, k.shipped_in_time, k.with_promise, k.delivered_in_time, k.exceptions, pct.ship_p50, pct.ship_p90,
       pct.deliver_p50, pct.deliver_p90, wh.code AS warehouse_code, wh.name AS warehouse_name, ca.name AS carrier_name
FROM counts k LEFT JOIN pct ON pct.current = k.current AND pct.w = k.w AND pct.c = k.c
LEFT JOIN {Warehouse._meta.db_table} wh ON wh.id = k.w
LEFT JOIN {Carrier._meta.db_table} ca ON ca.id = k.c
ORDER BY k.w = -1 DESC, wh.priority, wh.code, ca.name NULLS LAST
"""


def _steps_sql(f, params: dict) -> str:
    source = _parcel_rows("step", f.period.start, f.period.end, f.grain, params)
    return f"""
WITH h AS (SELECT x.bucket, x.measure, x.hours, {_HISTOGRAM} FROM {source} x WHERE x.measure = 'shipped'
           GROUP BY 1, 2, 3),
{_percentiles("bucket")},
counts AS (SELECT bucket, {_COUNTS} FROM h GROUP BY bucket)
SELECT k.bucket, k.parcels, k.shipped_in_time, pct.ship_p50, pct.ship_p90
FROM counts k LEFT JOIN pct ON pct.bucket = k.bucket
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
    parcels = rows(_parcels_sql(f, params), params)
    totals = {r["current"]: r for r in parcels if r["total"]}
    cur, prev = totals.get(True) or {}, (totals.get(False) or Nothing()) if f.previous else None

    def v(row, key):
        return None if row is None else row.get(key)

    panel = Panel("fulfilment", "Fulfilment", f, notes=[
        f"Parcels count on the day the carrier took them, under the warehouse they left from. In time: handed to "
        f"the carrier within {promise} h of the order (WAYBILL_ANALYTICS_SHIP_WITHIN_HOURS); on time: delivered by "
        "the date the parcel promised.",
        "Orders waiting are counted now, whatever the period.",
        "The p50 and p90 hours come from hourly counts of the parcels (with the fewest and most hours in each "
        "hour): exact when an hour holds at most two distinct times, less than an hour off otherwise."])
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

    steps = {r["bucket"]: r for r in rows(_steps_sql(f, params), params)}
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

