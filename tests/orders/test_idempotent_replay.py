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


def test_a_new_order_is_rendered_once_and_sent_as_it_was_kept(client_customer, monkeypatch):
    from rest_framework.renderers import JSONRenderer

    from orders.models import IdempotentResponse

    renders = []
    render = JSONRenderer.render

    def counted(self, data, *args, **kwargs):
        if isinstance(data, dict) and "number" in data:  # the answer (the test client renders the request too)
            renders.append(type(self).__name__)
        return render(self, data, *args, **kwargs)

    monkeypatch.setattr(JSONRenderer, "render", counted)
    payload = order_payload((ProductFactory(stock=5), 1))
    response = client_customer.post("/api/orders/", payload, format="json", headers={"Idempotency-Key": "once"})
    assert response.status_code == 201 and renders == ["JSONRenderer"]  # kept, then sent as those bytes
    assert response["Content-Type"] == "application/json"
    assert IdempotentResponse.objects.get(key="once").content.encode() == response.content


def test_a_client_that_asks_for_indented_json_gets_it_and_the_kept_answer_stays_compact(client_customer):
    from orders.models import IdempotentResponse

    payload = order_payload((ProductFactory(stock=5), 1))
    response = client_customer.post("/api/orders/", payload, format="json", headers={"Idempotency-Key": "indent"},
                                    HTTP_ACCEPT="application/json; indent=2")
    assert response.status_code == 201 and response.content.startswith(b'{\n  "')
    kept = IdempotentResponse.objects.get(key="indent").content
    assert not kept.startswith("{\n") and response.json() == __import__("json").loads(kept)
