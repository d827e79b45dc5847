"""Drill-downs: the admin lists behind a figure, filtered the way the figure was counted (the admin filters each
app offers: dates, status, channel, warehouse, product). A link is shown only to staff who may open that list."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import urlencode

from django.urls import reverse

from .filters import SALES_CHANNELS, Filters
from .rollups import day_start

VIEW = {
    "orders": "orders.view_order", "returns": "returns.view_returnrequest", "refunds": "returns.view_refund",
    "shipments": "shipping.view_shipment", "tickets": "support.view_ticket", "stock": "inventory.view_stocklevel",
    "products": "inventory.view_product",
}
CHANGELIST = {
    "orders": "admin:orders_order_changelist", "returns": "admin:returns_returnrequest_changelist",
    "refunds": "admin:returns_refund_changelist", "shipments": "admin:shipping_shipment_changelist",
    "tickets": "admin:support_ticket_changelist", "stock": "admin:inventory_stocklevel_changelist",
    "products": "admin:inventory_product_changelist",
}


class Links:
    """Builds the links for one request: `links.orders(filters, start, end, status__exact="cancelled")`. Returns
    "" where the user may not open the list (the figure is shown without a link)."""

    def __init__(self, user):
        self.allowed = {name for name, perm in VIEW.items() if user.has_perm(perm)}

    def _url(self, name: str, params: dict) -> str:
        if name not in self.allowed:
            return ""
        return f"{reverse(CHANGELIST[name])}?{urlencode({k: v for k, v in params.items() if v not in ('', None)})}"

    @staticmethod
    def _range(field: str, start: date, end: date) -> dict:
        return {f"{field}__gte": day_start(start).isoformat(),
                f"{field}__lt": day_start(end + timedelta(days=1)).isoformat()}

    @staticmethod
    def _channel(f: Filters) -> dict:
        """The order list's own field."""
        if f.channel:
            return {"channel__exact": f.channel}
        return {"channel__in": ",".join(SALES_CHANNELS)}

    @staticmethod
    def _order_channel(f: Filters) -> dict:
        """Other lists' filter on their order's channel (orders.admin.OrderChannelFilter)."""
        return {"order_channel": f.channel or ",".join(SALES_CHANNELS)}

    def orders(self, f: Filters, start: date | None = None, end: date | None = None, **extra) -> str:
        """Orders placed in [start, end] (the period by default) in the chosen channels, served (at least partly)
        from the chosen warehouse."""
        params = {**self._range("placed_at", start or f.period.start, end or f.period.end), **self._channel(f),
                  "warehouse": f.warehouse.code if f.warehouse else "", **extra}
        return self._url("orders", params)

    def orders_now(self, f: Filters, **extra) -> str:
        """Orders as they are now (no date range), in the chosen channels and warehouse."""
        return self._url("orders", {**self._channel(f), "warehouse": f.warehouse.code if f.warehouse else "",
                                    **extra})

    def returns(self, f: Filters, start: date | None = None, end: date | None = None, **extra) -> str:
        """Returns and claims opened in [start, end], for orders of the chosen channels, coming back to the chosen
        warehouse."""
        params = {**self._range("created_at", start or f.period.start, end or f.period.end),
                  **self._order_channel(f),
                  "warehouse__id__exact": f.warehouse_id or "", **extra}
        return self._url("returns", params)

    def refunds(self, f: Filters, start: date | None = None, end: date | None = None, **extra) -> str:
        params = {**self._range("created_at", start or f.period.start, end or f.period.end),
                  **self._order_channel(f), **extra}
        return self._url("refunds", params)

    def shipments(self, f: Filters, start: date | None = None, end: date | None = None, **extra) -> str:
        """Parcels handed to the carrier in [start, end], leaving from the chosen warehouse."""
        params = {**self._range("shipped_at", start or f.period.start, end or f.period.end),
                  **self._order_channel(f), "direction__exact": "outbound",
                  "warehouse__id__exact": f.warehouse_id or "", **extra}
        return self._url("shipments", params)

    def tickets(self, f: Filters, field: str = "created_at", start: date | None = None, end: date | None = None,
                **extra) -> str:
        params = {**self._range(field, start or f.period.start, end or f.period.end), **extra}
        return self._url("tickets", params)

    def tickets_now(self, **extra) -> str:
        return self._url("tickets", extra)

    def stock(self, f: Filters, **extra) -> str:
        return self._url("stock", {"warehouse__id__exact": f.warehouse_id or "", **extra})

    def products(self, **extra) -> str:
        return self._url("products", extra)


def customers_url(f: Filters, *, kind: str = "", segment: str = "", start: date | None = None,
                  end: date | None = None) -> str:
    """The dashboard's own list of the customers behind a figure (an RFM segment, the period's new ones...)."""
    overrides = {"kind": kind, "segment": segment}
    if start and end:
        overrides.update(range="custom", start=start.isoformat(), end=end.isoformat())
    return f"{reverse('analytics:customers')}?{f.querystring(**overrides)}"
