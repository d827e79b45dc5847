"""Bad requests get {code, message, extra} JSON with the right status, never a 500 or an HTML page."""

import pytest

from orders.models import Order
from tests.factories import ProductFactory, order_payload, place_order

pytestmark = pytest.mark.django_db


def _error(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "extra"}
    assert body["message"]
    return body


@pytest.mark.parametrize("body", ['{"lines": [', "not json at all", '{"a": 1,}'])
def test_malformed_json_is_a_400(client_customer, body):
    response = client_customer.post("/api/orders/", body, content_type="application/json")

    assert _error(response, 400)["code"] == "parse_error"
    assert not Order.objects.exists()


def test_a_json_list_instead_of_an_object_is_a_400(client_customer):
    response = client_customer.post("/api/orders/", [1, 2], format="json")

    assert _error(response, 400)["code"] == "invalid"


def test_unsupported_media_type_is_a_415(client_customer):
    response = client_customer.post("/api/orders/", "<order/>", content_type="application/xml")

    assert _error(response, 415)["code"] == "unsupported_media_type"


def test_unknown_order_is_a_404(client_staff):
    body = _error(client_staff.get("/api/orders/WB-NONE-XXXX/"), 404)

    assert body["code"] == "order_not_found"
    assert body["extra"] == {"number": "WB-NONE-XXXX"}


def test_transition_on_an_unknown_order_is_a_404(client_staff):
    assert _error(client_staff.post("/api/orders/WB-NONE-XXXX/transitions/confirm/"), 404)["code"] == (
        "order_not_found"
    )


def test_unknown_transition_is_a_404_listing_the_allowed_ones(client_staff):
    # given a placed order and warehouse staff (who may confirm and hold, but not cancel)
    order = place_order()

    # when they ask for a transition that does not exist (not a refused state change: there is no such thing)
    body = _error(client_staff.post(f"/api/orders/{order.number}/transitions/teleport/", {}, format="json"), 404)

    # then the answer names it and lists what they may do now
    assert body["code"] == "transition_not_found"
    assert "teleport" in body["message"]
    assert body["extra"]["transition"] == "teleport"
    assert body["extra"]["allowed"] == ["confirm", "hold"]
    assert Order.objects.get(pk=order.pk).status == "placed"


def test_method_not_allowed_is_json(client_staff):
    order = place_order()

    assert _error(client_staff.delete(f"/api/orders/{order.number}/"), 405)["code"] == "method_not_allowed"


def test_domain_error_from_a_service_keeps_its_extra(client_customer):
    product = ProductFactory(stock=1)

    body = _error(client_customer.post("/api/orders/", order_payload((product, 3)), format="json"), 409)

    assert body["code"] == "out_of_stock"
    assert body["extra"]["lines"] == [{"sku": product.sku, "requested": 3, "available": 1}]


def test_unknown_api_endpoint_is_a_json_404(client_staff):
    body = _error(client_staff.get("/api/no-such-thing/"), 404)

    assert body["code"] == "not_found"


def test_unknown_product_is_a_json_404(client_staff):
    assert _error(client_staff.get("/api/products/NO-SUCH-SKU/"), 404)["code"] == "not_found"


def test_an_unexpected_failure_under_the_api_is_a_json_500(client_customer, customer, monkeypatch):
    # given an order, and a fault deep in the read path
    order = place_order(customer=customer)

    def broken(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("orders.apis.order_detail", broken)
    client_customer.raise_request_exception = False

    # when the order is read, the client gets JSON it can parse, not an HTML page or the exception text
    body = _error(client_customer.get(f"/api/orders/{order.number}/"), 500)
    assert body["code"] == "server_error"
    assert "disk on fire" not in body["message"]


@pytest.mark.parametrize("path", ["/api/shipments/{shipment}/transitions/teleport/",
                                  "/api/tickets/{ticket}/transitions/teleport/"])
def test_unknown_transition_names_are_a_404_everywhere(api_client, path):
    from django.contrib.auth import get_user_model

    from tests.factories import StaffFactory

    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    api_client.force_authenticate(admin)
    order = place_order()
    from orders.services import order_transition
    from shipping.services import shipment_create
    from support.services import ticket_open

    for name in ("confirm", "start_processing", "pack"):
        order_transition(order=order.number, name=name, check_permission=False)
    line = order.lines.get()
    shipment = shipment_create(order=order.number, warehouse=order.allocations.get().warehouse, carrier=None,
                               items=[(line.pk, line.quantity)])
    ticket = ticket_open(subject="Where is it?", body="Hello", email=order.email, actor=StaffFactory())
    url = path.format(shipment=shipment.pk, ticket=ticket.number)

    assert _error(api_client.post(url, {}, format="json"), 404)["code"].endswith("transition_not_found")
