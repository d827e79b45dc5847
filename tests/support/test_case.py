"""The one case: from a customer's email to a replacement delivered, the ticket drives the after-sales services and
the case's events drive the ticket. Delivery exceptions open tickets by themselves."""

import pytest
from django.utils import timezone

from notifications.models import OutboxMessage
from orders.models import Order
from orders.services import order_transition
from shipping.services import shipment_create_all, shipment_transition
from support.errors import TicketTransitionNotAllowed
from support.models import Ticket
from support.services import inbound_email_receive, ticket_reply, ticket_start_return, ticket_transition
from tests.returns.conftest import IMEI_SOLD, IMEI_SPARE, carrier_event
from tests.returns.test_apis import webhook

from .test_inbound import email

pytestmark = pytest.mark.django_db


def test_the_defective_phone_from_email_to_replacement(customer, delivered, agents, staff_user,
                                                       django_capture_on_commit_callbacks, mailoutbox):
    ann, _ = agents
    # the customer writes to support about the order
    with django_capture_on_commit_callbacks(execute=True):
        log = inbound_email_receive(raw=email(sender=customer.email, subject=f"{delivered.number}: phone is dead",
                                              body=f"My phone (IMEI {IMEI_SOLD}) died after a day."))
    ticket = log.ticket
    assert (ticket.order, ticket.channel) == (delivered, "email")
    # the agent answers, links the phone's line and serial, and sends a replacement at once
    Ticket.objects.filter(pk=ticket.pk).update(order_line=delivered.lines.get(sku="PH-1"), serial=IMEI_SOLD,
                                               category="defect")
    with django_capture_on_commit_callbacks(execute=True):
        ticket_reply(ticket=ticket, author=ann, body="Sorry! A new phone leaves today.", then="open")
        rr = ticket_start_return(ticket=ticket.number, actor=ann, resolution="replacement",
                                 handling="advance_replacement")
    ticket.refresh_from_db()
    assert (ticket.return_request, rr.lines.get().unit.serial) == (rr, IMEI_SOLD)
    # the ticket cannot be solved before the customer has the phone
    with pytest.raises(TicketTransitionNotAllowed) as err:
        ticket_transition(ticket=ticket.number, name="solve", actor=ann)
    assert "has not been delivered yet" in err.value.message
    # the warehouse ships the replacement; the carrier delivers it
    replacement = rr.replacement_order
    for name in ("confirm", "start_processing", "pack"):
        order_transition(order=replacement.number, name=name, actor=staff_user)
    (parcel,) = shipment_create_all(order=replacement.number, carrier="local", actor=staff_user)
    shipment_transition(shipment=parcel.pk, name="pick", actor=staff_user)
    shipment_transition(shipment=parcel.pk, name="pack", actor=staff_user,
                        serials={replacement.lines.get().pk: [IMEI_SPARE]})
    parcel = shipment_transition(shipment=parcel.pk, name="create_label", actor=staff_user)
    with django_capture_on_commit_callbacks(execute=True):
        webhook(parcel, "PICKED_UP")  # the carrier's signed HTTP webhook
        webhook(parcel, "DELIVERED")
    # then the ticket followed the case and solved itself when the phone arrived, within its target
    ticket.refresh_from_db()
    assert ticket.status == "solved" and Order.objects.get(pk=replacement.pk).status == "delivered"
    case = list(ticket.events.filter(kind="case").values_list("text", flat=True))
    assert any("replacement is on its way" in t.lower() for t in case)
    assert any("delivered" in t.lower() for t in case)
    assert ticket.events.filter(kind="sla", data__met=True).exists()
    # and every customer email went once: acknowledgement, reply, approval, replacement shipped, delivered
    sent = [m.subject for m in mailoutbox if m.to == [customer.email]]
    assert len(sent) == len(set(sent)) == 5, sent
    assert OutboxMessage.objects.filter(event="ticket.reply").count() == 1
    # and the order's timeline shows the conversation, not its notes
    assert delivered.events.filter(kind="ticket", internal=False).count() == 1
    # and a few days later the solved ticket closes by itself
    from datetime import timedelta

    from support.services import ticket_close_solved

    assert ticket_close_solved(now=timezone.now() + timedelta(days=30)) == 1
    assert Ticket.objects.get(pk=ticket.pk).status == "closed"


def test_a_delivery_exception_opens_one_ticket_per_parcel(customer, phone, agents, north):
    from tests.factories import place_order
    from tests.shipping.conftest import pack

    order = pack(place_order(customer=customer, lines=[(phone, 1)]))
    (parcel,) = shipment_create_all(order=order.number, carrier="local")
    for name in ("pick",):
        shipment_transition(shipment=parcel.pk, name=name)
    shipment_transition(shipment=parcel.pk, name="pack", serials={order.lines.get().pk: [IMEI_SOLD]})
    shipment_transition(shipment=parcel.pk, name="create_label")
    parcel.refresh_from_db()
    carrier_event(parcel, "PICKED_UP")
    carrier_event(parcel, "DAMAGED")
    (ticket,) = Ticket.objects.all()
    assert (ticket.channel, ticket.category, ticket.priority, ticket.shipment) == ("system", "delivery", "high",
                                                                                   parcel)
    assert "damaged" in ticket.messages.get().body.lower()
    # a second exception on the same parcel adds to the open ticket
    carrier_event(parcel, "AT_DEPOT", at=timezone.now())
    carrier_event(parcel, "NOT_HOME", at=timezone.now())
    assert Ticket.objects.count() == 1
    assert ticket.events.filter(kind="case", text__contains="reported failed delivery attempt").count() == 1
    # and the parcel's scans are on the ticket as they happen
    assert ticket.events.filter(kind="case", data__kind="parcel_update").exists()
