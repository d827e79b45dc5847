"""How the dashboard writes its numbers: thousands separated, money with cents, shares in per cent, hours."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django import template

register = template.Library()
NONE = "–"


def _grouped(value, digits: int) -> str:
    return f"{value:,.{digits}f}"


@register.filter
def cell(value, kind: str = "text") -> str:
    if value is None or value == "":
        return NONE
    if kind == "int":
        return _grouped(int(value), 0)
    if kind == "money":
        return _grouped(Decimal(value), 2)
    if kind == "pct":
        return f"{float(value) * 100:,.1f} %"
    if kind == "hours":
        return f"{float(value):,.1f} h"
    if kind == "days":
        return f"{float(value):,.1f} d"
    if kind == "decimal":
        return _grouped(float(value), 1)
    if kind == "date" and isinstance(value, date):
        return f"{value:%d %b %Y}"
    return str(value)


@register.filter
def change(figure) -> str:
    """The change against the previous period: "+12.5 %", or for shares "+1.2 pts"."""
    if figure.points is not None:
        return f"{figure.points:+.1f} pts" if figure.points else "±0"
    if figure.change is None:
        return "±0" if figure.value is not None and str(figure.value) == str(figure.previous) else ""
    return f"{figure.change * 100:+.1f} %" if figure.change else "±0"


@register.filter
def heat(value) -> int:
    """A share (0 to 1) as one of six shades for the cohort grid."""
    return min(5, max(0, int(float(value) * 10 + 0.999))) if value else 0
