"""Customers: who bought (new or returning, guest or account), how often they come back, monthly cohorts, lifetime
value and RFM segments. A customer is an email address; only orders that were not cancelled count."""

from __future__ import annotations

from datetime import date

from ..db import rows
from ..facts import CustomerActivity, CustomerDayCount, CustomerMonth, CustomerSegment, CustomerSummary
from ..segments import RFM, RFM_DAYS, SEGMENTS, SEGMENTS_SQL
from .base import Chart, Column, Context, Figure, Nothing, Panel, Table, money, ratio
from .common import bucket_label, customer_rows, days_where, unfiltered

COHORT_MONTHS = 12
LTV_EDGES = [50, 100, 250, 500, 1000, 2500]
LIST_LIMIT = 200
CS, CM = CustomerSummary._meta.db_table, CustomerMonth._meta.db_table
CA = CustomerActivity._meta.db_table

SEGMENT_LABELS = {key: label for key, label, _ in SEGMENTS}

# One row per customer and day of the chosen rows, with their previous order day.
def _active(f) -> str:
    return f"SELECT d.*, d.day >= %(start)s AS current FROM {customer_rows(f)} d"


# CustomerDayCount counts the customers' order days in the chosen scope by the days since their previous one: a
# period's customers are its rows whose previous day in the scope lies before the period, new ones those with no
# previous order day at all, one-order newcomers those whose next day in the scope lies after it, so nothing is
# grouped per customer, with or without a warehouse or a channel chosen.
CDC = CustomerDayCount._meta.db_table


def _scoped(f, alias: str, *, previous: bool = True) -> str:
    return (f"{alias}.channel = %(scope_channel)s AND {alias}.warehouse_id = %(scope_warehouse)s "
            f"AND {days_where(f, alias, previous=previous)}")


def _counts_sql(f) -> str:
    return f"""
SELECT 'step' AS kind, bucket, current, GROUPING(bucket) = 1 AS total,
       coalesce(sum(customers) FILTER (WHERE first_in_step), 0)::bigint AS step_customers,
       coalesce(sum(customers) FILTER (WHERE first_in_period), 0)::bigint AS customers,
       coalesce(sum(customers) FILTER (WHERE gap = 0), 0)::bigint AS new, sum(orders)::bigint AS orders,
       coalesce(sum(customers) FILTER (WHERE only_order), 0)::bigint AS single,
       coalesce(sum(customers) FILTER (WHERE first_in_period AND guest), 0)::bigint AS guests,
       coalesce(sum(orders) FILTER (WHERE guest), 0)::bigint AS guest_orders, sum(revenue) AS revenue,
       coalesce(sum(revenue) FILTER (WHERE guest), 0) AS guest_revenue
FROM (SELECT a.gap, a.guest, a.customers, a.orders, a.revenue, a.day >= %(start)s AS current,
             date_trunc(%(grain)s, a.day)::date AS bucket,
             a.scope_gap = 0 OR a.day - a.scope_gap < CASE WHEN a.day >= %(start)s THEN %(start)s::date
                                                          ELSE %(pstart)s::date END AS first_in_period,
             a.scope_gap = 0 OR a.day - a.scope_gap < greatest(date_trunc(%(grain)s, a.day)::date, %(start)s::date)
                 AS first_in_step,
             a.first_single AND (a.next_gap = 0 OR a.day + a.next_gap > CASE WHEN a.day >= %(start)s
                                                                            THEN %(end)s::date
                                                                            ELSE %(pend)s::date END) AS only_order
      FROM {CDC} a WHERE {_scoped(f, "a")}) x
GROUP BY GROUPING SETS ((current, bucket), (current))
"""


# percentile_cont over the gaps, each counted as often as it occurs: the values at ranks floor and ceil of
# p × (n - 1) (from 0), interpolated as PostgreSQL does.
def _gaps_sql(f) -> str:
    return f"""
WITH g AS (SELECT a.day >= %(start)s AS current, a.gap, sum(a.customers) AS n
           FROM {CDC} a WHERE {_scoped(f, "a")} AND a.gap > 0 GROUP BY 1, 2),
r AS (SELECT current, gap::float8 AS gap, sum(n) OVER w - n AS below, sum(n) OVER w AS upto,
             sum(n) OVER (PARTITION BY current) AS total
      FROM g WINDOW w AS (PARTITION BY current ORDER BY gap)),
p AS (SELECT t.current, t.total, q.q, q.q * (t.total - 1)::float8 AS pos
      FROM (SELECT DISTINCT current, total FROM r) t CROSS JOIN (VALUES (0.5::float8), (0.9::float8)) q (q)),
v AS (SELECT p.current, p.total, p.q, lo.gap + (hi.gap - lo.gap) * (p.pos - floor(p.pos)) AS value
      FROM p JOIN r lo ON lo.current = p.current AND floor(p.pos) >= lo.below AND floor(p.pos) < lo.upto
      JOIN r hi ON hi.current = p.current AND ceil(p.pos) >= hi.below AND ceil(p.pos) < hi.upto)
SELECT current, total AS gaps, max(value) FILTER (WHERE q = 0.5) AS gap_p50,
       max(value) FILTER (WHERE q = 0.9) AS gap_p90
FROM v GROUP BY current, total
"""


