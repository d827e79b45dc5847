"""Invoices: numbered without gaps on first issue, the tax the prices include, one per order or many at once."""

import io
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from pypdf import PdfReader

from orders.models import Invoice
from orders.services import invoice_tax, order_issue_invoice, order_transition
from tests.factories import ProductFactory, place_order


def pdf_text(content: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]


def test_an_invoice_is_numbered_once_and_the_next_follows(customer):
    first, second = (place_order(customer=customer) for _ in range(2))
    year = timezone.localdate().year
    a = order_issue_invoice(order=first)
    assert order_issue_invoice(order=first) == a
    b = order_issue_invoice(order=second)
    assert (a.number, b.number) == (f"INV-{year}-000001", f"INV-{year}-000002")


def test_the_tax_included_in_a_price(settings):
    settings.WAYBILL_TAX_RATE_PERCENT = Decimal("19")
    assert invoice_tax(amount=Decimal("119.00")) == (Decimal("100.00"), Decimal("19.00"))
    settings.WAYBILL_TAX_RATE_PERCENT = Decimal("0")
    assert invoice_tax(amount=Decimal("119.00")) == (Decimal("119.00"), Decimal("0.00"))


def test_the_invoice_shows_its_number_seller_and_tax(admin_client, customer, settings):
    settings.WAYBILL_SHOP_VAT_ID = "DE123456789"
    order = place_order(customer=customer, lines=[(ProductFactory(price=Decimal("119.00"), stock=2), 1)])
    response = admin_client.get(f"/admin/orders/order/{order.pk}/invoice/")
    (page,) = pdf_text(response.content)
    invoice = Invoice.objects.get(order=order)
    assert invoice.number in page and "DE123456789" in page and "19.00" in page and "net 100.00" in page


def test_staff_print_many_invoices_at_once_one_page_each(admin_client, customer, manager_user):
    orders = [place_order(customer=customer) for _ in range(3)]
    cancelled = place_order(customer=customer)
    order_transition(order=cancelled.number, name="cancel", actor=manager_user, reason="test")
    response = admin_client.post("/admin/orders/order/", {
        "action": "print_invoices", "_selected_action": [o.pk for o in [*orders, cancelled]]})
    pages = pdf_text(response.content)
    assert len(pages) == 3  # the cancelled unpaid order has no invoice
    assert [o.number in p for o, p in zip(orders, pages, strict=True)] == [True, True, True]
    assert not Invoice.objects.filter(order=cancelled).exists()


@pytest.mark.django_db(transaction=True)
def test_invoices_issued_at_once_get_distinct_numbers_without_gaps(postgres):
    from tests.factories import CustomerFactory

    orders = [place_order(customer=CustomerFactory()) for _ in range(6)]
    barrier = threading.Barrier(6)

    def issue(order):
        try:
            barrier.wait(timeout=10)
            order_issue_invoice(order=order.number)
        finally:
            connection.close()

    threads = [threading.Thread(target=issue, args=(o,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert [int(n.rsplit("-", 1)[1]) for n in numbers] == [1, 2, 3, 4, 5, 6]


def test_many_invoices_are_printed_in_the_background_with_their_progress(admin_client, customer, monkeypatch,
                                                                        django_capture_on_commit_callbacks):
    from django.urls import reverse

    from orders.admin import OrderAdmin
    from orders.models import ExportJob

    monkeypatch.setattr(OrderAdmin, "INVOICES_AT_ONCE", 2)
    orders = [place_order(customer=customer) for _ in range(4)]
    with django_capture_on_commit_callbacks(execute=True):  # the worker (eager here) runs after commit
        response = admin_client.post("/admin/orders/order/", {
            "action": "print_invoices", "_selected_action": [o.pk for o in orders]})
    job = ExportJob.objects.get(kind="invoices")
    assert response["Location"] == reverse("admin:orders_exportjob_change", args=[job.pk])
    job.refresh_from_db()
    assert (job.status, job.done_rows, job.total) == ("done", 4, 4)
    download = admin_client.get(reverse("admin:orders_exportjob_download", args=[job.pk]))
    assert download["Content-Type"] == "application/pdf"
    pages = pdf_text(b"".join(download.streaming_content))
    assert len(pages) == 4 and all(o.number in page for o, page in zip(orders, pages, strict=True))
