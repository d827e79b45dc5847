"""Reading panels in tests: a panel for given filters, a figure by its label, a table's rows by their first cell."""

from __future__ import annotations

from datetime import date
from functools import partial

from analytics.filters import FilterForm
from analytics.links import Links, customers_url
from analytics.panels import PANELS, Context

TODAY = date(2026, 4, 5)


def panel(key: str, user, *, start: str = "2026-03-01", end: str = "2026-03-31", today: date = TODAY, **params):
    form = FilterForm({"range": "custom", "start": start, "end": end, **params}, today=today)
    assert form.is_valid(), form.errors
    filters = form.filters()
    ctx = Context(filters, Links(user), customer_list=partial(customers_url, filters))
    return PANELS[key][1](ctx)


def figure(panel, label: str):
    found = [f for f in panel.figures if f.label == label]
    assert found, f"no figure {label!r} in {[f.label for f in panel.figures]}"
    return found[0]


def table(panel, key: str) -> dict:
    """Rows of a table by the value of their first column."""
    t = panel.table(key)
    assert t is not None, f"no table {key!r} in {[t.key for t in panel.tables]}"
    first = t.columns[0].key
    return {row[first]: row for row in t.rows}
