"""Tickets: opening with their links, the conversation, reopening and follow-ups, assignment, merging, closing."""

from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from config.errors import DomainError
from notifications.models import OutboxMessage
from support.errors import InvalidAttachment, InvalidTicket, TicketTransitionForbidden
from support.models import CannedReply, Message, Ticket
from support.services import (
    canned_reply_render,
    reply_address,
    ticket_assign,
    ticket_close_solved,
    ticket_customer_reply,
    ticket_merge,
    ticket_open,
    ticket_reply,
    ticket_set_priority,
    ticket_transition,
)
from tests.factories import CustomerFactory, StaffFactory

pytestmark = pytest.mark.django_db

MONDAY_10 = "2026-12-07 10:00 +01:00"


def open_for(customer=None, **kwargs):
    fields = {"subject": "Where is my parcel?", "body": "It has not arrived.", "customer": customer}
    return ticket_open(**{**fields, **kwargs})


@time_machine.travel(MONDAY_10, tick=False)
def test_a_customer_opens_a_ticket_about_their_order(customer, delivered, agents,
                                                     django_capture_on_commit_callbacks, mailoutbox):
    with django_capture_on_commit_callbacks(execute=True):
        ticket = open_for(customer, order=delivered.number, category="delivery",
                          order_line=delivered.lines.first().pk)
    # it lands in the delivery queue, with the agent who has the fewest open tickets, and SLA targets
    assert (ticket.status, ticket.queue.category, ticket.assignee.username) == ("new", "delivery", "ann")
    assert ticket.first_response_due == timezone.now() + timedelta(hours=4)
    assert ticket.resolution_due == timezone.now() + timedelta(days=2)  # 16 working hours: Wednesday 10:00
    # the order's timeline shows it; the customer gets an acknowledgement to reply to
    assert delivered.events.filter(kind="ticket", internal=False).count() == 1
    (mail,) = mailoutbox
    assert mail.to == [customer.email] and ticket.number in mail.subject
    assert mail.reply_to == [reply_address(ticket)] and mail.extra_headers["Auto-Submitted"] == "auto-replied"
    # the next ticket goes to the other agent
    assert open_for(customer).assignee.username in ("ann", "bob")
    assert open_for(customer, category="delivery").assignee.username == "bob"


def test_links_must_belong_to_the_customer_and_the_order(customer, delivered, agents):
    stranger = CustomerFactory()
    with pytest.raises(InvalidTicket) as err:
        open_for(stranger, order=delivered.number)
    assert err.value.extra["fields"] == {"order": ["Unknown order number."]}  # the same answer as a wrong number
    with pytest.raises(InvalidTicket):
        open_for(customer, order=delivered.number, order_line=999_999)
    for bad in ({"subject": ""}, {"body": "x" * 20_001}, {"subject": "a\x00b"}, {"category": "vip"},
                {"priority": "asap"}, {"customer": None, "email": "not-an-email"}):
        with pytest.raises(InvalidTicket):
            open_for(**{"customer": customer, **bad})
    assert not Ticket.objects.exists()


def test_a_guest_writes_about_their_order_by_email_address(delivered, agents):
    from orders.models import Order

    Order.objects.filter(pk=delivered.pk).update(customer=None, email="guest@example.com")
    ticket = ticket_open(subject="Hello", body="Question", email="guest@example.com", order=delivered.number)
    assert (ticket.customer, ticket.order) == (None, delivered)
    with pytest.raises(InvalidTicket):
        ticket_open(subject="Hello", body="Question", email="other@example.com", order=delivered.number)


def test_public_replies_email_the_customer_and_notes_never_do(customer, agents,
                                                             django_capture_on_commit_callbacks, mailoutbox):
    ann, _ = agents
    ticket = open_for(customer, notify=False)
    with django_capture_on_commit_callbacks(execute=True):
        ticket_reply(ticket=ticket, author=ann, body="Our courier says it is secret: internal only.", internal=True)
        ticket_reply(ticket=ticket, author=ann, body="It is on its way, you will have it tomorrow.")
    ticket.refresh_from_db()
    assert ticket.status == "waiting" and ticket.first_responded_at is not None
    (mail,) = mailoutbox
    assert "on its way" in mail.body and "secret" not in mail.body and mail.reply_to == [reply_address(ticket)]
    assert f"/help/{ticket.number}/" in mail.body  # the conversation in the portal
    payloads = " ".join(str(m.payload) for m in OutboxMessage.objects.all())
    assert "secret" not in payloads  # and so never in a webhook either