def _period(f, params) -> list[dict]:
    """The figures per step (kind "step", the period's steps) and per period (kind "period", current or not)."""
    gaps = {r["current"]: r for r in rows(_gaps_sql(f), params)}
    out = []
    for r in rows(_counts_sql(f), params):
        if not r["total"]:
            if r["current"]:
                out.append({"kind": "step", "bucket": r["bucket"], "current": True, "customers": r["step_customers"],
                            "new": r["new"], "orders": r["orders"]})
            continue
        g = gaps.get(r["current"]) or {}
        out.append({"kind": "period", "bucket": None, "current": r["current"], "customers": r["customers"],
                    "new": r["new"], "orders": r["orders"], "repeat": r["customers"] - r["single"],
                    "guests": r["guests"], "guest_orders": r["guest_orders"], "revenue": r["revenue"],
                    "guest_revenue": r["guest_revenue"], "gaps": g.get("gaps"), "gap_p50": g.get("gap_p50"),
                    "gap_p90": g.get("gap_p90")})
    return out


COHORT_SQL = f"""
SELECT cohort, ((date_part('year', month) - date_part('year', cohort)) * 12
                + date_part('month', month) - date_part('month', cohort))::int AS age, count(*) AS customers
FROM {CM} WHERE cohort BETWEEN %(cohort_start)s AND %(cohort_end)s AND month <= %(cohort_end)s
GROUP BY 1, 2
"""

# The period's customers without filters: those whose first order day is not after it and whose last is not before
# it, but for those who skipped it (their first order day after it has its previous one before it): CustomerSummary
# read once, no customer's rows grouped. With a warehouse or a channel, their distinct customers in the period.
def _ltv_sql(f) -> str:
    if unfiltered(f):
        return f"""
SELECT width_bucket(s.revenue, %(edges)s::numeric[]) AS band, count(*) AS customers, sum(s.revenue) AS revenue
FROM {CS} s
WHERE s.first_day <= %(end)s AND s.last_day >= %(start)s
  AND (s.last_day <= %(end)s OR NOT EXISTS (SELECT 1 FROM {CA} a WHERE a.customer_key = s.customer_key
                                            AND a.day > %(end)s AND a.previous_day < %(start)s))
GROUP BY 1 ORDER BY 1
"""
    return f"""
SELECT width_bucket(s.revenue, %(edges)s::numeric[]) AS band, count(*) AS customers, sum(s.revenue) AS revenue
FROM (SELECT DISTINCT a.customer_key FROM {customer_rows(f, previous=False)} a) a
JOIN {CS} s ON s.customer_key = a.customer_key
GROUP BY 1 ORDER BY 1
"""


# The segments as of today: the ones the last refresh kept, if it ran today (CustomerSummary changes only then, so
# they are the same figures), else counted now.
RFM_SQL = f"""
WITH kept AS (SELECT segment, customers, revenue, orders, recency FROM {CustomerSegment._meta.db_table}
              WHERE as_of = %(today)s)
SELECT * FROM kept
UNION ALL
SELECT * FROM ({SEGMENTS_SQL}) counted WHERE NOT EXISTS (SELECT 1 FROM kept)
"""

SEGMENT_LIST_SQL = RFM.format(columns="s.*") + """
SELECT customer_key, customer_id, first_day, last_day, orders, revenue, r, f, m, count(*) OVER () AS found
FROM segmented WHERE segment = %(segment)s
ORDER BY revenue DESC, customer_key LIMIT %(limit)s
"""

def _people_list_sql(f) -> str:
    return f"""
WITH d AS ({_active(f)}),
people AS (SELECT customer_key, bool_or(previous_day IS NULL) AS new,
                  bool_or(previous_day IS NOT NULL) OR sum(orders) >= 2 AS repeat, sum(orders) AS period_orders
           FROM d WHERE current GROUP BY customer_key)
SELECT p.customer_key, s.customer_id, s.first_day, s.last_day, s.orders, s.revenue, p.period_orders,
       count(*) OVER () AS found
FROM people p JOIN {CS} s ON s.customer_key = p.customer_key
WHERE CASE %(kind)s WHEN 'new' THEN p.new WHEN 'returning' THEN NOT p.new WHEN 'repeat' THEN p.repeat
           ELSE true END
ORDER BY s.revenue DESC, p.customer_key LIMIT %(limit)s
"""


