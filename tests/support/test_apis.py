"""The tickets API and the inbound email endpoint: customers limited to their own tickets and the public side,
agents to everything, signed email only, and list and detail costs that do not grow."""

import hashlib
import hmac
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from support.models import Ticket
from support.services import ticket_open, ticket_reply
from tests.factories import CustomerFactory, StaffFactory

from .test_inbound import email

pytestmark = pytest.mark.django_db


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_customer_opens_and_follows_their_ticket_without_the_notes(customer, delivered, agents):
    ann, _ = agents
    shopper = client_for(customer)
    created = shopper.post("/api/tickets/", {"subject": "Scratch", "body": "The screen has a scratch.",
                                             "order": delivered.number, "category": "defect"}, format="json",
                           HTTP_IDEMPOTENCY_KEY="t-1")
    assert created.status_code == 201, created.json()
    number = created.json()["number"]
    again = shopper.post("/api/tickets/", {"subject": "Scratch", "body": "The screen has a scratch.",
                                           "order": delivered.number, "category": "defect"}, format="json",
                         HTTP_IDEMPOTENCY_KEY="t-1")
    assert again.json()["number"] == number and Ticket.objects.count() == 1
    ticket_reply(ticket=number, author=ann, body="Courier damaged it, claim with them: SECRET NOTE", internal=True)
    ticket_reply(ticket=number, author=ann, body="Sorry about that! Can you send a photo?")
    mine = shopper.get(f"/api/tickets/{number}/").json()
    assert [m["body"] for m in mine["messages"]] == ["The screen has a scratch.",
                                                      "Sorry about that! Can you send a photo?"]
    assert "SECRET" not in json.dumps(mine)
    assert [m["author"] for m in mine["messages"]] == ["you", "Customer service"]  # agents' names stay inside
    assert {"assignee", "resolution_due"}.isdisjoint(mine)
    reply = shopper.post(f"/api/tickets/{number}/messages/", {"body": "Photo attached soon."}, format="json")
    assert reply.status_code == 201 and reply.json()["author"] == "you"
    assert shopper.post(f"/api/tickets/{number}/messages/", {"body": "x", "internal": True},
                        format="json").status_code == 403
    assert shopper.post(f"/api/tickets/{number}/transitions/solve/", {}, format="json").status_code == 403
    # an agent sees everything
    full = client_for(ann).get(f"/api/tickets/{number}/").json()
    assert "SECRET NOTE" in json.dumps(full) and full["status"] == "open"


def test_anyone_elses_ticket_is_a_404(customer, agents):
    ticket = ticket_open(subject="Mine", body="Private", customer=customer, notify=False)
    stranger = client_for(CustomerFactory())
    assert stranger.get(f"/api/tickets/{ticket.number}/").status_code == 404
    assert stranger.post(f"/api/tickets/{ticket.number}/messages/", {"body": "hi"}, format="json").status_code == 404
    assert stranger.get("/api/tickets/").json()["results"] == []
    assert stranger.get("/api/tickets/TK-%00%FF/").status_code == 400  # control characters in the URL
    warehouse = client_for(StaffFactory(group="Warehouse staff"))
    assert warehouse.get(f"/api/tickets/{ticket.number}/").status_code == 404
    assert warehouse.post("/api/tickets/", {"subject": "s", "body": "b", "email": "ada@example.com"},
                          format="json").status_code == 403


def test_agents_work_tickets_through_the_api(customer, agents, lead):
    ann, bob = agents
    support = client_for(ann)
    created = support.post("/api/tickets/", {"subject": "Phone call", "body": "Wants to change the address.",
                                             "email": customer.email, "channel": "phone", "priority": "high"},
                           format="json").json()
    number = created["number"]
    assert Ticket.objects.get(number=number).customer == customer
    assert support.post(f"/api/tickets/{number}/assign/", {"assignee": ann.pk}, format="json").status_code == 200
    assert support.post(f"/api/tickets/{number}/assign/", {"assignee": bob.pk}, format="json").status_code == 403
    assert client_for(lead).post(f"/api/tickets/{number}/assign/", {"assignee": bob.pk},
                                 format="json").status_code == 200
    noted = support.post(f"/api/tickets/{number}/messages/", {"body": "Called back", "internal": True,
                                                              "then": "solved"}, format="json")
    assert noted.status_code == 201
    assert support.get(f"/api/tickets/{number}/").json()["status"] == "solved"
    bad = support.post(f"/api/tickets/{number}/transitions/teleport/", {}, format="json")
    assert bad.status_code == 404 and set(bad.json()) == {"code", "message", "extra"}
    mine = support.get("/api/tickets/?view=mine").json()["results"]
    assert mine == []  # solved tickets are not in anyone's queue


def test_list_and_detail_cost_the_same_with_more_tickets_and_messages(customer, agents):
    ann, _ = agents
    support = client_for(ann)
    ticket = ticket_open(subject="One", body="1", customer=customer, notify=False)

    def cost(url):
        with CaptureQueriesContext(connection) as ctx:
            assert support.get(url).status_code == 200
        return len(ctx.captured_queries)

    urls = ["/api/tickets/", "/api/tickets/?view=breaching", f"/api/tickets/{ticket.number}/"]
    [cost(u) for u in urls]
    before = [cost(u) for u in urls]
    for n in range(5):
        ticket_open(subject=f"More {n}", body="x", customer=customer, notify=False)
        ticket_reply(ticket=ticket.number, author=ann, body=f"reply {n}", internal=n % 2 == 0)
    assert [cost(u) for u in urls] == before


def sign(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_inbound_email_must_be_signed(customer, agents, settings):
    settings.WAYBILL_INBOUND_EMAIL_SECRET = "relay-secret"
    raw = email(sender=customer.email, subject="Help", body="Please call me.")
    api = APIClient()
    unsigned = api.post("/api/support/inbound-email/", data=raw, content_type="message/rfc822")
    assert unsigned.status_code == 401 and not Ticket.objects.exists()
    forged = api.post("/api/support/inbound-email/", data=raw, content_type="message/rfc822",
                      HTTP_X_WAYBILL_SIGNATURE=sign("guess", raw))
    assert forged.status_code == 401
    ok = api.post("/api/support/inbound-email/", data=raw, content_type="message/rfc822",
                  HTTP_X_WAYBILL_SIGNATURE=sign("relay-secret", raw))
    assert ok.status_code == 202 and ok.json()["outcome"] == "opened"
    assert Ticket.objects.get().customer == customer
