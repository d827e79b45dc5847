"""Audit history (django-simple-history): product prices, carriers, webhook endpoints and order addresses keep
every version that matters, with who changed it; saves that change nothing worth remembering write nothing."""

from decimal import Decimal

import pytest
from django.urls import reverse

from notifications.models import WebhookEndpoint
from orders.models import Order, OrderEvent
from orders.services import order_change_address, order_transition
from shipping.models import Carrier
from tests.factories import ProductFactory, place_order
from tests.orders.test_admin import change_form_data

pytestmark = pytest.mark.django_db


def test_a_price_change_in_the_admin_is_kept_with_who_made_it(admin_client, admin_user):
    product = ProductFactory(price="10.00")
    page = admin_client.get(reverse("admin:inventory_product_change", args=[product.pk]))
    data = {**change_form_data(page), "price": "12.50"}

    response = admin_client.post(reverse("admin:inventory_product_change", args=[product.pk]), data)

    assert response.status_code == 302
    versions = list(product.history.order_by("history_date", "history_id"))
    assert [v.price for v in versions] == [Decimal("10.00"), Decimal("12.50")]
    assert versions[-1].history_user == admin_user and versions[-1].history_type == "~"
    history_page = admin_client.get(reverse("admin:inventory_product_history", args=[product.pk]))
    assert history_page.status_code == 200 and "12.50" in history_page.content.decode()


def test_a_save_that_changes_nothing_tracked_writes_no_history():
    product = ProductFactory(price="10.00")
    assert product.history.count() == 1  # created
    product.low_stock_threshold = 9
    product.save()
    product.save()
    assert product.history.count() == 1


def test_carrier_history_never_copies_the_webhook_secret():
    carrier = Carrier.objects.get(code="local")
    fields = {f.name for f in Carrier.history.model._meta.fields}
    assert "webhook_secret" not in fields and "transit_days" in fields

    carrier.webhook_secret = "rotated-secret"
    carrier.save()
    assert carrier.history.count() == 0  # a new secret is not a version

    before = carrier.transit_days
    carrier.transit_days = before + 2
    carrier.save()
    # the carrier existed before history began: its earlier version is kept first, then the change
    assert [v.transit_days for v in carrier.history.order_by("history_id")] == [before, before + 2]


def test_webhook_endpoint_history_keeps_switches_not_every_failure():
    endpoint = WebhookEndpoint.objects.create(url="https://hooks.example.com/a", secret="s", event_types=["*"])
    for _ in range(3):  # as the delivery code counts failures
        endpoint.consecutive_failures += 1
        endpoint.save(update_fields=["consecutive_failures"])
    assert endpoint.history.count() == 1

    endpoint.active = False
    endpoint.disabled_reason = "20 failed attempts in a row"
    endpoint.save(update_fields=["active", "disabled_reason", "consecutive_failures"])
    latest = endpoint.history.latest()
    assert endpoint.history.count() == 2 and latest.active is False
    assert "secret" not in {f.name for f in WebhookEndpoint.history.model._meta.fields}


def test_order_address_history_has_the_old_and_the_new_address(customer):
    order = place_order(customer=customer, lines=[(ProductFactory(stock=5), 1)])
    old_city = order.ship_city
    order = order_transition(order=order.number, name="confirm", check_permission=False)
    assert order.address_history.count() == 0  # placing and moving an order write no history

    order_change_address(order=order.number, address={"city": "Utrecht", "postal_code": "3511 AA"})

    versions = list(Order.address_history.filter(id=order.pk).order_by("history_id"))
    assert [(v.ship_city, v.history_type) for v in versions] == [(old_city, "+"), ("Utrecht", "~")]
    assert versions[0].history_date == order.placed_at
    assert "status" not in {f.name for f in Order.address_history.model._meta.fields}


def test_the_admin_changes_an_address_only_through_the_service(admin_client, customer):
    order = place_order(customer=customer, lines=[(ProductFactory(stock=5), 1)])
    url = reverse("admin:orders_order_address", args=[order.pk])

    # when staff change the city on the order's "Change address" page
    data = {"name": order.ship_name, "line1": order.ship_line1, "line2": "", "postal_code": order.ship_postal_code,
            "city": "Leiden", "region": "", "country": str(order.ship_country)}
    response = admin_client.post(url, data)

    # then it went through order_change_address: the timeline says so, the history has both
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.ship_city == "Leiden"
    assert order.events.filter(kind=OrderEvent.Kind.NOTE, text__startswith="Delivery address changed").exists()
    assert order.address_history.latest().ship_city == "Leiden"
    history_page = admin_client.get(reverse("admin:orders_order_history", args=[order.pk]))
    assert history_page.status_code == 200 and "Leiden" in history_page.content.decode()


def test_the_admin_shows_why_an_address_can_no_longer_change(admin_client, customer):
    order = place_order(customer=customer, lines=[(ProductFactory(stock=5), 1)])
    url = reverse("admin:orders_order_address", args=[order.pk])
    order_transition(order=order.number, name="cancel", check_permission=False, reason="customer asked")
    data = {"name": order.ship_name, "line1": order.ship_line1, "line2": "", "postal_code": order.ship_postal_code,
            "city": "Leiden", "region": "", "country": str(order.ship_country)}

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert "can no longer change" in " ".join(response.context["form"].non_field_errors())
    order.refresh_from_db()
    assert order.ship_city != "Leiden" and order.address_history.count() == 0