LIST_KINDS = {"all": "Customers who ordered", "new": "New customers", "returning": "Returning customers",
              "repeat": "Repeat customers"}


def _ltv_label(band: int) -> str:
    if band == 0:
        return f"under {LTV_EDGES[0]}"
    if band >= len(LTV_EDGES):
        return f"{LTV_EDGES[-1]} and more"
    return f"{LTV_EDGES[band - 1]} to {LTV_EDGES[band]}"


def _months_back(first: date, months: int) -> date:
    year, month = divmod(first.year * 12 + first.month - 1 - months, 12)
    return date(year, month + 1, 1)


def customers_panel(ctx: Context) -> Panel:
    f, links = ctx.filters, ctx.links
    cohort_end = f.period.end.replace(day=1)
    params = f.params(edges=LTV_EDGES, cohort_start=_months_back(cohort_end, COHORT_MONTHS - 1), cohort_end=cohort_end,
                      scope_channel=f.channel, scope_warehouse=f.warehouse_id or 0)
    found = _period(f, params)
    periods = {r["current"]: r for r in found if r["kind"] == "period"}
    steps = {r["bucket"]: r for r in found if r["kind"] == "step"}
    now, then = periods.get(True) or {}, (periods.get(False) or Nothing()) if f.previous else None

    def v(row, key, default=0):
        return default if row is None else (row.get(key) if row.get(key) is not None else default)

    def returning(row):
        return v(row, "customers") - v(row, "new")

    panel = Panel("customers", "Customers", f, notes=[
        "A customer is an email address (a guest who later opens an account is the same customer); cancelled "
        "orders do not count. New: their first order ever was in the period. Repeat: they had ordered before, or "
        "ordered twice in it.",
        "Time between orders counts days between a customer's order days. The cohort grid, lifetime value and RFM "
        f"segments read every channel and warehouse; RFM scores customers who ordered in the last {RFM_DAYS} days."])
    listing = _list_link(ctx)
    panel.figures = [
        Figure("Customers who ordered", v(now, "customers"), then and v(then, "customers"), "int", listing("all")),
        Figure("New customers", v(now, "new"), then and v(then, "new"), "int", listing("new")),
        Figure("Returning customers", returning(now), then and returning(then), "int", listing("returning")),
        Figure("Repeat-purchase rate", ratio(v(now, "repeat"), v(now, "customers")),
               then and ratio(v(then, "repeat"), v(then, "customers")), "pct", listing("repeat")),
        Figure("Days between orders (median)", _round(v(now, "gap_p50", None)),
               then and _round(v(then, "gap_p50", None)), "days", better="down",
               note=f"90 % within {_round(v(now, 'gap_p90', None)) or '–'} days"),
        Figure("Guest share of orders", ratio(v(now, "guest_orders"), v(now, "orders")),
               then and ratio(v(then, "guest_orders"), v(then, "orders")), "pct", better="",
               link=links.orders(f, customer__isnull="True")),
    ]

    buckets = f.buckets()
    table = Table("steps", f"New and returning customers per {f.grain}", [
        Column("step", "Period"), Column("customers", "Customers", "int"), Column("new", "New", "int"),
        Column("returning", "Returning", "int"), Column("orders", "Orders", "int")])
    for bucket in buckets:
        row = steps.get(bucket)
        start, end = f.bucket_start(bucket), f.bucket_end(bucket)
        table.rows.append({"step": bucket_label(bucket, f.grain), "customers": v(row, "customers"),
                           "new": v(row, "new"), "returning": returning(row), "orders": v(row, "orders"),
                           "_links": {"orders": links.orders(f, start, end, status__in=_NOT_CANCELLED),
                                      "new": listing("new", start, end),
                                      "returning": listing("returning", start, end)}})
    panel.charts.append(Chart("new_returning", "New and returning customers", "bar",
                              [r["step"] for r in table.rows],
                              [{"label": "New", "data": [r["new"] for r in table.rows]},
                               {"label": "Returning", "data": [r["returning"] for r in table.rows]}],
                              table="steps", stacked=True))
    panel.tables.append(table)

    guests = Table("guests", "Guests and accounts", [
        Column("who", "Who"), Column("customers", "Customers", "int"), Column("orders", "Orders", "int"),
        Column("revenue", "Net revenue", "money"), Column("aov", "Average order", "money")])
    for who, guest in (("Guest orders", True), ("Account orders", False)):
        customers = v(now, "guests") if guest else v(now, "customers") - v(now, "guests")
        orders = v(now, "guest_orders") if guest else v(now, "orders") - v(now, "guest_orders")
        revenue = v(now, "guest_revenue") if guest else v(now, "revenue") - v(now, "guest_revenue")
        guests.rows.append({"who": who, "customers": customers, "orders": orders, "revenue": money(revenue),
                            "aov": money(revenue / orders) if orders else None,
                            "_links": {"orders": links.orders(f, customer__isnull=str(guest),
                                                              status__in=_NOT_CANCELLED)}})
    panel.tables.append(guests)

    panel.tables.append(_cohorts(rows(COHORT_SQL, params), params["cohort_start"], cohort_end))

    ltv = {r["band"]: r for r in rows(_ltv_sql(f), params)}
    ltv_table = Table("ltv", "Lifetime value of the period's customers", [
        Column("band", f"Lifetime value ({panel.currency})"), Column("customers", "Customers", "int"),
        Column("revenue", "Their lifetime revenue", "money")])
    for band in range(len(LTV_EDGES) + 1):
        row = ltv.get(band)
        ltv_table.rows.append({"band": _ltv_label(band), "customers": v(row, "customers"),
                               "revenue": money(v(row, "revenue"))})
    panel.charts.append(Chart("ltv", "Lifetime value distribution", "bar", [r["band"] for r in ltv_table.rows],
                              [{"label": "Customers", "data": [r["customers"] for r in ltv_table.rows]}],
                              table="ltv"))
    panel.tables.append(ltv_table)

    segments = {r["segment"]: r for r in rows(RFM_SQL, params)}
    rfm = Table("rfm", "RFM segments (customers who ordered in the last 12 months, as of today)", [
        Column("segment", "Segment"), Column("meaning", "Who"), Column("customers", "Customers", "int"),
        Column("revenue", "Lifetime revenue", "money"), Column("orders", "Orders each", "decimal"),
        Column("recency", "Days since last order", "decimal")])
    for key, label, meaning in SEGMENTS:
        row = segments.get(key)
        rfm.rows.append({"segment": label, "meaning": meaning, "customers": v(row, "customers"),
                         "revenue": money(v(row, "revenue")), "orders": _round(v(row, "orders", None)),
                         "recency": _round(v(row, "recency", None)),
                         "_links": {"customers": ctx.customer_list(segment=key)} if ctx.customer_list else {}})
    panel.tables.append(rfm)
    return panel


