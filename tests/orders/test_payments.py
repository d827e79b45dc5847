"""Payments kept apart from the total: recorded one by one (a provider's reference counts once), the payment status
following the money, and a paid order that changes leaving a balance to pay or money to refund."""

import threading
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from orders.errors import InvalidOrder, PaymentReferenceReused, RefundNotAllowed
from orders.models import Order, Payment
from orders.services import (
    order_edit_lines,
    order_record_payment,
    order_set_payment_status,
)
from tests.factories import ProductFactory, StaffFactory, place_order


@pytest.fixture
def order(customer):
    mug = ProductFactory(sku="MUG", price=Decimal("10.00"), stock=10)
    ProductFactory(sku="CASE", price=Decimal("5.00"), stock=3)
    return place_order(customer=customer, lines=[(mug, 2)])


@pytest.fixture
def cashier(db):
    """Support staff: they record payments and refund (the migration gives the group both)."""
    return StaffFactory(group="Support agents")


def test_payments_add_up_and_a_providers_reference_counts_once(order, cashier):
    total = order.total
    first = order_record_payment(order=order.number, amount=Decimal("10.00"), reference="cap_1", actor=cashier)
    order.refresh_from_db()
    assert (order.payment_status, order.amount_paid, order.balance_due) == ("partially_paid", Decimal("10.00"),
                                                                            total - 10)
    # the provider reports the same capture again: nothing counts twice, nothing new on the timeline
    events = order.events.count()
    again = order_record_payment(order=order.number, amount=Decimal("10.00"), reference="cap_1")
    assert again.pk == first.pk
    with pytest.raises(PaymentReferenceReused, match="recorded already, as 10.00"):
        order_record_payment(order=order.number, amount=Decimal("12.00"), reference="cap_1")
    order.refresh_from_db()
    assert (order.amount_paid, order.events.count()) == (Decimal("10.00"), events)
    # the rest arrives by bank transfer
    order_record_payment(order=order.number, amount=total - 10, method="bank_transfer", reference="TRX-9")
    order.refresh_from_db()
    assert (order.payment_status, order.amount_paid, order.balance_due) == ("paid", total, 0)
    entries = list(order.events.filter(kind="payment").values_list("from_status", "to_status", "data"))
    assert [(f, t) for f, t, _ in entries] == [("unpaid", "partially_paid"), ("partially_paid", "paid")]
    assert entries[1][2]["method"] == "bank_transfer" and entries[1][2]["reference"] == "TRX-9"
    assert entries[0][2]["balance_due"] == str(total - 10)
    assert Payment.objects.filter(order=order).count() == 2


@pytest.mark.parametrize("amount, field", [(Decimal("0"), "amount"), (Decimal("-5"), "amount"),
                                           (Decimal("1.234"), "amount"), ("lots", "amount")])
def test_a_payment_must_be_an_amount_of_money(order, amount, field):
    with pytest.raises(InvalidOrder) as refused:
        order_record_payment(order=order.number, amount=amount)
    assert field in refused.value.extra["fields"]
    with pytest.raises(InvalidOrder) as refused:
        order_record_payment(order=order.number, amount=Decimal("1.00"), method="bitcoin", reference="a\x00b")
    assert set(refused.value.extra["fields"]) == {"method", "reference"}
    order.refresh_from_db()
    assert (order.amount_paid, order.payment_status, Payment.objects.count()) == (0, "unpaid", 0)


def test_only_paid_and_refunded_can_be_set_by_name(order):
    with pytest.raises(InvalidOrder, match="follows from the payments"):
        order_set_payment_status(order=order.number, payment_status="partially_paid")
    paid = order_set_payment_status(order=order.number, payment_status="paid")
    assert (paid.payment_status, paid.amount_paid) == ("paid", order.total)
    assert Payment.objects.get(order=order).amount == order.total


def test_items_added_to_a_paid_order_leave_a_balance_to_pay(order, staff_user, django_capture_on_commit_callbacks):
    order_set_payment_status(order=order.number, payment_status="paid")
    paid = Order.objects.get(pk=order.pk).amount_paid
    # when the customer calls to add two cases
    with django_capture_on_commit_callbacks(execute=True):
        order_edit_lines(order=order.number, changes=[{"sku": "CASE", "quantity": 2}], actor=staff_user)
    order.refresh_from_db()
    # then the order is partially paid, with the difference due, and the customer is told how much
    assert order.total - paid == Decimal("10.00")
    assert (order.payment_status, order.balance_due, order.refund_due) == ("partially_paid", Decimal("10.00"), 0)
    told = [m for m in mail.outbox if order.email in m.to and "changed" in m.body]
    assert len(told) == 1 and "10.00 EUR is left to pay" in told[0].body
    assert order.events.filter(kind="payment", from_status="paid", to_status="partially_paid").count() == 1
    # and the rest arriving makes it paid again
    order_record_payment(order=order.number, amount=Decimal("10.00"), reference="cap_2")
    order.refresh_from_db()
    assert (order.payment_status, order.balance_due) == ("paid", 0)


