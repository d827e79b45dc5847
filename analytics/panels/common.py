"""Pieces the panels share: the WHERE clause of a rollup table, steps of the chart, labels."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from django.conf import settings

from ..filters import Filters


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
