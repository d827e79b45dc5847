"""An idempotent replay answers exactly as the first request did, and says it is a replay."""

import pytest

from orders.models import Order
from orders.services import order_add_note, order_transition
from tests.factories import ProductFactory, order_payload

pytestmark = pytest.mark.django_db


def test_an_order_placed_again_answers_as_the_first_time_even_after_it_changed(client_customer, staff_user):
    # given an order placed with a key
    payload = order_payload((ProductFactory(stock=5), 1))
    first = client_customer.post("/api/orders/", payload, format="json", headers={"Idempotency-Key": "o-1"})
    assert first.status_code == 201 and "Idempotent-Replayed" not in first
    number = first.json()["number"]

    # and the order moved on since (confirmed, a note for the customer on its timeline)
    order_transition(order=number, name="confirm", check_permission=False)
    order_add_note(order=number, author=staff_user, text="Packed with care", internal=False)

    # when the client retries the same request
    again = client_customer.post("/api/orders/", payload, format="json", headers={"Idempotency-Key": "o-1"})

    # then it gets the first answer, byte for byte, and is told it is a replay
    assert again.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1


def test_a_ticket_reply_replayed_is_the_same_answer(customer):
    from rest_framework.test import APIClient

    from support.services import ticket_open

    ticket = ticket_open(subject="Where is my parcel?", body="Hello", customer=customer, notify=False)
    client = APIClient()
    client.force_authenticate(customer)
    url = f"/api/tickets/{ticket.number}/messages/"

    first = client.post(url, {"body": "Any news?"}, format="json", headers={"Idempotency-Key": "m-1"})
    again = client.post(url, {"body": "Any news?"}, format="json", headers={"Idempotency-Key": "m-1"})

    assert first.status_code == again.status_code == 201
    assert again.content == first.content and list(again.json()) == list(first.json())
    assert again["Idempotent-Replayed"] == "true"
    assert ticket.messages.count() == 2