def test_items_removed_from_a_paid_order_are_owed_back_and_refunded_once(order, cashier):
    from returns.services import refund_issue

    order_set_payment_status(order=order.number, payment_status="paid")
    order_edit_lines(order=order.number, changes=[{"sku": "MUG", "quantity": 1}])
    order.refresh_from_db()
    # the customer paid for two mugs and gets one: 10.00 owed back, the order still counts as paid
    assert (order.payment_status, order.refund_due) == ("paid", Decimal("10.00"))
    refund, created = refund_issue(order=order.number, items_amount=order.refund_due, reason="Item removed",
                                   actor=cashier)
    order.refresh_from_db()
    assert created and refund.amount == Decimal("10.00")
    assert (order.payment_status, order.refund_due, order.balance_due) == ("partially_refunded", 0, 0)
    # refunds are bounded by what was paid, whatever the total says
    with pytest.raises(RefundNotAllowed):
        refund_issue(order=order.number, items_amount=order.amount_paid, reason="Too much", actor=cashier)


def test_a_payment_for_a_cancelled_order_is_money_to_refund(order, client, cashier):
    from orders.services import order_transition

    order_transition(order=order.number, name="cancel", reason="Too slow", check_permission=False)
    order_record_payment(order=order.number, amount=order.total, reference="late")
    order.refresh_from_db()
    assert order.refund_due == order.total
    # the page says so, and offers the whole order's refund (nothing of it is "a difference")
    client.force_login(cashier)
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert "To refund" in page and ">Refund<" in page and "Refund the difference" not in page


def test_the_database_never_holds_more_refunded_than_paid(order):
    order_set_payment_status(order=order.number, payment_status="paid")
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(refunded_total=order.total + 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.create(order=order, amount=Decimal("-1.00"))


@pytest.mark.django_db(transaction=True)
def test_the_same_capture_reported_twice_at_once_counts_once(postgres, customer):
    mug = ProductFactory(sku="MUG", price=Decimal("10.00"), stock=10)
    order = place_order(customer=customer, lines=[(mug, 2)])
    barrier, outcomes = threading.Barrier(4), []

    def report():
        try:
            barrier.wait()
            outcomes.append(order_record_payment(order=order.number, amount=order.total, reference="cap_x").pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=report) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    order.refresh_from_db()
    assert len(outcomes) == 4 and len(set(outcomes)) == 1
    assert (order.amount_paid, order.payment_status, Payment.objects.filter(order=order).count()) == (
        order.total, "paid", 1)
    assert order.events.filter(kind="payment").count() == 1


def test_staff_record_the_rest_and_refund_the_difference_from_the_order_page(client, order, cashier):
    order_set_payment_status(order=order.number, payment_status="paid")
    order_edit_lines(order=order.number, changes=[{"sku": "CASE", "quantity": 2}])
    client.force_login(cashier)
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert "Left to pay" in page and "10.00 EUR is left to pay" in page
    assert "Record payment (10.00 EUR due)" in page
    form = client.get(reverse("admin:orders_order_payment", args=[order.pk]))
    assert form.status_code == 200 and 'value="10.00"' in form.content.decode()
    refused = client.post(reverse("admin:orders_order_payment", args=[order.pk]),
                          {"amount": "-3", "method": "card", "reference": ""})
    assert refused.status_code == 200 and "errorlist" in refused.content.decode()
    done = client.post(reverse("admin:orders_order_payment", args=[order.pk]),
                       {"amount": "10.00", "method": "bank_transfer", "reference": "TRX-1"})
    assert done.status_code == 302
    order.refresh_from_db()
    assert (order.payment_status, Payment.objects.get(reference="TRX-1").recorded_by) == ("paid", cashier)
    # then two cases come off again: 10.00 to refund, the refund page holds just the difference
    order_edit_lines(order=order.number, changes=[{"sku": "CASE", "quantity": 0}])
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert "To refund" in page and "Refund the difference" in page and "Record payment" not in page
    refund_page = client.get(reverse("admin:returns_returnrequest_refund_order", args=[order.number])).content
    assert b'value="10.00"' in refund_page and b"the difference refunded" in refund_page


def test_who_may_record_a_payment(client, order, staff_user):
    assert not Group.objects.get(name="Warehouse staff").permissions.filter(codename="record_payment").exists()
    client.force_login(staff_user)
    assert client.get(reverse("admin:orders_order_payment", args=[order.pk])).status_code == 403
    assert "Record payment" not in client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()


def test_the_api_records_payments_once_per_key_and_lists_them(api_client, order, cashier, client_customer):
    url = f"/api/orders/{order.number}/payments/"
    assert client_customer.post(url, {"amount": "1.00"}, format="json").status_code == 403
    api_client.force_authenticate(cashier)
    body = {"amount": "5.00", "method": "card", "reference": "pi_123"}
    first = api_client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201, first.content
    assert (first.data["payment_status"], first.data["amount_paid"], first.data["balance_due"]) == (
        "partially_paid", "5.00", str(order.total - 5))
    replay = api_client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert replay.status_code == 201 and replay.content == first.content
    clash = api_client.post(url, {**body, "amount": "6.00"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert clash.status_code == 409 and clash.json()["code"] == "payment_reference_reused"
    bad = api_client.post(url, {"amount": "0"}, format="json")
    assert bad.status_code == 400
    listed = api_client.get(url)
    assert [(p["amount"], p["reference"], p["recorded_by"]) for p in listed.data] == [
        ("5.00", "pi_123", cashier.username)]
    other = place_order(lines=[(ProductFactory(stock=2), 1)])
    api_client.force_authenticate(None)
    client_customer.force_authenticate(order.customer)
    assert client_customer.get(f"/api/orders/{other.number}/payments/").status_code == 404
