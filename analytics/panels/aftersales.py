"""After-sales and support: returns and claims (by product, reason and serial batch), refunds, how long a
replacement takes, and the support desk (tickets opened and solved, first response and resolution times, SLA
compliance, the backlog per queue).

Returns and claims count on the day they were opened, for orders of the chosen channels, under the warehouse the
item comes back to; refunds on the day they were issued. Tickets are the desk's whole work: no channel or warehouse
(many have no order)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from inventory.models import Product
from orders.models import Order, OrderLine
from returns.models import Reason, Refund, ReturnLine, ReturnRequest
from returns.selectors import defect_rate_by_batch
from shipping.models import Shipment
from support.models import Queue, Ticket

from ..db import rows
from ..facts import OrderDay, ReturnFact, SalesDay
from ..rollups import day_start
from .base import Chart, Column, Context, Figure, Nothing, Panel, Table, hours, money, ratio
from .common import bucket_label, rollup_where

RR, RL, OL, ORD = (ReturnRequest._meta.db_table, ReturnLine._meta.db_table, OrderLine._meta.db_table,
                   Order._meta.db_table)
TOP_SKUS = 20
IN_PERIODS = ("(({col} >= %(from)s AND {col} < %(to)s) OR ({col} >= %(pfrom)s AND {col} < %(pto)s))")
RETURN_SCOPE = (IN_PERIODS.format(col="rr.created_at") + " AND rr.status = ANY(%(claiming)s) "
                "AND o.channel = ANY(%(channels)s) "
                "AND (%(warehouse)s::bigint IS NULL OR rr.warehouse_id = %(warehouse)s)")

RF = ReturnFact._meta.db_table
CLAIM_SCOPE = ("x.channel = ANY(%(channels)s) AND (%(warehouse)s::bigint IS NULL OR x.warehouse_id = %(warehouse)s)")

REASONS_SQL = f"""
SELECT x.reason, x.day >= %(start)s AS current, GROUPING(x.reason) = 1 AS total,
       count(DISTINCT x.return_request_id) AS returns, sum(x.units) AS units
FROM {RF} x
WHERE (x.day BETWEEN %(start)s AND %(end)s OR x.day BETWEEN %(pstart)s AND %(pend)s) AND {CLAIM_SCOPE}
GROUP BY GROUPING SETS ((x.reason, x.day >= %(start)s), (x.day >= %(start)s))
"""

SOLD_SQL = f"""
SELECT x.day >= %(start)s AS current, sum(x.units - x.cancelled_units) AS units
FROM {OrderDay._meta.db_table} x WHERE {rollup_where("x")} GROUP BY 1
"""

SKUS_SQL = f"""
WITH claims AS (
    SELECT x.product_id, count(DISTINCT x.return_request_id) AS returns, sum(x.units) AS claimed,
           coalesce(sum(x.units) FILTER (WHERE x.reason = 'defective'), 0) AS defective
    FROM {RF} x
    WHERE x.day BETWEEN %(start)s AND %(end)s AND {CLAIM_SCOPE}
    GROUP BY x.product_id
    ORDER BY defective DESC, claimed DESC, x.product_id LIMIT %(top)s),
sold AS (
    SELECT x.product_id, sum(x.units - x.cancelled_units) AS units
    FROM {SalesDay._meta.db_table} x
    WHERE {rollup_where("x", previous=False)} AND x.product_id IN (SELECT product_id FROM claims)
    GROUP BY x.product_id)
SELECT c.*, coalesce(s.units, 0) AS sold, p.sku, p.name, p.serial_tracked
FROM claims c LEFT JOIN sold s ON s.product_id = c.product_id
JOIN {Product._meta.db_table} p ON p.id = c.product_id
ORDER BY c.defective DESC, c.claimed DESC, p.sku
"""

REFUNDS_SQL = f"""
SELECT bucket, current, GROUPING(bucket) = 1 AS total, count(*) AS refunds, sum(amount) AS amount,
       sum(items_amount) AS items, sum(shipping_amount) AS shipping,
       count(*) FILTER (WHERE return_request_id IS NOT NULL) AS for_returns
