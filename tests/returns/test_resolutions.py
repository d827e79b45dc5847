"""Refunds, exchanges, keep-it claims and refusals: each path's money, stock and messages (the staff alerts about
returns that wait are time-in-state rules: tests/analytics)."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.errors import DomainError
from inventory.models import StockLevel, StockMovement
from notifications.models import OutboxMessage
from orders.errors import RefundNotAllowed
from orders.models import Order
from returns.errors import ReturnTransitionForbidden, ReturnTransitionNotAllowed
from returns.models import Refund
from returns.services import (
    Inspection,
    refund_issue,
    return_approve,
    return_create,
    return_inspect,
    return_receive,
    return_reject,
    return_resolve,
)
from tests.factories import ProductFactory, place_order
from tests.shipping.conftest import pack

from .conftest import carrier_event, deliver, line, together

pytestmark = pytest.mark.django_db


def case_return(order, qty=2, reason="no_longer_wanted", resolution="refund", **kwargs):
    return return_create(order=order, resolution=resolution, actor=order.customer,
                         lines=[{"line": line(order, "CASE-1").pk, "quantity": qty, "reason": reason}], **kwargs)


def test_refund_only_return_restocks_and_refunds_the_items(delivered, agent_user, staff_user,
                                                          django_capture_on_commit_callbacks, mailoutbox):
    rr = case_return(delivered)
    return_approve(return_request=rr.number, actor=agent_user)
    rr.refresh_from_db()
    carrier_event(rr.label_shipment, "PICKED_UP")
    return_receive(return_request=rr.number, actor=staff_user)
    return_inspect(return_request=rr.number, actor=staff_user,
                   inspections=[{"line": rr.lines.get().pk, "disposition": "restock"}])
    with django_capture_on_commit_callbacks(execute=True):
        return_resolve(return_request=rr.number, actor=agent_user)
    # then both cases are sellable again through one movement that names the return
    (movement,) = StockMovement.objects.filter(kind="return_to_stock")
    assert (movement.quantity, movement.reference_label) == (2, rr.reference_label)
    level = StockLevel.objects.get(product__sku="CASE-1")
    assert (level.on_hand, level.allocated) == (10, 0)
    # and the items' price went back: the order is partially refunded, the customer told once
    (refund,) = Refund.objects.all()
    assert (refund.amount, refund.return_request, refund.issued_by) == (Decimal("39.80"), rr, agent_user)
    delivered.refresh_from_db()
    assert (delivered.refunded_total, delivered.payment_status) == (Decimal("39.80"), "partially_refunded")
    (mail,) = [m for m in mailoutbox if "Refund" in m.subject]
    assert "39.80 EUR" in mail.subject and "39.80" in mail.body
    payment = delivered.events.filter(kind="payment").last()
    assert (payment.to_status, payment.data["refund_amount"]) == ("partially_refunded", "39.80")


def test_keep_it_claim_for_a_missing_item_is_refunded_without_a_label(delivered, agent_user):
    rr = case_return(delivered, qty=1, reason="missing_item")
    return_approve(return_request=rr.number, actor=agent_user, handling="keep_it")
    rr.refresh_from_db()
    assert (rr.status, rr.label_shipment) == ("approved", None)
    return_resolve(return_request=rr.number, actor=agent_user, refund_shipping="4.90")
    rr.refresh_from_db()
    assert rr.status == "resolved"
    assert Refund.objects.get().amount == Decimal("24.80")
    assert not StockMovement.objects.filter(kind="return_to_stock").exists()


def test_keep_it_is_not_for_a_change_of_mind(delivered, agent_user):
    rr = case_return(delivered)
    with pytest.raises(DomainError):
        return_approve(return_request=rr.number, actor=agent_user, handling="keep_it")
    rr.refresh_from_db()
    assert rr.status == "requested"


def test_cheaper_exchange_refunds_the_difference(delivered, agent_user, north):
    ProductFactory(sku="CASE-2", name="Slim case", price="9.90", stock={"NORTH": 5})
    rr = case_return(delivered, qty=1, reason="not_as_described", resolution="exchange", exchange_sku="CASE-2")
    return_approve(return_request=rr.number, actor=agent_user, handling="keep_it")
    return_resolve(return_request=rr.number, actor=agent_user)
    rr.refresh_from_db()
    exchange = rr.replacement_order
    assert list(exchange.lines.values_list("sku", "quantity", "unit_price")) == [("CASE-2", 1, Decimal("0.00"))]
    assert (exchange.payment_status, Refund.objects.get().amount) == ("paid", Decimal("10.00"))


def test_dearer_exchange_leaves_the_difference_to_pay(delivered, agent_user, staff_user, north):
    ProductFactory(sku="CASE-3", name="Leather case", price="49.90", stock={"NORTH": 5})
    rr = case_return(delivered, qty=1, reason="no_longer_wanted", resolution="exchange", exchange_sku="CASE-3")
    return_approve(return_request=rr.number, actor=agent_user)
    rr.refresh_from_db()
    return_receive(return_request=rr.number, actor=staff_user)
    return_inspect(return_request=rr.number, actor=staff_user,
                   inspections=[Inspection(line=rr.lines.get().pk, disposition="restock")])
    return_resolve(return_request=rr.number, actor=agent_user)
    rr.refresh_from_db()
    assert (rr.replacement_order.total, rr.replacement_order.payment_status) == (Decimal("30.00"), "unpaid")
    assert not Refund.objects.exists()
    assert OutboxMessage.objects.get(event="return.resolved").payload["amount_due"] == "30.00"


def test_an_exchange_can_oversell_nothing(delivered, agent_user, north):
    from inventory.errors import OutOfStock

    ProductFactory(sku="CASE-4", price="19.90")  # none in stock
    rr = case_return(delivered, qty=1, reason="wrong_item", resolution="exchange", exchange_sku="CASE-4")
    return_approve(return_request=rr.number, actor=agent_user, handling="keep_it")
    with pytest.raises(OutOfStock):
        return_resolve(return_request=rr.number, actor=agent_user)
    rr.refresh_from_db()
    assert (rr.status, rr.replacement_order) == ("approved", None)
    assert not Order.objects.filter(replaces=delivered).exists()


def test_rejection_tells_the_customer_why(delivered, agent_user, django_capture_on_commit_callbacks, mailoutbox):
    rr = case_return(delivered)
    with django_capture_on_commit_callbacks(execute=True):
        return_reject(return_request=rr.number, actor=agent_user, reason="The cases were used and engraved.")
    (mail,) = [m for m in mailoutbox if m.to == [delivered.email] and "return" in m.subject.lower()
               and "received your return request" not in m.subject.lower()]
    assert "The cases were used and engraved." in mail.body
    with pytest.raises(DomainError):
        return_reject(return_request=rr.number, actor=agent_user, reason="")


def test_steps_out_of_order_are_refused_with_what_is_allowed(delivered, agent_user, staff_user):
    rr = case_return(delivered)
    with pytest.raises(ReturnTransitionNotAllowed) as err:
        return_receive(return_request=rr.number, actor=staff_user)
    assert err.value.extra["status"] == "requested"
    with pytest.raises(ReturnTransitionNotAllowed):
        return_resolve(return_request=rr.number, actor=agent_user)


def test_roles_have_least_privilege(delivered, agent_user, staff_user):
    rr = case_return(delivered)
    with pytest.raises(ReturnTransitionForbidden):  # the warehouse does not decide on claims
        return_approve(return_request=rr.number, actor=staff_user)
    return_approve(return_request=rr.number, actor=agent_user)
    with pytest.raises(ReturnTransitionForbidden):  # support does not unpack parcels
        return_receive(return_request=rr.number, actor=agent_user)
    with pytest.raises(ReturnTransitionForbidden):  # and the warehouse gives no money back
        refund_issue(order=delivered, items_amount="1.00", reason="goodwill", actor=staff_user)
    assert not Refund.objects.exists()


def test_refund_for_an_order_returned_to_sender(customer, case, agent_user):
    from orders.services import order_set_payment_status
    from shipping.services import shipment_create_all, shipment_transition

    order = pack(place_order(customer=customer, lines=[(case, 1)], shipping_total="4.90"))
    order_set_payment_status(order=order.number, payment_status="paid")
    (shipment,) = shipment_create_all(order=order.number, carrier="local")
    for name in ("pick", "pack", "create_label", "hand_over", "return_to_sender"):
        shipment_transition(shipment=shipment.pk, name=name)
    refund, created = refund_issue(order=order.number, items_amount="19.90", shipping_amount="4.90", actor=agent_user,
                                   reason="Parcel came back: refunded instead of sent again.")
    order.refresh_from_db()
    assert created and (order.status, order.payment_status, order.refunded_total) == (
        "returned", "refunded", Decimal("24.80"))
    with pytest.raises(RefundNotAllowed) as err:
        refund_issue(order=order.number, items_amount="0.01", reason="more", actor=agent_user)
    assert err.value.extra["refundable"] == "0.00"


def test_an_unpaid_order_has_nothing_to_refund(customer, case, agent_user):
    order = place_order(customer=customer, lines=[(case, 1)])
    with pytest.raises(RefundNotAllowed):
        refund_issue(order=order.number, items_amount="1.00", reason="x", actor=agent_user)
    assert not Refund.objects.exists()


@pytest.mark.parametrize("amount", ["-1", "0", "abc", "1e400", "NaN", "Infinity"])
def test_bad_amounts_are_a_400(delivered, agent_user, amount):
    with pytest.raises(DomainError) as err:
        refund_issue(order=delivered.number, items_amount=amount, reason="x", actor=agent_user)
    assert err.value.http_status == 400
    assert not Refund.objects.exists()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amounts=st.lists(st.decimals(min_value="0.01", max_value="600", places=2), min_size=1, max_size=6))
def test_total_refunded_never_exceeds_what_was_paid(delivered, agent_user, amounts):
    from django.db import transaction

    with transaction.atomic():
        sid = transaction.savepoint()
        paid = Order.objects.get(pk=delivered.pk).total
        accepted = Decimal("0")
        for amount in amounts:
            try:
                refund_issue(order=delivered.number, items_amount=amount, reason="goodwill", actor=agent_user)
                accepted += amount
            except RefundNotAllowed:
                assert accepted + amount > paid
        order = Order.objects.get(pk=delivered.pk)
        assert order.refunded_total == accepted <= paid
        assert sum(Refund.objects.filter(order=order).values_list("amount", flat=True)) == accepted
        expected = "refunded" if accepted == paid else "partially_refunded" if accepted else "paid"
        assert order.payment_status == expected
        transaction.savepoint_rollback(sid)


def test_the_database_refuses_refunds_beyond_the_total(delivered):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=delivered.pk).update(refunded_total=delivered.total + 1)


@pytest.mark.django_db(transaction=True)
def test_double_refund_with_the_same_key_makes_one_refund(postgres, customer, north, agent_user):
    from orders.services import order_set_payment_status

    case = ProductFactory(sku="CASE-1", price="19.90", stock={"NORTH": 5})
    order = place_order(customer=customer, lines=[(case, 1)])
    order_set_payment_status(order=order.number, payment_status="paid")
    results = together(lambda: refund_issue(order=order.number, items_amount="10.00", reason="goodwill",
                                            actor=agent_user, idempotency_key="refund-1", fingerprint="f"))
    assert sorted(created for _, created in results) == [False, True]
    assert results[0][0].pk == results[1][0].pk
    order.refresh_from_db()
    assert (Refund.objects.count(), order.refunded_total) == (1, Decimal("10.00"))


def test_a_second_delivery_in_another_parcel_is_returnable_separately(customer, case):
    order = pack(place_order(customer=customer, lines=[(case, 2)]))
    deliver(order)
    case_return(order, qty=2)
    assert line(order, "CASE-1").returned_quantity == 2
