"""Invoices as PDF (weasyprint): numbered on first issue, the seller, the buyer, lines, shipping, the tax the
prices include, refunds. One order or many (one invoice per page)."""

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from .models import Order, OrderLine
from .services import invoice_tax, order_issue_invoice

MAX_BULK = 500


def _invoice(order: Order, lines: list[OrderLine]) -> dict:
    invoice = order_issue_invoice(order=order)
    net, tax = invoice_tax(amount=order.total)
    return {"order": order, "invoice": invoice, "lines": lines, "net": net, "tax": tax}


def invoices_pdf(*, orders) -> bytes:
    """The invoices of the orders (numbers are given to those without one, in the order given)."""
    from weasyprint import HTML  # loads Pango: only when a document is printed

    orders = list(orders)[:MAX_BULK]
    by_order: dict[int, list[OrderLine]] = {}
    for line in OrderLine.objects.filter(order__in=orders).order_by("order_id", "pk"):
        by_order.setdefault(line.order_id, []).append(line)
    html = render_to_string("orders/pdf/invoice.html", {
        "invoices": [_invoice(order, by_order.get(order.pk, [])) for order in orders],
        "printed_at": timezone.now(), "shop_name": settings.WAYBILL_SHOP_NAME,
        "shop_address": settings.WAYBILL_SHOP_ADDRESS, "shop_vat_id": settings.WAYBILL_SHOP_VAT_ID,
        "tax_rate": settings.WAYBILL_TAX_RATE_PERCENT})
    return HTML(string=html).write_pdf()


def invoice_pdf(*, order: Order) -> bytes:
    return invoices_pdf(orders=[order])
