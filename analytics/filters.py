"""The dashboard's filters: a date range (a preset or two dates), what to compare it with, a warehouse, a channel and
the size of the chart's steps. Bad input (an end before the start, a range of ten years, an unknown warehouse) is a
form error, shown beside the field, never a server error."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from urllib.parse import urlencode

from django import forms
from django.utils import timezone

from inventory.models import Warehouse
from orders.models import Order

from .db import using
from .rollups import shop_zone

MAX_DAYS = 3 * 366
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)
PRESETS = [("7", "Last 7 days"), ("30", "Last 30 days"), ("90", "Last 90 days"), ("365", "Last 12 months"),
           ("custom", "The dates below")]
COMPARE = [("previous", "The period before"), ("year", "The same days a year earlier"), ("none", "Nothing")]
GRAINS = [("", "Automatic"), ("day", "Days"), ("week", "Weeks"), ("month", "Months")]
# A replacement is after-sales work, not a sale: "all sales channels" leaves it out (choose it to see it alone).
SALES_CHANNELS = [Order.Channel.STOREFRONT.value, Order.Channel.PHONE.value, Order.Channel.IMPORT.value]
CHANNELS = [("", "All sales channels"), *Order.Channel.choices]


def today() -> date:
    return timezone.localtime(timezone.now(), shop_zone()).date()


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def label(self) -> str:
        if self.start == self.end:
            return f"{self.start:%d %b %Y}"
        return f"{self.start:%d %b %Y} – {self.end:%d %b %Y}"

    def shifted_back(self, *, year: bool = False) -> Period:
        if year:
            return Period(_year_before(self.start), _year_before(self.end))
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


@dataclass(frozen=True)
class Filters:
    period: Period
    previous: Period | None
    warehouse: Warehouse | None = None
    channel: str = ""
    grain: str = "day"
    compare: str = "previous"
    preset: str = "30"
    today: date = field(default_factory=today)

    @property
    def channels(self) -> list[str]:
        return [self.channel] if self.channel else list(SALES_CHANNELS)

    @property
    def warehouse_id(self) -> int | None:
        return self.warehouse.pk if self.warehouse else None

    def params(self, **extra) -> dict:
        """Everything the panels' SQL needs: both periods (an empty one when nothing is compared), the channels,
        the warehouse as the rollups spell it (',3,')."""
        previous = self.previous or Period(date(1, 1, 1), date(1, 1, 1))
        return {"start": self.period.start, "end": self.period.end, "pstart": previous.start, "pend": previous.end,
                "channels": self.channels, "warehouse": self.warehouse_id,
                "warehouse_like": f"%,{self.warehouse_id},%" if self.warehouse else "%", "grain": self.grain,
                "today": self.today, **extra}

    def query(self, **overrides) -> dict:
        """The filters as GET parameters (for links to other panels, the CSV export, the next page)."""
        values = {"range": self.preset, "compare": self.compare, "grain": self.grain, "channel": self.channel,
                  "warehouse": self.warehouse.code if self.warehouse else ""}
        if self.preset == "custom":
            values.update(start=self.period.start.isoformat(), end=self.period.end.isoformat())
        values.update(overrides)
        return {k: v for k, v in values.items() if v not in ("", None)}

    def querystring(self, **overrides) -> str:
        return urlencode(self.query(**overrides))

    def buckets(self) -> list[date]:
        """The chart's steps over the period: days, Mondays or first days of months (as date_trunc gives them)."""
        out, day = [], _truncate(self.period.start, self.grain)
        while day <= self.period.end:
            out.append(day)
            day = _next(day, self.grain)
        return out

    def bucket_end(self, bucket: date) -> date:
        """The last day of a step, within the period."""
        return min(_next(bucket, self.grain) - timedelta(days=1), self.period.end)

    def bucket_start(self, bucket: date) -> date:
        return max(bucket, self.period.start)

    def with_period(self, start: date, end: date) -> Filters:
        return replace(self, period=Period(start, end))


def _truncate(day: date, grain: str) -> date:
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def _next(day: date, grain: str) -> date:
    if grain == "week":
        return day + timedelta(days=7)
    if grain == "month":
        return (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return day + timedelta(days=1)


def auto_grain(days: int) -> str:
    return "day" if days <= 62 else "week" if days <= 370 else "month"


class FilterForm(forms.Form):
    range = forms.ChoiceField(label="Period", choices=PRESETS, required=False)
    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    compare = forms.ChoiceField(label="Compare with", choices=COMPARE, required=False)
    warehouse = forms.ModelChoiceField(label="Warehouse", queryset=Warehouse.objects.none(), to_field_name="code",
                                       required=False, empty_label="All warehouses")
    channel = forms.ChoiceField(label="Channel", choices=CHANNELS, required=False)
    grain = forms.ChoiceField(label="Steps", choices=GRAINS, required=False)

    def __init__(self, data=None, *args, today: date | None = None, **kwargs):
        if data is not None and not data.get("range"):  # say on the form which period is shown
            data = data.copy()
            data["range"] = "custom" if data.get("start") or data.get("end") else "30"
        super().__init__(data, *args, **kwargs)
        self.today = today or globals()["today"]()
        self.fields["warehouse"].queryset = Warehouse.objects.using(using()).order_by("priority", "code")
        self.fields["start"].widget.attrs.update(min=EARLIEST.isoformat(), max=LATEST.isoformat())
        self.fields["end"].widget.attrs.update(min=EARLIEST.isoformat(), max=LATEST.isoformat())

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        for name, value in (("start", start), ("end", end)):
            if value and not (EARLIEST <= value <= LATEST):
                self.add_error(name, f"Choose a day between {EARLIEST:%Y} and {LATEST:%Y}.")
        if self.errors:
            return data
        preset = data.get("range") or ("custom" if start or end else "30")
        if preset == "custom":
            start, end = start or (end or self.today) - timedelta(days=29), end or self.today
            if start > end:
                self.add_error("end", "The end comes before the start.")
            elif (end - start).days + 1 > MAX_DAYS:
                self.add_error("start", f"Choose at most {MAX_DAYS} days.")
        else:
            end = self.today
            start = end - timedelta(days=int(preset) - 1)
        data.update(range=preset, start=start, end=end)
        return data

    def filters(self) -> Filters:
        """The filters chosen (call after is_valid())."""
        data = self.cleaned_data
        period = Period(data["start"], data["end"])
        compare = data.get("compare") or "previous"
        previous = None if compare == "none" else period.shifted_back(year=compare == "year")
        return Filters(period=period, previous=previous, warehouse=data.get("warehouse"),
                       channel=data.get("channel") or "", grain=data.get("grain") or auto_grain(period.days),
                       compare=compare, preset=data["range"], today=self.today)


def default_filters(*, day: date | None = None) -> Filters:
    form = FilterForm({}, today=day)
    form.is_valid()
    return form.filters()
