"""/api/orders/: placement, idempotency, transitions, scoping and filters over HTTP."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory.models import StockLevel, StockMovement
from orders.models import Order, OrderEvent, OrderLine
from orders.services import order_add_note, order_set_payment_status
from tests.factories import (
    CustomerFactory,
    ProductFactory,
    StaffFactory,
    WarehouseFactory,
    advance_order,
    order_payload,
    place_order,
)

pytestmark = pytest.mark.django_db


def _nothing_written():
    return (Order.objects.count(), OrderLine.objects.count(), OrderEvent.objects.count(),
            StockMovement.objects.exclude(kind="receipt").count())


def _numbers(response):
    assert response.status_code == 200, response.content
    return [row["number"] for row in response.json()["results"]]


# --- placement -----------------------------------------------------------------------------------------------

def test_customer_places_an_order(client_customer, customer):
    # given a product with stock
    product = ProductFactory(stock=10, price="12.50")

    # when the customer posts an order for 2
    response = client_customer.post("/api/orders/", order_payload((product, 2)), format="json")

    # then it is created for them, priced and allocated (allocations are for staff eyes only)
    assert response.status_code == 201, response.content
    body = response.json()
    order = Order.objects.get(number=body["number"])
    assert (order.customer, order.email, order.status) == (customer, customer.email, "placed")
    assert (body["subtotal"], body["total"]) == ("25.00", "25.00")
    assert "allocations" not in body
    assert list(order.allocations.values_list("product__sku", "quantity")) == [(product.sku, 2)]
    assert [(e["to_status"], e["transition"]) for e in body["timeline"]] == [("placed", "place")]


def test_out_of_stock_is_409_naming_sku_requested_and_available(client_customer):
    # given 3 units in stock
    product = ProductFactory(stock=3)
    before = _nothing_written()

    # when 4 are ordered
    response = client_customer.post("/api/orders/", order_payload((product, 4)), format="json")

    # then 409 out_of_stock with the numbers, and nothing is written
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "out_of_stock"
    assert {k: body["extra"][k] for k in ("sku", "requested", "available")} == {
        "sku": product.sku, "requested": 4, "available": 3,
    }
    assert product.sku in body["message"]
    assert _nothing_written() == before
    assert StockLevel.objects.get(product=product).allocated == 0


@pytest.mark.parametrize(
    ("case", "expected_fields"),
    [
        ("unknown_sku", {"lines[1].sku"}),
        ("inactive_product", {"lines[0].sku"}),
        ("duplicate_sku", {"lines"}),
        ("zero_quantity", {"lines"}),
        ("negative_quantity", {"lines"}),
        ("no_lines", {"lines"}),
        ("bad_country", {"shipping_address"}),
        ("missing_address_fields", {"shipping_address"}),
        ("no_address", {"shipping_address"}),
        ("bad_email", {"email"}),
        ("bad_currency", {"currency"}),
        ("negative_shipping", {"shipping_total"}),
    ],
)
def test_invalid_order_is_400_naming_the_fields_and_writes_nothing(case, expected_fields, client_customer):
    # given one sellable and one retired product
    product = ProductFactory(stock=10)
    retired = ProductFactory(stock=10, active=False)
    payload = order_payload((product, 1))
    if case == "unknown_sku":
        payload["lines"].append({"sku": "NO-SUCH-SKU", "quantity": 1})
    elif case == "inactive_product":
        payload = order_payload((retired, 1))
    elif case == "duplicate_sku":
        payload = order_payload((product, 1), (product, 2))
    elif case == "zero_quantity":
        payload = order_payload((product, 0))
    elif case == "negative_quantity":
        payload = order_payload((product, -2))
    elif case == "no_lines":
        payload["lines"] = []
    elif case == "bad_country":
        payload["shipping_address"]["country"] = "XX"
    elif case == "missing_address_fields":
        del payload["shipping_address"]["line1"], payload["shipping_address"]["city"]
    elif case == "no_address":
        del payload["shipping_address"]
    elif case == "bad_email":
        payload["email"] = "not-an-email"
    elif case == "bad_currency":
        payload["currency"] = "euro"
    elif case == "negative_shipping":
        payload["shipping_total"] = "-1.00"
    before = _nothing_written()

    # when it is posted
    response = client_customer.post("/api/orders/", payload, format="json")

    # then 400 names the fields, and no order, line, event or movement is written
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] in {"invalid", "invalid_order"}
    assert set(body["extra"]["fields"]) == expected_fields
    assert _nothing_written() == before
    if case == "missing_address_fields":
        assert set(body["extra"]["fields"]["shipping_address"]) == {"line1", "city"}
    if case == "inactive_product":
        assert retired.sku in body["extra"]["fields"]["lines[0].sku"][0]


def test_staff_place_a_guest_order_by_email(client_staff, staff_user):
    product = ProductFactory(stock=10)

    response = client_staff.post("/api/orders/", order_payload((product, 1), email="guest@example.org"),
                                 format="json")

    assert response.status_code == 201, response.content
    order = Order.objects.get(number=response.json()["number"])
    assert (order.customer, order.email) == (None, "guest@example.org")
    assert order.events.get().actor == staff_user


def test_staff_place_an_order_for_an_existing_customer(client_staff):
    # given a customer
    someone = CustomerFactory()
    product = ProductFactory(stock=10)

    # when staff order for them by id (no email given)
    response = client_staff.post("/api/orders/", order_payload((product, 1), customer=someone.pk), format="json")

    # then the order is theirs, with their email, and they can see it
    assert response.status_code == 201, response.content
    order = Order.objects.get(number=response.json()["number"])
    assert (order.customer, order.email) == (someone, someone.email)
    assert response.json()["customer"] == someone.pk


def test_staff_order_for_unknown_customer_or_without_email_is_400(client_staff):
    product = ProductFactory(stock=10)

    unknown = client_staff.post("/api/orders/", order_payload((product, 1), customer=999_999), format="json")
    no_email = client_staff.post("/api/orders/", order_payload((product, 1)), format="json")

    assert (unknown.status_code, list(unknown.json()["extra"]["fields"])) == (400, ["customer"])
    assert (no_email.status_code, list(no_email.json()["extra"]["fields"])) == (400, ["email"])
    assert Order.objects.count() == 0


def test_customer_cannot_place_an_order_for_someone_else(client_customer):
    other = CustomerFactory()
    product = ProductFactory(stock=10)

    response = client_customer.post("/api/orders/", order_payload((product, 1), customer=other.pk), format="json")

    assert response.status_code == 400
    assert list(response.json()["extra"]["fields"]) == ["customer"]
    assert Order.objects.count() == 0


def test_staff_without_add_permission_cannot_place_orders(api_client):
    api_client.force_authenticate(StaffFactory())
    product = ProductFactory(stock=10)

    response = api_client.post("/api/orders/", order_payload((product, 1), email="x@example.com"), format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert Order.objects.count() == 0


@pytest.mark.parametrize("method", ["get", "post"])
def test_unauthenticated_requests_get_a_json_refusal(api_client, method):
    response = getattr(api_client, method)("/api/orders/", {}, format="json")

    assert response.status_code in (401, 403)
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "not_authenticated"


# --- idempotency -------------------------------------------------------------------------------------------

def test_same_idempotency_key_and_body_returns_the_same_order(client_customer):
    # given a request that placed an order with a key
    product = ProductFactory(stock=10)
    payload = order_payload((product, 2))
    first = client_customer.post("/api/orders/", payload, format="json", headers={"Idempotency-Key": "k-1"})

    # when it is retried
    again = client_customer.post("/api/orders/", payload, format="json", headers={"Idempotency-Key": "k-1"})

    # then the same order comes back with the same status, and stock was allocated once
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["number"] == again.json()["number"]
    assert Order.objects.count() == 1
    assert StockLevel.objects.get(product=product).allocated == 2
    assert StockMovement.objects.filter(kind="allocation").count() == 1


def test_same_idempotency_key_with_another_body_is_422(client_customer):
    # given a key already used for an order of 2
    product = ProductFactory(stock=10)
    first = client_customer.post("/api/orders/", order_payload((product, 2)), format="json",
                                 headers={"Idempotency-Key": "k-2"})

    # when the key comes back with an order of 3
    reused = client_customer.post("/api/orders/", order_payload((product, 3)), format="json",
                                  headers={"Idempotency-Key": "k-2"})

    # then 422 idempotency_key_reused, and nothing new is written
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    assert reused.json()["extra"]["order"] == first.json()["number"]
    assert Order.objects.count() == 1
    assert StockLevel.objects.get(product=product).allocated == 2


def test_different_users_may_use_the_same_key(api_client):
    # given two customers
    alice, bob = CustomerFactory(), CustomerFactory()
    product = ProductFactory(stock=10)
    payload = order_payload((product, 1))

    # when both send the same key and body
    api_client.force_authenticate(alice)
    for_alice = api_client.post("/api/orders/", payload, format="json", headers={"Idempotency-Key": "same"})
    api_client.force_authenticate(bob)
    for_bob = api_client.post("/api/orders/", payload, format="json", headers={"Idempotency-Key": "same"})

    # then each gets their own order
    assert (for_alice.status_code, for_bob.status_code) == (201, 201)
    assert for_alice.json()["number"] != for_bob.json()["number"]
    assert set(Order.objects.values_list("customer", flat=True)) == {alice.pk, bob.pk}


def test_refused_order_does_not_burn_its_idempotency_key(client_customer):
    # given a request refused for lack of stock
    product = ProductFactory(stock=1)
    payload = order_payload((product, 2))
    refused = client_customer.post("/api/orders/", payload, format="json", headers={"Idempotency-Key": "k-3"})
    assert refused.status_code == 409

    # when stock arrives and the same request is retried
    from inventory.services import stock_receive

    stock_receive(product=product, warehouse=StockLevel.objects.get().warehouse, quantity=5)
    retried = client_customer.post("/api/orders/", payload, format="json", headers={"Idempotency-Key": "k-3"})

    # then it goes through
    assert retried.status_code == 201
    assert Order.objects.count() == 1


def test_overlong_idempotency_key_is_400(client_customer):
    product = ProductFactory(stock=10)

    response = client_customer.post("/api/orders/", order_payload((product, 1)), format="json",
                                    headers={"Idempotency-Key": "k" * 256})

    assert response.status_code == 400
    assert list(response.json()["extra"]["fields"]) == ["Idempotency-Key"]
    assert Order.objects.count() == 0


# --- transitions over HTTP ---------------------------------------------------------------------------------

def test_staff_confirm_an_order(client_staff, staff_user):
    order = place_order()

    response = client_staff.post(f"/api/orders/{order.number}/transitions/confirm/", {"reason": "paid"},
                                 format="json")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "confirmed"
    last = response.json()["timeline"][-1]
    assert (last["from_status"], last["to_status"], last["actor"], last["text"]) == (
        "placed", "confirmed", staff_user.username, "paid"
    )


def test_transition_not_allowed_is_409_and_changes_nothing(client_staff):
    # given a placed order for 2 of 10 units
    product = ProductFactory(stock=10)
    order = place_order(lines=[(product, 2)])
    events, movements = order.events.count(), StockMovement.objects.count()

    # when staff ask to deliver it
    response = client_staff.post(f"/api/orders/{order.number}/transitions/deliver/", {}, format="json")

    # then 409 with code, message and the transitions that are allowed
    assert response.status_code == 409
    body = response.json()
    assert set(body) == {"code", "message", "extra"}
    assert body["code"] == "transition_not_allowed"
    assert body["extra"]["status"] == "placed"
    assert "confirm" in body["extra"]["allowed"]
    assert Order.objects.get(pk=order.pk).status == "placed"
    assert order.events.count() == events
    assert StockMovement.objects.count() == movements
    assert StockLevel.objects.values_list("on_hand", "allocated").get(product=product) == (10, 2)


def test_support_agent_may_cancel_but_not_confirm_over_the_api(api_client, agent_user):
    # given a placed order and a support agent
    product = ProductFactory(stock=10)
    order = place_order(lines=[(product, 2)])
    api_client.force_authenticate(agent_user)

    # when the agent confirms: 403 transition_forbidden, nothing changes
    confirm = api_client.post(f"/api/orders/{order.number}/transitions/confirm/", {}, format="json")
    assert confirm.status_code == 403
    assert confirm.json()["code"] == "transition_forbidden"
    assert Order.objects.get(pk=order.pk).status == "placed"

    # when the agent cancels without a reason: 400 naming reason
    no_reason = api_client.post(f"/api/orders/{order.number}/transitions/cancel/", {}, format="json")
    assert (no_reason.status_code, list(no_reason.json()["extra"]["fields"])) == (400, ["reason"])

    # when the agent cancels with a reason: cancelled, stock released
    cancel = api_client.post(f"/api/orders/{order.number}/transitions/cancel/", {"reason": "duplicate"},
                             format="json")
    assert cancel.status_code == 200, cancel.content
    assert cancel.json()["status"] == "cancelled"
    assert StockLevel.objects.get(product=product).allocated == 0


def test_customer_gets_403_on_own_order_and_404_on_someone_elses(client_customer, customer):
    # given the customer's own order and someone else's
    own = place_order(customer=customer)
    other = place_order(customer=CustomerFactory())

    # when they try to cancel each
    on_own = client_customer.post(f"/api/orders/{own.number}/transitions/cancel/", {"reason": "x"}, format="json")
    on_other = client_customer.post(f"/api/orders/{other.number}/transitions/cancel/", {"reason": "x"},
                                    format="json")

    # then 403 for their own (they may see it, not change it) and 404 for the other (no existence leak)
    assert (on_own.status_code, on_own.json()["code"]) == (403, "permission_denied")
    assert (on_other.status_code, on_other.json()["code"]) == (404, "order_not_found")
    assert set(Order.objects.values_list("status", flat=True)) == {"placed"}


# --- scoping and filters -----------------------------------------------------------------------------------

def test_customer_sees_only_their_own_orders(api_client):
    # given orders of two customers
    alice, bob = CustomerFactory(), CustomerFactory()
    alices = place_order(customer=alice)
    bobs = place_order(customer=bob)
    api_client.force_authenticate(alice)

    # then Alice's list holds only hers, and Bob's detail is a 404
    assert _numbers(api_client.get("/api/orders/")) == [alices.number]
    assert api_client.get(f"/api/orders/{alices.number}/").status_code == 200
    response = api_client.get(f"/api/orders/{bobs.number}/")
    assert (response.status_code, response.json()["code"]) == (404, "order_not_found")


def test_customer_filter_cannot_reach_other_orders(api_client):
    alice, bob = CustomerFactory(), CustomerFactory()
    bobs = place_order(customer=bob)
    api_client.force_authenticate(alice)

    assert _numbers(api_client.get("/api/orders/", {"number": bobs.number})) == []
    assert _numbers(api_client.get("/api/orders/", {"email": bob.email})) == []


def test_staff_filter_by_status_accepts_several(client_staff):
    placed = place_order()
    confirmed = advance_order(place_order(), "confirmed")
    cancelled = advance_order(place_order(), "cancelled")

    assert _numbers(client_staff.get("/api/orders/", {"status": "placed"})) == [placed.number]
    both = _numbers(client_staff.get("/api/orders/?status=confirmed&status=cancelled"))
    assert sorted(both) == sorted([confirmed.number, cancelled.number])
    assert client_staff.get("/api/orders/", {"status": "nonsense"}).status_code == 400


def test_staff_filter_by_placement_time(client_staff):
    # given orders placed 10, 5 and 1 days ago
    now = timezone.now()
    old, middle, recent = place_order(), place_order(), place_order()
    for order, days in ((old, 10), (middle, 5), (recent, 1)):
        Order.objects.filter(pk=order.pk).update(placed_at=now - timedelta(days=days))

    # then placed_after is inclusive, placed_before exclusive
    after = _numbers(client_staff.get("/api/orders/", {"placed_after": (now - timedelta(days=6)).isoformat()}))
    assert after == [recent.number, middle.number]
    before = _numbers(client_staff.get("/api/orders/", {"placed_before": (now - timedelta(days=5)).isoformat()}))
    assert before == [old.number]
    window = _numbers(client_staff.get("/api/orders/", {
        "placed_after": (now - timedelta(days=6)).isoformat(), "placed_before": (now - timedelta(days=2)).isoformat(),
    }))
    assert window == [middle.number]


def test_staff_filter_by_email_number_warehouse_and_payment(client_staff):
    # given orders from different people, warehouses and payment states
    WarehouseFactory(code="NORTH", priority=1), WarehouseFactory(code="SOUTH", priority=2)
    at_north, at_south = ProductFactory(stock={"NORTH": 10}), ProductFactory(stock={"SOUTH": 10})
    ada = place_order(email="Ada@Example.com", lines=[(at_north, 1)])
    bob = place_order(email="bob@example.com", lines=[(at_south, 1)])
    both = place_order(email="carol@example.com", lines=[(at_north, 1), (at_south, 1)])
    order_set_payment_status(order=bob, payment_status="paid")

    # then each filter narrows the list (email and number case-insensitively)
    assert _numbers(client_staff.get("/api/orders/", {"email": "ada@example.com"})) == [ada.number]
    assert _numbers(client_staff.get("/api/orders/", {"number": bob.number.lower()})) == [bob.number]
    assert sorted(_numbers(client_staff.get("/api/orders/", {"warehouse": "SOUTH"}))) == sorted(
        [bob.number, both.number]
    )
    assert _numbers(client_staff.get("/api/orders/", {"warehouse": "NORTH", "email": "carol@example.com"})) == [
        both.number
    ]
    assert _numbers(client_staff.get("/api/orders/", {"payment_status": "paid"})) == [bob.number]
    assert sorted(_numbers(client_staff.get("/api/orders/?payment_status=unpaid&payment_status=paid"))) == sorted(
        [ada.number, bob.number, both.number]
    )


def test_internal_notes_are_for_staff_only(api_client, customer, staff_user):
    # given an order with an internal and a public note
    order = place_order(customer=customer)
    order_add_note(order=order, author=staff_user, text="Customer sounded annoyed", internal=True)
    order_add_note(order=order, author=staff_user, text="Your parcel is on its way soon", internal=False)

    # when staff and the customer read the order
    api_client.force_authenticate(staff_user)
    staff_view = [e["text"] for e in api_client.get(f"/api/orders/{order.number}/").json()["timeline"]]
    api_client.force_authenticate(customer)
    customer_view = [e["text"] for e in api_client.get(f"/api/orders/{order.number}/").json()["timeline"]]

    # then staff see both notes and the customer only the public one
    assert "Customer sounded annoyed" in staff_view
    assert "Your parcel is on its way soon" in staff_view
    assert "Customer sounded annoyed" not in customer_view
    assert "Your parcel is on its way soon" in customer_view


def test_staff_add_a_note_over_the_api(client_staff, staff_user):
    order = place_order()

    response = client_staff.post(f"/api/orders/{order.number}/notes/", {"text": "Call back Tuesday"}, format="json")
    empty = client_staff.post(f"/api/orders/{order.number}/notes/", {"text": ""}, format="json")

    assert response.status_code == 201
    assert (response.json()["internal"], response.json()["actor"]) == (True, staff_user.username)
    assert (empty.status_code, list(empty.json()["extra"]["fields"])) == (400, ["text"])
    assert order.events.filter(kind="note").count() == 1


def test_customer_sees_no_staff_names_or_warehouses_on_their_order(client_customer, customer, staff_user):
    # given an order a staff member confirmed
    from orders.services import order_transition

    order = place_order(customer=customer)
    order_transition(order=order.number, name="confirm", actor=staff_user)

    # when the customer and staff open it
    mine = client_customer.get(f"/api/orders/{order.number}/").json()
    client_customer.force_authenticate(staff_user)
    theirs = client_customer.get(f"/api/orders/{order.number}/").json()

    # then the customer sees roles, not usernames, and no allocations; staff see both
    assert [e["actor"] for e in mine["timeline"]] == ["system", "customer service"]
    assert "allocations" not in mine
    assert [e["actor"] for e in theirs["timeline"]] == ["system", staff_user.username]
    assert theirs["allocations"][0]["quantity"] == 1


# --- countries are ISO codes, as the schema says -----------------------------------------------------------------

@pytest.mark.parametrize("given, code", [("Germany", "DE"), ("germany", "DE"), ("de", "DE"), ("DEU", "DE"),
                                         ("276", "DE"), ("United Kingdom", "GB")])
def test_a_country_name_or_other_code_is_a_400_that_names_the_code(client_customer, given, code):
    payload = order_payload((ProductFactory(stock=5), 1))
    payload["shipping_address"]["country"] = given

    response = client_customer.post("/api/orders/", payload, format="json")

    assert response.status_code == 400
    message = response.json()["extra"]["fields"]["shipping_address"]["country"][0]
    assert f"use {code}" in message
    assert not Order.objects.exists()


def test_an_unknown_country_is_a_400_asking_for_the_code(client_customer):
    payload = order_payload((ProductFactory(stock=5), 1))
    payload["shipping_address"]["country"] = "Atlantis"

    response = client_customer.post("/api/orders/", payload, format="json")

    assert response.status_code == 400
    assert "ISO 3166-1 alpha-2" in response.json()["extra"]["fields"]["shipping_address"]["country"][0]


def test_the_iso_code_is_taken_as_it_is(client_customer):
    payload = order_payload((ProductFactory(stock=5), 1))
    payload["shipping_address"]["country"] = "DE"

    response = client_customer.post("/api/orders/", payload, format="json")

    assert response.status_code == 201
    assert response.json()["shipping_address"]["country"] == "DE"


def test_the_order_answer_built_once_per_thread_is_the_serializers_answer(customer, staff_user):
    from rest_framework.renderers import JSONRenderer

    from orders.selectors import order_detail
    from orders.serializers import OrderDetailSerializer, order_detail_data
    from orders.services import order_add_note, order_transition

    # given orders of 1 and 3 lines, one moved on with entries by staff and for the customer
    one = place_order(customer=customer, lines=[(ProductFactory(stock=5), 1)], actor=customer)
    three = place_order(customer=customer, lines=[(ProductFactory(stock=5), q) for q in (1, 2, 3)], actor=customer)
    order_transition(order=three.number, name="confirm", actor=staff_user, check_permission=False)
    order_add_note(order=three.number, author=staff_user, text="Packed with care", internal=False)
    order_add_note(order=three.number, author=staff_user, text="Fragile", internal=True)

    # then for every kind of viewer, in turns, both answer the same bytes
    for viewer in (customer, staff_user, None, customer, staff_user):
        for order in (one, three):
            loaded = order_detail(number=order.number, user=viewer or staff_user)
            expected = OrderDetailSerializer(loaded, context={"viewer": viewer}).data
            assert JSONRenderer().render(order_detail_data(loaded, viewer=viewer)) == JSONRenderer().render(expected)
    assert "allocations" not in order_detail_data(order_detail(number=one.number, user=customer), viewer=customer)


def test_the_order_form_checked_by_a_serializer_built_once_keeps_nothing_between_requests(client_customer):
    from rest_framework.exceptions import ValidationError
    from rest_framework.renderers import JSONRenderer

    from config.errors import api_exception_handler
    from orders.serializers import OrderCreateSerializer

    # given bodies good and bad, one after the other
    product = ProductFactory(stock=5)
    bodies = [
        {"lines": []},
        order_payload((product, 1)),
        {"shipping_address": {"name": "A"}, "lines": [{"sku": product.sku, "quantity": 0}]},
        order_payload((product, 2), notes="ring twice"),
        {"shipping_address": {"name": "A"}, "lines": [{"sku": product.sku}]},
    ]
    for body in bodies:
        # when each is posted, then the answer is what a serializer made for it alone would give
        serializer = OrderCreateSerializer(data=body)
        response = client_customer.post("/api/orders/", body, format="json")
        if serializer.is_valid():
            assert response.status_code == 201 and response.json()["notes"] == body.get("notes", "")
        else:
            expected = api_exception_handler(ValidationError(serializer.errors), {})
            assert (response.status_code, response.content) == (400, JSONRenderer().render(expected.data))
