"""What an order costs comes from the shop, never from the customer: product prices in the shop's currency
(WAYBILL_CURRENCY) and shipping at the shop's rate (WAYBILL_SHIPPING_RATE, free from WAYBILL_FREE_SHIPPING_FROM).
Staff may price shipping by hand for a phone order; a customer can only confirm the price the shop quotes."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings


def shop_currency() -> str:
    return settings.WAYBILL_CURRENCY.upper()


def shipping_quote(*, subtotal: Decimal) -> Decimal:
    """Shipping for an order of goods worth `subtotal` in the shop's currency."""
    free_from = settings.WAYBILL_FREE_SHIPPING_FROM
    if free_from is not None and subtotal >= Decimal(free_from):
        return Decimal("0.00")
    return Decimal(settings.WAYBILL_SHIPPING_RATE).quantize(Decimal("0.01"))