def test_the_customers_answer_resumes_and_a_late_one_starts_a_follow_up(customer, agents):
    ann, _ = agents
    ticket = open_for(customer, notify=False)
    ticket_reply(ticket=ticket, author=ann, body="Which colour?")
    on, _ = ticket_customer_reply(ticket=ticket.number, body="Blue", customer=customer)
    assert on == ticket and Ticket.objects.get(pk=ticket.pk).status == "open"
    ticket_reply(ticket=ticket, author=ann, body="Sent!", then="solved")
    # a reply within the reopen window reopens it
    on, _ = ticket_customer_reply(ticket=ticket.number, body="Thanks, one more thing", customer=customer)
    assert on == ticket and Ticket.objects.get(pk=ticket.pk).status == "open"
    ticket_transition(ticket=ticket.number, name="solve", actor=ann)
    # long after solving, a reply starts a new ticket that names the old one
    with time_machine.travel(timezone.now() + timedelta(days=30)):
        on, message = ticket_customer_reply(ticket=ticket.number, body="It broke again", customer=customer)
    assert on != ticket and on.follow_up_of == ticket and message.ticket == on
    assert Ticket.objects.get(pk=ticket.pk).status == "solved"


def test_assignment_take_and_lead(customer, agents, lead):
    ann, bob = agents
    ticket = open_for(customer, notify=False)
    ticket_assign(ticket=ticket.number, assignee=bob, actor=bob)  # "take it"
    with pytest.raises(TicketTransitionForbidden):
        ticket_assign(ticket=ticket.number, assignee=ann, actor=bob)  # only leads give tickets to others
    ticket_assign(ticket=ticket.number, assignee=ann, actor=lead)
    texts = list(Ticket.objects.get(pk=ticket.pk).events.filter(kind="assignment").values_list("text", flat=True))
    assert texts[-2:] == ["Taken by bob (was ann).", "Assigned to ann (was bob)."]
    warehouse = StaffFactory(group="Warehouse staff")
    with pytest.raises(TicketTransitionForbidden):
        ticket_reply(ticket=ticket, author=warehouse, body="hi")


def test_merging_moves_the_messages(customer, agents):
    ann, _ = agents
    first, duplicate = open_for(customer, notify=False), open_for(customer, notify=False, body="Again: where?")
    ticket_merge(ticket=duplicate.number, into=first.number, actor=ann)
    duplicate.refresh_from_db()
    assert (duplicate.status, duplicate.merged_into) == ("merged", first)
    assert list(first.messages.values_list("body", flat=True)) == ["It has not arrived.", "Again: where?"]
    on, _ = ticket_customer_reply(ticket=duplicate.number, body="Hello?", customer=customer)
    assert on == first
    with pytest.raises(DomainError):
        ticket_merge(ticket=open_for(CustomerFactory(), notify=False).number, into=first.number, actor=ann)


def test_solved_tickets_close_after_some_days(customer, agents, settings):
    ann, _ = agents
    ticket = open_for(customer, notify=False)
    ticket_transition(ticket=ticket.number, name="solve", actor=ann)
    assert ticket_close_solved() == 0
    assert ticket_close_solved(now=timezone.now() + timedelta(days=settings.WAYBILL_TICKET_CLOSE_AFTER_DAYS + 1)) == 1
    assert Ticket.objects.get(pk=ticket.pk).status == "closed"


def test_canned_replies_fill_in_the_facts(customer, delivered, agents):
    ann, _ = agents
    ticket = open_for(customer, order=delivered.number, notify=False)
    canned = CannedReply.objects.create(title="Tracking", body="Hello {{ customer_name }}, order {{ order_number }} "
                                        "is here: {{ tracking_link }} — {{ agent_name }} {{ unknown }}")
    text = canned_reply_render(canned=canned, ticket=ticket, agent=ann)
    tracking = delivered.shipments.exclude(tracking_number="").first().tracking_number
    assert text.startswith(f"Hello {ticket.name}, order {delivered.number} is here: ")
    assert tracking in text and text.endswith("— ann")


def test_attachments_are_limited_by_size_count_and_content(customer, agents, settings):
    pdf = SimpleUploadedFile("invoice.pdf", b"%PDF-1.4 fake but starts right")
    ticket = open_for(customer, notify=False, attachments=[pdf])
    assert ticket.messages.get().attachments.get().content_type == "application/pdf"
    with pytest.raises(InvalidAttachment):
        open_for(customer, attachments=[SimpleUploadedFile("x.exe", b"MZ\x90\x00\x03\x00\x00\x00")])
    settings.WAYBILL_SUPPORT_ATTACHMENT_MAX_BYTES = 10
    with pytest.raises(InvalidAttachment):
        open_for(customer, attachments=[SimpleUploadedFile("big.txt", b"x" * 11)])
    assert Ticket.objects.count() == 1 and Message.objects.count() == 1


def test_priority_change_retargets_counting_the_time_spent(customer, agents):
    ann, _ = agents
    with time_machine.travel(MONDAY_10, tick=False):
        ticket = open_for(customer, notify=False)
    with time_machine.travel("2026-12-07 14:00 +01:00", tick=False):
        ticket = ticket_set_priority(ticket=ticket.number, priority="high", actor=ann)
        # 4 working hours are gone of the 8 the high priority has: 3 today, 1 tomorrow, due Tuesday 10:00
        assert ticket.resolution_due == timezone.now() + timedelta(hours=20)