_NOT_CANCELLED = "placed,confirmed,processing,packed,partially_shipped,shipped,delivered,returned,on_hold"


def _round(value, digits: int = 1):
    return None if value is None else round(float(value), digits)


def _list_link(ctx: Context):
    def link(kind: str, start: date | None = None, end: date | None = None) -> str:
        if not ctx.customer_list:
            return ""
        return ctx.customer_list(kind=kind, start=start, end=end)
    return link


def _cohorts(found: list[dict], first: date, last: date) -> Table:
    cells = {(r["cohort"], r["age"]): r["customers"] for r in found}
    table = Table("cohorts", "Monthly cohorts: share still ordering n months after their first order",
                  [Column("cohort", "First order"), Column("size", "Customers", "int")]
                  + [Column(f"m{age}", f"+{age}", "pct") for age in range(1, COHORT_MONTHS)],
                  note="Every channel and warehouse.")
    cohort = first
    while cohort <= last:
        size = cells.get((cohort, 0), 0)
        row = {"cohort": f"{cohort:%b %Y}", "size": size}
        for age in range(1, COHORT_MONTHS):
            month = _months_back(cohort, -age)
            row[f"m{age}"] = ratio(cells.get((cohort, age), 0), size) if size and month <= last else None
        table.rows.append(row)
        cohort = _months_back(cohort, -1)
    return table


def customer_list(ctx: Context, *, kind: str = "", segment: str = "") -> tuple[str, list[dict], int]:
    """The customers behind a figure: an RFM segment, or the period's new, returning or repeat customers (the
    biggest lifetime value first, at most LIST_LIMIT). Returns (title, rows, how many there are)."""
    f = ctx.filters
    if segment:
        found = rows(SEGMENT_LIST_SQL, f.params(segment=segment, limit=LIST_LIMIT))
        title = f"RFM segment: {SEGMENT_LABELS[segment]}"
    else:
        found = rows(_people_list_sql(f), f.params(kind=kind, limit=LIST_LIMIT))
        title = f"{LIST_KINDS[kind]}, {f.period.label()}"
    for row in found:
        row["revenue"] = money(row["revenue"])
        row["guest"] = row["customer_id"] is None
        row["orders_link"] = ctx.links._url("orders", {"email__iexact": row["customer_key"]})
    return title, found, found[0]["found"] if found else 0

