"""The order's invoice as a PDF (weasyprint): lines, shipping, total, refunds, the addresses."""

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from .models import Order


def invoice_pdf(*, order: Order) -> bytes:
    from weasyprint import HTML  # loads Pango: only when a document is printed

    html = render_to_string("orders/pdf/invoice.html", {
        "order": order, "lines": list(order.lines.order_by("pk")), "printed_at": timezone.now(),
        "shop_name": settings.WAYBILL_SHOP_NAME})
    return HTML(string=html).write_pdf()
