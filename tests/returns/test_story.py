"""The story Waybill exists for, through the services: a customer's phone is defective, a replacement leaves at
once, the faulty unit comes back, is inspected and scrapped; every step on both timelines and notified once."""

from decimal import Decimal

import pytest

from inventory.models import StockLevel, StockMovement, Unit
from inventory.selectors import unit_history
from notifications.models import OutboxMessage
from orders.models import Order
from orders.services import order_transition
from returns.models import ReturnEvent, ReturnRequest
from returns.services import (
    Inspection,
    return_approve,
    return_close,
    return_create,
    return_inspect,
    return_receive,
    return_resolve,
)
from shipping.models import Shipment

from .conftest import IMEI_SOLD, IMEI_SPARE, carrier_event, deliver, line

pytestmark = pytest.mark.django_db


def test_defective_phone_is_replaced_in_advance_and_the_faulty_unit_scrapped(
        delivered, customer, agent_user, staff_user, django_capture_on_commit_callbacks, mailoutbox):
    order = delivered
    # when the customer claims a defect naming the phone's IMEI
    rr = return_create(order=order, channel="portal", resolution="replacement", actor=customer,
                       customer_note="The screen flickers.",
                       lines=[{"line": line(order, "PH-1").pk, "quantity": 1, "reason": "defective",
                               "serial": "35 693803 564380 9", "description": "Flickers after 5 minutes."}])
    # then the claim names the exact unit and counts it as claimed on the order line
    (claim_line,) = rr.lines.all()
    assert (rr.status, claim_line.unit.serial, claim_line.unit.status) == ("requested", IMEI_SOLD, "with_customer")
    assert line(order, "PH-1").returned_quantity == 1

    # when support approves an advance replacement
    with django_capture_on_commit_callbacks(execute=True):
        rr = return_approve(return_request=rr.number, actor=agent_user, handling="advance_replacement")
    # then a return label is issued, the faulty unit is due back, and a zero-price replacement order is reserved
    rr.refresh_from_db()
    assert rr.status == ReturnRequest.Status.AWAITING_ITEM and rr.item_due_by is not None
    label = rr.label_shipment
    assert (label.direction, label.status, bool(label.tracking_number)) == ("return", "label_created", True)
    replacement = rr.replacement_order
    assert (replacement.replaces, replacement.total, replacement.payment_status) == (order, Decimal("0.00"), "paid")
    assert list(replacement.lines.values_list("sku", "quantity", "unit_price")) == [("PH-1", 1, Decimal("0.00"))]
    assert StockLevel.objects.get(product__sku="PH-1").allocated == 1
    approved_mail = [m for m in mailoutbox if "approved" in m.subject]
    assert len(approved_mail) == 1 and label.tracking_number in approved_mail[0].body
    assert f"/returns/{rr.number}/label/" in approved_mail[0].body

    # when the warehouse sends the replacement with a new phone, scanned by its IMEI
    for name in ("confirm", "start_processing", "pack"):
        order_transition(order=replacement.number, name=name, actor=staff_user)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(replacement, {"PH-1": [IMEI_SPARE]})
    # then the replacement unit is recorded beside the defective one
    claim_line.refresh_from_db()
    assert (claim_line.unit.serial, claim_line.replacement_unit.serial) == (IMEI_SOLD, IMEI_SPARE)
    replacement.refresh_from_db()
    assert replacement.status == Order.Status.DELIVERED

    # when the faulty phone comes back with the label, is received, inspected and scrapped
    carrier_event(label, "PICKED_UP")
    carrier_event(label, "DELIVERED")
    with django_capture_on_commit_callbacks(execute=True):
        return_receive(return_request=rr.number, actor=staff_user)
    assert Unit.objects.get(serial=IMEI_SOLD).status == "awaiting_inspection"
    return_inspect(return_request=rr.number, actor=staff_user,
                   inspections=[Inspection(line=claim_line.pk, disposition="scrap", note="Display connector burnt")])
    rr = return_resolve(return_request=rr.number, actor=agent_user)
    rr = return_close(return_request=rr.number, actor=agent_user)
    assert rr.status == ReturnRequest.Status.CLOSED

    # then the ledger: the replacement left through its own order, the faulty unit came in and was written off,
    # both movements naming the return
    movements = list(StockMovement.objects.filter(product__sku="PH-1").order_by("created_at", "id")
                     .values_list("kind", "quantity", "reference_label"))
    assert movements[-2:] == [("return_to_stock", 1, rr.reference_label), ("write_off", 1, rr.reference_label)]
    assert ("shipment", 1, f"order {replacement.number}") in movements
    level = StockLevel.objects.get(product__sku="PH-1")
    assert (level.on_hand, level.allocated) == (3, 0)  # 5 received, 2 shipped, the faulty one scrapped

    # and each unit's history tells the story from its serial, in one query
    assert [e.kind for e in unit_history(serial=IMEI_SOLD)] == [
        "received", "packed", "shipped", "return_received", "inspected", "scrapped"]
    spare = list(unit_history(serial=IMEI_SPARE))
    assert [e.kind for e in spare] == ["received", "packed", "shipped"]
    assert spare[-1].replacement and spare[-1].order_number == replacement.number

    # and the return's timeline and the order's timeline both carry it
    kinds = list(ReturnEvent.objects.filter(return_request=rr).values_list("kind", "to_status"))
    assert [s for k, s in kinds if k == "status"] == [
        "requested", "approved", "awaiting_item", "received", "inspected", "resolved", "closed"]
    assert {"label", "replacement", "parcel", "inspection"} <= {k for k, _ in kinds}
    story = [e.text for e in order.events.filter(kind="return", internal=False)]
    assert any("requested" in t for t in story) and any("approved" in t for t in story)
    assert any("replacement is on its way" in t for t in story) and any("received your return" in t for t in story)

    # and every customer-visible step was notified exactly once, the replacement's "shipped" email replaced by
    # the return's own, and no "thank you for your order" for a replacement the customer did not place
    events = list(OutboxMessage.objects.values_list("event", "suppressed_for_customer"))
    for name in ("return.requested", "return.approved", "return.replacement_shipped", "return.received"):
        assert events.count((name, False)) == 1, name
    assert ("shipment.shipped", True) in events  # the replacement parcel's plain email, suppressed
    assert not OutboxMessage.objects.filter(event="order.placed", subject_id=str(replacement.pk)).exists()
    shipped_mail = [m for m in mailoutbox if "replacement" in m.subject.lower() and "on its way" in m.subject]
    assert len(shipped_mail) == 1 and IMEI_SPARE in shipped_mail[0].body
    assert [m.to for m in mailoutbox if m.to != [order.email]] == []
    assert Shipment.objects.get(pk=label.pk).status == "delivered"