FROM (SELECT date_trunc(%(grain)s, (rf.created_at AT TIME ZONE %(tz)s)::date)::date AS bucket,
             rf.created_at >= %(from)s AS current, rf.*
      FROM {Refund._meta.db_table} rf JOIN {ORD} o ON o.id = rf.order_id
      WHERE {IN_PERIODS.format(col="rf.created_at")} AND o.channel = ANY(%(channels)s)) x
GROUP BY GROUPING SETS ((bucket, current), (current))
"""

REPLACEMENTS_SQL = f"""
SELECT created_at >= %(from)s AS current, count(*) AS replacements,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY lead_hours) AS p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY lead_hours) AS p90
FROM (SELECT rr.id, rr.created_at, extract(epoch FROM min(s.shipped_at) - rr.created_at) / 3600 AS lead_hours
      FROM {RR} rr JOIN {ORD} o ON o.id = rr.order_id
      JOIN {Shipment._meta.db_table} s ON s.order_id = rr.replacement_order_id AND s.direction = 'outbound'
                                        AND s.shipped_at IS NOT NULL
      WHERE {RETURN_SCOPE}
      GROUP BY rr.id, rr.created_at) x
GROUP BY 1
"""

T = Ticket._meta.db_table
_HOURS = "extract(epoch FROM {end} - t.created_at) / 3600"


def _within(column: str, previous: bool = False) -> str:
    low, high = ("pfrom", "pto") if previous else ("from", "to")
    return f"t.{column} >= %({low})s AND t.{column} < %({high})s"


def _tickets_of(period: str, previous: bool) -> str:
    created, solved = _within("created_at", previous), _within("solved_at", previous)
    return (f"SELECT '{period}' AS period, t.*, ({created}) AS created, ({solved}) AS solved, "
            f"{_HOURS.format(end='t.first_responded_at')} AS first_hours, "
            f"{_HOURS.format(end='t.solved_at')} AS solve_hours "
            f"FROM {T} t WHERE t.status <> 'merged' AND (({created}) OR ({solved}))")


TICKETS_SQL = f"""
SELECT period,
       count(*) FILTER (WHERE created) AS opened,
       count(*) FILTER (WHERE solved) AS solved,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY first_hours) FILTER (WHERE created) AS first_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY first_hours) FILTER (WHERE created) AS first_p90,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY solve_hours) FILTER (WHERE solved) AS solve_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY solve_hours) FILTER (WHERE solved) AS solve_p90,
       count(*) FILTER (WHERE created AND first_responded_at <= first_response_due) AS first_met,
       count(*) FILTER (WHERE created AND (first_responded_at > first_response_due
                                           OR (first_responded_at IS NULL AND first_response_due < %(now)s)))
           AS first_missed,
       count(*) FILTER (WHERE solved AND solved_at <= resolution_due) AS solve_met,
       count(*) FILTER (WHERE solved AND solved_at > resolution_due) AS solve_missed
FROM ({_tickets_of("current", False)} UNION ALL {_tickets_of("previous", True)}) x
GROUP BY period
"""

_CREATED, _SOLVED = _within("created_at"), _within("solved_at")
TICKET_STEPS_SQL = f"""
SELECT bucket, sum(opened) AS opened, sum(solved) AS solved
FROM (SELECT date_trunc(%(grain)s, (t.created_at AT TIME ZONE %(tz)s)::date)::date AS bucket, 1 AS opened,
             0 AS solved
      FROM {T} t WHERE t.status <> 'merged' AND {_CREATED}
      UNION ALL
      SELECT date_trunc(%(grain)s, (t.solved_at AT TIME ZONE %(tz)s)::date)::date, 0, 1
      FROM {T} t WHERE t.status <> 'merged' AND {_SOLVED}) x
