"""What a panel is made of: headline figures compared with the previous period, charts, and tables that hold the
charts' numbers (for screen readers, the CSV export and the drill-down links)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from ..filters import Filters
from ..links import Links

ZERO = Decimal("0")
CENT = Decimal("0.01")


class Nothing(dict):
    """The figures of a period with no rows at all: every sum is zero (and, unlike {}, it is there: `then and
    figure(then)` still computes the zeros)."""

    def __bool__(self) -> bool:
        return True


def money(value) -> Decimal:
    return Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP)


def ratio(part, whole) -> float | None:
    """part ÷ whole as a fraction (0.25 for 25 %), or None when there is nothing to divide by."""
    if not whole:
        return None
    return float(Decimal(part or 0) / Decimal(whole))


def hours(value) -> float | None:
    return None if value is None else round(float(value), 1)


@dataclass
class Column:
    key: str
    label: str
    kind: str = "text"  # text, int, money, pct, hours, days, date, decimal

    @property
    def numeric(self) -> bool:
        return self.kind not in ("text", "date")


@dataclass
class Table:
    key: str
    title: str
    columns: list[Column]
    rows: list[dict] = field(default_factory=list)
    note: str = ""
    empty: str = "Nothing in this period."

    def cells(self) -> list[list[tuple]]:
        """Rows as (column, value, link) triples, for the template."""
        return [[(c, row.get(c.key), (row.get("_links") or {}).get(c.key, "")) for c in self.columns]
                for row in self.rows]


@dataclass
class Chart:
    key: str
    title: str
    kind: str  # "line" or "bar"
    labels: list[str]
    series: list[dict]  # {"label": ..., "data": [...], "kind": "money" | "int" | ...}
    table: str  # the key of the table holding the same numbers
    stacked: bool = False
    horizontal: bool = False
    unit: str = ""

    def spec(self) -> dict:
        """What static/js/analytics-charts.js draws (passed with json_script)."""
        return {"kind": self.kind, "labels": self.labels, "stacked": self.stacked, "horizontal": self.horizontal,
                "unit": self.unit, "series": [{"label": s["label"], "data": [_json_number(v) for v in s["data"]],
                                               "previous": bool(s.get("previous"))} for s in self.series]}


def _json_number(value):
    if value is None:
        return None
    return float(value) if isinstance(value, Decimal) else value


@dataclass
class Figure:
    label: str
    value: object
    previous: object = None
    kind: str = "int"
    link: str = ""
    better: str = "up"  # "up", "down" or "" (neither)
    note: str = ""

    @property
    def change(self) -> float | None:
        """Relative change from the previous period (0.1 for +10 %), None without a previous figure."""
        if self.previous in (None, "") or self.value is None:
            return None
        if self.kind == "pct":  # a share: the change in points, not percent of percent
            return None
        previous = Decimal(str(self.previous))
        if previous == 0:
            return None
        return float((Decimal(str(self.value)) - previous) / abs(previous))

    @property
    def points(self) -> float | None:
        """For shares: the change in percentage points."""
        if self.kind != "pct" or self.previous is None or self.value is None:
            return None
        return round((float(self.value) - float(self.previous)) * 100, 1)

    @property
    def trend(self) -> str:
        """"good", "bad" or "" for the colour of the change."""
        delta = self.change if self.change is not None else self.points
        if not delta or not self.better:
            return ""
        return "good" if (delta > 0) == (self.better == "up") else "bad"


@dataclass
class Panel:
    key: str
    title: str
    filters: Filters
    figures: list[Figure] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self, key: str) -> Table | None:
        return next((t for t in self.tables if t.key == key), None)

    @property
    def currency(self) -> str:
        return settings.WAYBILL_CURRENCY


@dataclass
class Context:
    """What every panel is computed with: the filters, the links allowed to the viewer, and how to link to the
    customer lists (None for viewers who may not see customers)."""

    filters: Filters
    links: Links
    customer_list: Callable[..., str] | None = None
