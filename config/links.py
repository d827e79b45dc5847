"""Signed links that open one order for whoever holds them (the links in a customer's emails): the order number,
signed with SECRET_KEY, expiring after WAYBILL_ORDER_LINK_DAYS. Made by notifications, checked by the portal."""

from __future__ import annotations

from django.conf import settings
from django.core import signing

SALT = "waybill.order-access"


def order_access_token(number: str) -> str:
    return signing.dumps(number, salt=SALT, compress=False)


def order_from_token(token: str) -> str | None:
    """The order number a valid, unexpired token opens; None for anything else."""
    try:
        value = signing.loads(token, salt=SALT, max_age=settings.WAYBILL_ORDER_LINK_DAYS * 86400)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return value if isinstance(value, str) else None


def order_link(number: str) -> str:
    site = settings.WAYBILL_SITE_URL.rstrip("/")
    return f"{site}/orders/{number}/?access={order_access_token(number)}"
