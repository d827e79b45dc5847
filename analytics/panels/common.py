"""Pieces the panels share: the WHERE clause of a rollup table, steps of the chart, labels."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from django.conf import settings

from ..facts import CustomerActivity, CustomerDay, ProductDay, ProductMonth, SalesDay
from ..filters import Filters


def days_where(f: Filters, alias: str, *, previous: bool = True) -> str:
    """Rows of the period and of the one before it: one range of the index when they touch (an index-only scan
    can read it), two otherwise."""
    if not previous or f.previous is None:
        return f"{alias}.day BETWEEN %(start)s AND %(end)s"
    if f.previous.end + timedelta(days=1) == f.period.start:
        return f"{alias}.day BETWEEN %(pstart)s AND %(end)s"
    return f"({alias}.day BETWEEN %(start)s AND %(end)s OR {alias}.day BETWEEN %(pstart)s AND %(pend)s)"


def rollup_where(alias: str, *, previous: bool = True) -> str:
    """Rows of the period (and of the previous one), in the chosen channels and warehouse."""
    days = (f"({alias}.day BETWEEN %(start)s AND %(end)s OR {alias}.day BETWEEN %(pstart)s AND %(pend)s)"
            if previous else f"{alias}.day BETWEEN %(start)s AND %(end)s")
    return f"{days} AND {alias}.channel = ANY(%(channels)s) AND {alias}.warehouses LIKE %(warehouse_like)s"


def bucket_label(day: date, grain: str) -> str:
    if grain == "month":
        return f"{day:%b %Y}"
    if grain == "week":
        return f"Week of {day:%d %b}"
    return f"{day:%a %d %b}"


def previous_buckets(f: Filters) -> list[date]:
    if f.previous is None:
        return []
    return replace(f, period=f.previous).buckets()


def aligned(current: list[date], previous: list[date], values: dict) -> list:
    """The previous period's values at the positions of the current period's steps (the first step with the
    first...)."""
    out = [values.get(day) for day in previous[:len(current)]]
    return out + [None] * (len(current) - len(out))


def currency() -> str:
    return settings.WAYBILL_CURRENCY


def unfiltered(f: Filters) -> bool:
    """No warehouse and every sales channel: the panels read the smaller rollups (ProductDay, CustomerActivity)."""
    return not f.warehouse and not f.channel


def _whole_months(start: date, end: date) -> tuple[list[date], list[date]]:
    """The calendar months lying wholly in [start, end], and the days of [start, end] outside them."""
    months, days, day = [], [], start
    while day <= end:
        following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        if day.day == 1 and following - timedelta(days=1) <= end:
            months.append(day)
            day = following
        else:
            days.append(day)
            day += timedelta(days=1)
    return months, days


def whole_spans(start: date, end: date, grain: str) -> tuple[list[date], list[date]]:
    """The weeks (from Monday) or calendar months lying wholly in [start, end], and the days of it outside them."""
    if grain == "month":
        return _whole_months(start, end)
    spans, days, day = [], [], start
    while day <= end:
        if grain == "week" and day.weekday() == 0 and day + timedelta(days=6) <= end:
            spans.append(day)
            day += timedelta(days=7)
        else:
            days.append(day)
            day += timedelta(days=1)
    return spans, days


def product_rows(f: Filters, *, previous: bool = True) -> tuple[str, dict]:
    """A subquery of (day, product_id, units, cancelled_units, revenue, cancelled_revenue, refunded) over the period
    (and the one before): without filters, whole months from ProductMonth and the other days from ProductDay;
    with a warehouse or a channel, SalesDay's rows."""
    columns = "x.product_id, x.units, x.cancelled_units, x.revenue, x.cancelled_revenue, x.refunded"
    if not unfiltered(f):
        return (f"(SELECT x.day, {columns} FROM {SalesDay._meta.db_table} x "
                f"WHERE {rollup_where('x', previous=previous)})"), {}
    periods = [f.period] + ([f.previous] if previous and f.previous else [])
    months, days = [], []
    for period in periods:
        m, d = _whole_months(period.start, period.end)
        months += m
        days += d
    return (f"(SELECT x.month AS day, {columns} FROM {ProductMonth._meta.db_table} x "
            f"WHERE x.month = ANY(%(whole_months)s) "
            f"UNION ALL SELECT x.day, {columns} FROM {ProductDay._meta.db_table} x WHERE x.day = ANY(%(other_days)s))",
            {"whole_months": months, "other_days": days})


def customer_rows(f: Filters, *, previous: bool = True) -> str:
    """A subquery of one row per customer and order day, (day, customer_key, customer_id, orders, revenue,
    previous_day): CustomerActivity without filters, CustomerDay's rows (summed per day) with them."""
    if unfiltered(f):
        days = ("(x.day BETWEEN %(start)s AND %(end)s OR x.day BETWEEN %(pstart)s AND %(pend)s)" if previous
                else "x.day BETWEEN %(start)s AND %(end)s")
        return (f"(SELECT x.day, x.customer_key, x.customer_id, x.orders, x.revenue, x.previous_day "
                f"FROM {CustomerActivity._meta.db_table} x WHERE {days})")
    return (f"(SELECT x.day, x.customer_key, max(x.customer_id) AS customer_id, sum(x.orders)::int AS orders, "
            f"sum(x.revenue) AS revenue, min(x.previous_day) AS previous_day "
            f"FROM {CustomerDay._meta.db_table} x WHERE {rollup_where('x', previous=previous)} "
            f"GROUP BY x.day, x.customer_key)")
