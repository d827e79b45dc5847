"""The agent workspace: only support agents get in; queues with counts; the ticket page with the case beside;
every action a form post through the services; search; query counts that do not grow."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from support.models import CannedReply, Ticket
from support.services import ticket_open, ticket_reply
from tests.factories import CustomerFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk_client(agents):
    client = Client()
    client.force_login(agents[0])
    return client


def test_only_support_agents_get_in(client, customer, agents):
    url = reverse("support:home")
    assert client.get(url).status_code == 302  # to the sign-in page
    client.force_login(customer)
    assert client.get(url).status_code == 403
    client.force_login(StaffFactory(group="Warehouse staff"))
    assert client.get(url).status_code == 403
    client.force_login(agents[0])
    assert client.get(url).status_code == 200


def test_queues_count_and_list(desk_client, customer, agents):
    ann, bob = agents
    mine = ticket_open(subject="For ann", body="x", customer=customer, notify=False)
    Ticket.objects.filter(pk=mine.pk).update(assignee=ann)
    other = ticket_open(subject="Nobody's", body="y", customer=customer, notify=False)
    Ticket.objects.filter(pk=other.pk).update(assignee=None)
    page = desk_client.get(reverse("support:queue", args=["unassigned"]))
    assert [t.number for t in page.context["tickets"]] == [other.number]
    counts = {name: count for name, _, count in page.context["views"]}
    assert counts["mine"] == 1 and counts["unassigned"] == 1 and counts["active"] == 2
    assert desk_client.get(reverse("support:queue", args=["nope"])).status_code == 404
    assert desk_client.get(reverse("support:queue", args=["mine"]), {"priority": "bogus"}).status_code == 200


def test_the_ticket_page_replies_notes_takes_and_solves(desk_client, customer, delivered, agents, mailoutbox,
                                                        django_capture_on_commit_callbacks):
    ann, _ = agents
    ticket = ticket_open(subject="Case?", body="Which case fits?", customer=customer, order=delivered.number,
                         notify=False)
    Ticket.objects.filter(pk=ticket.pk).update(assignee=None)
    url = reverse("support:ticket", args=[ticket.number])
    page = desk_client.get(url)
    assert page.status_code == 200 and delivered.number in page.content.decode()
    assert "Send to customer" in page.content.decode() and "Add internal note (staff only)" in page.content.decode()
    desk_client.post(url, {"action": "take"})
    with django_capture_on_commit_callbacks(execute=True):
        desk_client.post(url, {"action": "note", "body": "Check stock first", "then": ""})
        desk_client.post(url, {"action": "reply", "body": "The CASE-1 fits.", "then": ""})
    ticket.refresh_from_db()
    assert ticket.assignee == ann and ticket.status == "waiting"
    (mail,) = mailoutbox  # the reply, not the note
    assert mail.body.startswith("The CASE-1 fits.\n\nann, Waybill customer service") and "stock" not in mail.body
    response = desk_client.post(url, {"action": "solve"}, follow=True)
    assert Ticket.objects.get(pk=ticket.pk).status == "solved" and "is now solved" in response.content.decode()
    # an empty reply is a form error, an unknown action a message, never a 500
    assert desk_client.post(url, {"action": "reply", "body": ""}).status_code == 400
    assert desk_client.post(url, {"action": "teleport"}, follow=True).status_code == 200


def test_htmx_reply_swaps_the_conversation(desk_client, customer, agents):
    ticket = ticket_open(subject="Q", body="?", customer=customer, notify=False)
    url = reverse("support:ticket", args=[ticket.number])
    response = desk_client.post(url, {"action": "note", "body": "Internal", "then": ""}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<div id="conversation"')
    assert "Internal note" in html and "<html" not in html
    fresh = desk_client.get(url, {"part": "conversation"}, HTTP_HX_REQUEST="true").content.decode()
    assert fresh.lstrip().startswith('<div id="conversation"')
    assert '<div id="ticket-timeline" hx-swap-oob="true">' in fresh  # the case's events refresh with it


def test_canned_replies_prefill_the_reply(desk_client, customer, delivered, agents):
    ticket = ticket_open(subject="Where?", body="?", customer=customer, order=delivered.number, notify=False)
    canned = CannedReply.objects.create(title="Tracking", body="Hi {{ customer_name }}, follow {{ order_number }}.")
    page = desk_client.get(reverse("support:ticket", args=[ticket.number]), {"canned": canned.pk})
    assert page.context["reply_form"].initial["body"] == f"Hi {ticket.name}, follow {delivered.number}."


def test_starting_a_replacement_from_the_ticket(desk_client, customer, delivered, agents):
    from .conftest import phone  # noqa: F401

    line = delivered.lines.get(sku="PH-1")
    unit_serial = line.shipment_lines.get().units.get().unit.serial
    ticket = ticket_open(subject="Dead phone", body="It died.", customer=customer, order=delivered.number,
                         order_line=line.pk, serial=unit_serial, category="defect", notify=False)
    url = reverse("support:ticket", args=[ticket.number])
    desk_client.post(url, {"action": "start_return", "resolution": "replacement", "handling": "advance_replacement"})
    ticket.refresh_from_db()
    assert ticket.return_request.handling == "advance_replacement"
    assert ticket.return_request.replacement_order is not None


def test_search_by_part_of_a_number_a_name_a_tracking_number_or_a_serial(desk_client, customer, delivered):
    shipment = delivered.shipments.exclude(tracking_number="").first()
    serial = shipment.units.first().unit.serial
    for term in (delivered.number[3:8], delivered.ship_name.split()[0], shipment.tracking_number, serial,
                 customer.email):
        results = desk_client.get(reverse("support:search"), {"q": term}).context["results"]
        assert delivered in results["orders"], term
    assert desk_client.get(reverse("support:search"), {"q": "a\x01b"}).context["results"] is None
    assert desk_client.get(reverse("support:search"), {"q": "%_%"}).status_code == 200


def test_pages_cost_the_same_with_more_tickets_and_messages(desk_client, customer, delivered, agents):
    ann, _ = agents
    ticket = ticket_open(subject="One", body="1", customer=customer, order=delivered.number, notify=False)
    urls = [reverse("support:queue", args=["active"]), reverse("support:ticket", args=[ticket.number]),
            reverse("support:search") + "?q=" + delivered.number]

    def cost(url):
        with CaptureQueriesContext(connection) as ctx:
            assert desk_client.get(url).status_code == 200
        return len(ctx.captured_queries)

    [cost(u) for u in urls]
    before = [cost(u) for u in urls]
    other = CustomerFactory()
    for n in range(27):
        ticket_open(subject=f"More {n}", body="x", customer=other, notify=False)
        ticket_reply(ticket=ticket.number, author=ann, body=f"reply {n}", internal=n % 2 == 0, then="open")
    assert [cost(u) for u in urls] == before


def test_the_customers_order_page_shows_the_conversation_not_the_notes(client, customer, delivered, agents):
    ann, _ = agents
    ticket = ticket_open(subject="Cable missing", body="No cable in the box.", customer=customer,
                         order=delivered.number, notify=False)
    ticket_reply(ticket=ticket.number, author=ann, body="Supplier ships without cables: NOTE-ONLY", internal=True)
    ticket_reply(ticket=ticket.number, author=ann, body="We are sending a cable today.")
    client.force_login(customer)
    page = client.get(reverse("portal:order-detail", args=[delivered.number])).content.decode()
    assert "You wrote to us" in page and ticket.number in page
    import re

    assert "NOTE-ONLY" not in page and "ann" not in re.findall(r"\w+", page.split("<main", 1)[1])  # nor who wrote


def test_an_agent_attaches_a_file_to_a_reply(desk_client, customer, agents):
    from django.core.files.uploadedfile import SimpleUploadedFile

    ticket = ticket_open(subject="Invoice", body="Please send the invoice.", customer=customer, notify=False)
    url = reverse("support:ticket", args=[ticket.number])
    desk_client.post(url, {"action": "reply", "body": "Here it is.", "then": "",
                           "attachments": SimpleUploadedFile("invoice.pdf", b"%PDF-1.7 invoice")})
    message = ticket.messages.get(from_customer=False)
    (attachment,) = message.attachments.all()
    assert (attachment.filename, attachment.content_type) == ("invoice.pdf", "application/pdf")
    download = desk_client.get(reverse("support:attachment", args=[attachment.pk]))
    assert b"".join(download.streaming_content) == b"%PDF-1.7 invoice"
    assert download["Content-Disposition"].startswith("attachment") and download["X-Content-Type-Options"] == "nosniff"
    outsider = Client()
    outsider.force_login(customer)
    assert outsider.get(reverse("support:attachment", args=[attachment.pk])).status_code == 403
    refused = desk_client.post(url, {"action": "reply", "body": "And this", "then": "",
                                     "attachments": SimpleUploadedFile("run.exe", b"MZ\x90\x00binary")}, follow=True)
    assert "is not a PDF, an image or a text file" in refused.content.decode()
    assert ticket.messages.filter(from_customer=False).count() == 1
