"""The order timeline as an extension point: registered kinds, structured data, one writer for every app."""

from decimal import Decimal

import pytest

from config.errors import InvalidInput
from orders.models import OrderEvent
from orders.services import order_event_record
from orders.signals import order_event_recorded
from orders.timeline import event_kind_label, register_event_kind
from tests.factories import place_order


@pytest.fixture
def kind():
    return register_event_kind("test_refund_issued", label="Refund issued", customer_title="We refunded you",
                               app="tests").name


def test_a_registered_kind_is_written_with_its_facts_and_heard_by_receivers(db, customer, kind):
    # given an order and a receiver of the timeline signal
    order = place_order(customer=customer)
    heard = []

    def receiver(sender, *, order, event, **kwargs):
        heard.append((event.kind, event.data))

    order_event_recorded.connect(receiver, dispatch_uid="test-timeline")
    try:
        # when another app records an entry of its own kind, with structured facts
        event = order_event_record(order=order, kind=kind, text="Refund of 12.50 EUR issued.",
                                   data={"refund_number": "RF-1", "amount": Decimal("12.50")}, actor=None)
    finally:
        order_event_recorded.disconnect(dispatch_uid="test-timeline")

    # then it is on the timeline with its data as JSON, and receivers heard of it in the same transaction
    stored = OrderEvent.objects.get(pk=event.pk)
    assert (stored.kind, stored.text, stored.data) == (kind, "Refund of 12.50 EUR issued.",
                                                        {"refund_number": "RF-1", "amount": "12.50"})
    assert (stored.kind_label, stored.customer_title) == ("Refund issued", "We refunded you")
    assert heard == [(kind, {"refund_number": "RF-1", "amount": Decimal("12.50")})]


@pytest.mark.parametrize("bad, field", [
    ({"kind": "no_such_kind"}, "kind"),
    ({"kind": "status"}, "kind"),
    ({"kind": "payment"}, "kind"),
    ({"data": ["not", "an", "object"]}, "data"),
    ({"data": {"when": object()}}, "data"),
    ({"data": {"blob": "x" * 20_000}}, "data"),
    ({"text": "y" * 4001}, "text"),
])
def test_bad_entries_are_refused_and_nothing_is_written(db, customer, kind, bad, field):
    # given an order with its placement entry
    order = place_order(customer=customer)
    before = OrderEvent.objects.filter(order=order).count()
    # when an entry with a bad kind, data or text is recorded
    with pytest.raises(InvalidInput) as refused:
        order_event_record(order=order, **{"kind": kind, "text": "x", **bad})
    # then it is refused with a 400 naming the problem, and the timeline is as it was
    assert refused.value.http_status == 400
    assert field in str(refused.value.extra)
    assert OrderEvent.objects.filter(order=order).count() == before


def test_kind_names_are_checked_when_registered():
    with pytest.raises(ValueError):
        register_event_kind("Not A Kind!", label="x")
    assert event_kind_label("never_registered_kind") == "Never registered kind"


def test_customers_see_other_apps_entries_by_their_customer_title_and_never_internal_ones(
        db, client, customer, kind):
    # given an order with a customer-visible entry and an internal one of another app's kind
    order = place_order(customer=customer)
    order_event_record(order=order, kind=kind, text="Refund of 12.50 EUR issued.", data={"amount": "12.50"})
    order_event_record(order=order, kind=kind, text="Approved by the shift lead after a call.", internal=True)
    # when the customer opens the order in the portal and in the API
    client.force_login(customer)
    page = client.get(f"/orders/{order.number}/").content.decode()
    timeline = client.get(f"/api/orders/{order.number}/").json()["timeline"]
    # then the visible entry reads with its title, and the internal note is nowhere
    assert "We refunded you" in page and "Refund of 12.50 EUR issued." in page
    assert "shift lead" not in page
    assert [(e["kind"], e["text"], e["data"]) for e in timeline if e["kind"] == kind] == [
        (kind, "Refund of 12.50 EUR issued.", {"amount": "12.50"})]
