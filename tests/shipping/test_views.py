import pytest
from django.core.cache import cache
from django.test import Client, override_settings

from shipping.services import shipment_record_carrier_event, shipment_transition
from tests.factories import CustomerFactory, ProductFactory, place_order

from .conftest import pack


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def tracked(db, warehouses):
    """A parcel in transit for a customer with a very recognisable name, address, email and product."""
    person = CustomerFactory(username="zebedee", email="zebedee.quark@example.com")
    product = ProductFactory(sku="SECRET-SKU-42", name="Embarrassing Gadget", stock={"NORTH": 2})
    order = pack(place_order(customer=person, lines=[(product, 1)]))
    order.ship_name, order.ship_line1, order.ship_city = "Zebedee Quark", "7 Hidden Lane", "Quarkton"
    order.save(update_fields=["ship_name", "ship_line1", "ship_city"])
    from shipping.services import shipment_create_all

    shipment = shipment_create_all(order=order.number)[0]
    for name in ("pick", "pack"):
        shipment_transition(shipment=shipment.pk, name=name, reason="Zebedee Quark asked for gift wrap")
    shipment_transition(shipment=shipment.pk, name="create_label", carrier="local")
    shipment = shipment_transition(shipment=shipment.pk, name="hand_over")
    from django.utils import timezone

    shipment_record_carrier_event(carrier="local", tracking_number=shipment.tracking_number, event_id="t1",
                                  status_code="AT_DEPOT", occurred_at=timezone.now(), location="Manchester",
                                  description="Arrived at the sorting hub")
    return order, shipment


def test_tracking_page_shows_status_and_city_timeline(tracked):
    order, shipment = tracked
    response = Client().get(f"/track/{shipment.tracking_number}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "In transit" in html and "Manchester" in html and "Arrived at the sorting hub" in html
    assert "Expected delivery" in html and "Local courier" in html


def test_tracking_page_shows_no_personal_data(tracked):
    order, shipment = tracked
    html = Client().get(f"/track/{shipment.tracking_number.lower()}/").content.decode()
    for private in ("Zebedee", "Quark", "Hidden Lane", "zebedee.quark@example.com", "SECRET-SKU-42",
                    "Embarrassing Gadget", order.number, "gift wrap", "London"):
        assert private not in html, private


def test_unknown_tracking_number_gets_a_friendly_page(db):
    response = Client().get("/track/NOPE12345/")
    assert response.status_code == 404
    assert "could not find that parcel" in response.content.decode()


@override_settings(WAYBILL_TRACKING_RATE_LIMIT=3)
def test_lookups_are_rate_limited_per_client(db):
    client = Client(REMOTE_ADDR="203.0.113.9")
    codes = [client.get(f"/track/NOPE{i}/").status_code for i in range(4)]
    assert codes == [404, 404, 404, 429]
    assert "Too many lookups" in client.get("/track/NOPE/").content.decode()
    assert Client(REMOTE_ADDR="203.0.113.10").get("/track/NOPE/").status_code == 404


def test_search_form_redirects_to_the_page(db):
    response = Client().get("/track/?number=ABC123")
    assert response.status_code == 302 and response["Location"] == "/track/ABC123/"