GROUP BY bucket
"""

BACKLOG_SQL = f"""
SELECT t.queue_id, q.name AS queue, count(*) AS tickets,
       count(*) FILTER (WHERE t.status = 'new') AS new, count(*) FILTER (WHERE t.status = 'open') AS open,
       count(*) FILTER (WHERE t.status = 'waiting') AS waiting,
       count(*) FILTER (WHERE t.resolution_due < %(now)s AND t.status IN ('new', 'open')) AS overdue,
       extract(epoch FROM %(now)s - min(t.created_at)) / 3600 AS oldest_hours
FROM {T} t LEFT JOIN {Queue._meta.db_table} q ON q.id = t.queue_id
WHERE t.status IN ('new', 'open', 'waiting')
GROUP BY t.queue_id, q.name ORDER BY q.name NULLS LAST
"""


def aftersales_panel(ctx: Context) -> Panel:
    f, links = ctx.filters, ctx.links
    now = timezone.now()
    previous = f.previous
    params = f.params(
        tz=settings.TIME_ZONE, now=now, top=TOP_SKUS, claiming=[str(s) for s in ReturnRequest.CLAIMING],
        **{"from": day_start(f.period.start), "to": day_start(f.period.end + timedelta(days=1)),
           "pfrom": day_start(previous.start) if previous else now, "pto": day_start(previous.end + timedelta(days=1))
           if previous else now})
    panel = Panel("aftersales", "After-sales and support", f, notes=[
        "Returns and claims count on the day they were opened (rejected and cancelled ones do not), for orders of "
        "the chosen channels, under the warehouse the item comes back to. Return rate: units claimed ÷ units sold "
        "in the same period. Refunds count on the day they were issued.",
        "Tickets are the whole desk's work, whatever the channel or warehouse. SLA targets count business hours "
        "(support calendar)."])

    reasons = rows(REASONS_SQL, params)
    totals = {r["current"]: r for r in reasons if r["total"]}
    sold = {r["current"]: r["units"] or 0 for r in rows(SOLD_SQL, params)}
    cur, prev = totals.get(True) or {}, (totals.get(False) or Nothing()) if previous else None
    defective = {r["current"]: r["units"] for r in reasons if not r["total"] and r["reason"] == Reason.DEFECTIVE}

    refunds = rows(REFUNDS_SQL, params)
    refund_totals = {r["current"]: r for r in refunds if r["total"]}
    replacements = {r["current"]: r for r in rows(REPLACEMENTS_SQL, params)}
    tickets = {r["period"]: r for r in rows(TICKETS_SQL, params)}
    tnow, tprev = tickets.get("current") or {}, (tickets.get("previous") or Nothing()) if previous else None

    def v(row, key, default=0):
        return default if row is None else (row.get(key) if row.get(key) is not None else default)

    def sla(row):
        met = v(row, "first_met") + v(row, "solve_met")
        return ratio(met, met + v(row, "first_missed") + v(row, "solve_missed"))

    panel.figures = [
        Figure("Return rate", ratio(v(cur, "units"), sold.get(True)),
               prev and ratio(v(prev, "units"), sold.get(False)), "pct", links.returns(f), better="down",
               note=f"{v(cur, 'returns')} returns and claims"),
        Figure("Defect rate", ratio(defective.get(True) or 0, sold.get(True)),
               prev and ratio(defective.get(False) or 0, sold.get(False)), "pct",
               links.returns(f, reason=Reason.DEFECTIVE), better="down"),
        Figure("Refunded", money(v(refund_totals.get(True), "amount")),
               previous and money(v(refund_totals.get(False), "amount")), "money", links.refunds(f),
               better="down", note=f"{v(refund_totals.get(True), 'refunds')} refunds"),
        Figure("Replacement sent (median)", hours(v(replacements.get(True), "p50", None)),
               previous and hours(v(replacements.get(False), "p50", None)), "hours", better="down",
               note="from the claim to the carrier"),
        Figure("Tickets opened", v(tnow, "opened"), tprev and v(tprev, "opened"), "int",
               links.tickets(f, "created_at"), better=""),
        Figure("First response (median)", hours(v(tnow, "first_p50", None)),
               tprev and hours(v(tprev, "first_p50", None)), "hours", better="down",
               note=f"p90 {hours(v(tnow, 'first_p90', None)) or '–'} h"),
        Figure("Resolution (median)", hours(v(tnow, "solve_p50", None)),
               tprev and hours(v(tprev, "solve_p50", None)), "hours", better="down",
               note=f"{v(tnow, 'solved')} solved"),
        Figure("SLA met", sla(tnow), tprev and sla(tprev), "pct"),
    ]

    by_reason = Table("reasons", "Returns and claims by reason", [
        Column("reason", "Reason"), Column("returns", "Returns", "int"), Column("units", "Units", "int"),
        Column("share", "Share of units", "pct"), Column("previous_units", "Units before", "int")])
    labels = dict(Reason.choices)
    for reason in Reason.values:
        now_row = next((r for r in reasons if r["reason"] == reason and r["current"] and not r["total"]), None)
        before = next((r for r in reasons if r["reason"] == reason and not r["current"] and not r["total"]), None)
        if not now_row and not before:
            continue
        by_reason.rows.append({"reason": labels[reason], "returns": v(now_row, "returns"),
                               "units": v(now_row, "units"), "share": ratio(v(now_row, "units"), v(cur, "units")),
                               "previous_units": v(before, "units") if previous else None,
                               "_links": {"returns": links.returns(f, reason=reason)}})
    panel.charts.append(Chart("reasons", "Units returned or claimed, by reason", "bar",
                              [r["reason"] for r in by_reason.rows],
                              [{"label": "Units", "data": [r["units"] for r in by_reason.rows]}]
                              + ([{"label": "Units before", "previous": True,
                                   "data": [r["previous_units"] for r in by_reason.rows]}] if previous else []),
                              table="reasons", horizontal=True))
    panel.tables.append(by_reason)

    skus = rows(SKUS_SQL, params)
    by_sku = Table("skus", "Return and defect rates by product (the most defects first)", [
        Column("sku", "SKU"), Column("name", "Product"), Column("sold", "Units sold", "int"),
        Column("claimed", "Units claimed", "int"), Column("return_rate", "Return rate", "pct"),
        Column("defective", "Claimed defective", "int"), Column("defect_rate", "Defect rate", "pct")])
    for r in skus:
        by_sku.rows.append({"sku": r["sku"], "name": r["name"], "sold": r["sold"], "claimed": r["claimed"],
                            "return_rate": ratio(r["claimed"], r["sold"]), "defective": r["defective"],
                            "defect_rate": ratio(r["defective"], r["sold"]),
                            "_links": {"sku": links.returns(f, sku=r["sku"]),
                                       "sold": links.orders(f, sku=r["sku"]),
                                       "defective": links.returns(f, sku=r["sku"], reason=Reason.DEFECTIVE)}})
    panel.tables.append(by_sku)

    traced = next((r for r in skus if r["serial_tracked"] and r["defective"]), None)
    batches = Table("batches", "Defects by receipt batch" + (f" of {traced['sku']}" if traced else ""), [
        Column("batch", "Receipt batch"), Column("shipped", "Units shipped", "int"),
        Column("defective", "Claimed defective", "int"), Column("rate", "Defect rate", "pct")],
        note="For the serial-tracked product with the most defect claims in the period, every channel and "
             "warehouse (returns.selectors.defect_rate_by_batch).",
        empty="No serial-tracked product was claimed defective in this period.")
    if traced:
        for r in defect_rate_by_batch(sku=traced["sku"], start=params["from"], end=params["to"]):
            batches.rows.append({**r, "_links": {"defective": links._url("returns", {"sku": traced["sku"],
                                                                                     "reason": Reason.DEFECTIVE})}})
    panel.tables.append(batches)

    buckets = f.buckets()
    refund_steps = {r["bucket"]: r for r in refunds if r["current"] and not r["total"]}
    ticket_steps = {r["bucket"]: r for r in rows(TICKET_STEPS_SQL, params)}
    steps = Table("steps", f"Refunds and tickets per {f.grain}", [
        Column("step", "Period"), Column("refunds", "Refunds", "int"), Column("refunded", "Refunded", "money"),
        Column("opened", "Tickets opened", "int"), Column("solved", "Tickets solved", "int")])
    for bucket in buckets:
        start, end = f.bucket_start(bucket), f.bucket_end(bucket)
        refund, ticket = refund_steps.get(bucket), ticket_steps.get(bucket)
        steps.rows.append({"step": bucket_label(bucket, f.grain), "refunds": v(refund, "refunds"),
                           "refunded": money(v(refund, "amount")), "opened": v(ticket, "opened"),
                           "solved": v(ticket, "solved"),
                           "_links": {"refunds": links.refunds(f, start, end),
                                      "opened": links.tickets(f, "created_at", start, end),
                                      "solved": links.tickets(f, "solved_at", start, end)}})
    panel.charts.append(Chart("tickets", "Tickets opened and solved", "line", [r["step"] for r in steps.rows],
                              [{"label": "Opened", "data": [r["opened"] for r in steps.rows]},
                               {"label": "Solved", "data": [r["solved"] for r in steps.rows]}], table="steps"))
    panel.tables.append(steps)

    sla_table = Table("sla", "Support times and SLA", [
        Column("measure", "Measure"), Column("p50", "Median", "hours"), Column("p90", "p90", "hours"),
        Column("met", "Target met", "int"), Column("missed", "Target missed", "int"),
        Column("compliance", "SLA met", "pct")])
    sla_table.rows = [
        {"measure": "First response (tickets opened)", "p50": hours(v(tnow, "first_p50", None)),
         "p90": hours(v(tnow, "first_p90", None)), "met": v(tnow, "first_met"), "missed": v(tnow, "first_missed"),
         "compliance": ratio(v(tnow, "first_met"), v(tnow, "first_met") + v(tnow, "first_missed"))},
        {"measure": "Resolution (tickets solved)", "p50": hours(v(tnow, "solve_p50", None)),
         "p90": hours(v(tnow, "solve_p90", None)), "met": v(tnow, "solve_met"), "missed": v(tnow, "solve_missed"),
         "compliance": ratio(v(tnow, "solve_met"), v(tnow, "solve_met") + v(tnow, "solve_missed"))},
        {"measure": "Replacement: claim → carrier", "p50": hours(v(replacements.get(True), "p50", None)),
         "p90": hours(v(replacements.get(True), "p90", None)), "met": None, "missed": None, "compliance": None},
    ]
    panel.tables.append(sla_table)

    backlog = Table("backlog", "Backlog per queue, now", [
        Column("queue", "Queue"), Column("tickets", "Open tickets", "int"), Column("new", "New", "int"),
        Column("open", "Open", "int"), Column("waiting", "Waiting on the customer", "int"),
        Column("overdue", "Past resolution target", "int"), Column("oldest", "Oldest (hours)", "hours")],
        empty="No open ticket.")
    for r in rows(BACKLOG_SQL, params):
        scope = {"queue__id__exact": r["queue_id"]} if r["queue_id"] else {"queue__isnull": "True"}
        backlog.rows.append({"queue": r["queue"] or "(no queue)", "tickets": r["tickets"], "new": r["new"],
                             "open": r["open"], "waiting": r["waiting"], "overdue": r["overdue"],
                             "oldest": hours(r["oldest_hours"]),
                             "_links": {"tickets": links.tickets_now(status__in="new,open,waiting", **scope),
                                        "new": links.tickets_now(status__exact="new", **scope),
                                        "open": links.tickets_now(status__exact="open", **scope),
                                        "waiting": links.tickets_now(status__exact="waiting", **scope)}})
    panel.tables.append(backlog)
    return panel
