"""Editing a placed order before it is processed: lines added, removed or changed through order_edit_lines, the
stock following, the totals following, the customer told."""

from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from inventory.errors import OutOfStock
from inventory.models import StockLevel
from orders.errors import TransitionNotAllowed
from orders.services import order_edit_lines, order_transition
from tests.factories import ProductFactory, place_order


@pytest.fixture
def order(customer):
    mug = ProductFactory(sku="MUG", price=Decimal("10.00"), stock=10)
    ProductFactory(sku="CASE", price=Decimal("5.00"), stock=3)
    return place_order(customer=customer, lines=[(mug, 2)])


def reserved(sku):
    return StockLevel.objects.get(product__sku=sku).allocated


def test_more_fewer_new_and_removed_items_move_the_stock_and_the_totals(order, staff_user,
                                                                      django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order_edit_lines(order=order.number, changes=[{"sku": "MUG", "quantity": 5}, {"sku": "case", "quantity": 2}],
                         actor=staff_user, reason="Customer called")
    order.refresh_from_db()
    assert (reserved("MUG"), reserved("CASE"), order.subtotal) == (5, 2, Decimal("60.00"))
    order_edit_lines(order=order.number, changes=[{"sku": "MUG", "quantity": 1}, {"sku": "CASE", "quantity": 0}])
    order.refresh_from_db()
    assert (reserved("MUG"), reserved("CASE"), order.total) == (1, 0, Decimal("10.00"))
    assert list(order.lines.values_list("sku", "quantity")) == [("MUG", 1)]
    event = order.events.filter(kind="note").first()
    assert {(c["sku"], c["from"], c["to"]) for c in event.data["order_edited"]} == {("MUG", 2, 5), ("CASE", 0, 2)}
    assert not event.internal
    told = [m for m in mail.outbox if order.email in m.to and "changed" in m.body]
    assert len(told) == 1


def test_more_than_there_is_is_refused_and_changes_nothing(order):
    with pytest.raises(OutOfStock):
        order_edit_lines(order=order.number, changes=[{"sku": "CASE", "quantity": 4}, {"sku": "MUG", "quantity": 3}])
    order.refresh_from_db()
    assert (reserved("MUG"), order.subtotal, order.lines.count()) == (2, Decimal("20.00"), 1)


def test_items_change_while_processed_until_a_parcel_holds_them(order, customer):
    from shipping.services import shipment_create_all

    order_transition(order=order.number, name="confirm", check_permission=False)
    order_transition(order=order.number, name="start_processing", check_permission=False)
    order_edit_lines(order=order.number, changes=[{"sku": "MUG", "quantity": 3}])
    assert reserved("MUG") == 3
    shipment_create_all(order=order.number, carrier="local")
    with pytest.raises(TransitionNotAllowed, match="has parcels already"):
        order_edit_lines(order=order.number, changes=[{"sku": "MUG", "quantity": 1}])
    assert reserved("MUG") == 3


def test_an_order_keeps_at_least_one_item(order):
    from orders.errors import InvalidOrder

    with pytest.raises(InvalidOrder, match="cancel it instead"):
        order_edit_lines(order=order.number, changes=[{"sku": "MUG", "quantity": 0}])


def test_staff_change_items_in_the_admin_and_through_the_api(client, staff_user, client_staff, order):
    client.force_login(staff_user)
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    url = reverse("admin:orders_order_items", args=[order.pk])
    assert url in page
    line = order.lines.get()
    response = client.post(url, {f"qty_{line.pk}": "3", "new_sku_0": "CASE", "new_qty_0": "1", "reason": "phone"})
    assert response.status_code == 302
    assert (reserved("MUG"), reserved("CASE")) == (3, 1)
    refused = client.post(url, {f"qty_{line.pk}": "3", "new_sku_0": "CASE", "new_qty_0": "9"})
    assert refused.status_code == 422 and "CASE" in refused.content.decode()
    api = client_staff.post(f"/api/orders/{order.number}/lines/", {"changes": [{"sku": "MUG", "quantity": 1}]},
                            format="json", headers={"Idempotency-Key": "edit-1"})
    assert api.status_code == 200, api.content
    assert [line["quantity"] for line in api.json()["lines"] if line["sku"] == "MUG"] == [1]
    again = client_staff.post(f"/api/orders/{order.number}/lines/", {"changes": [{"sku": "MUG", "quantity": 1}]},
                              format="json", headers={"Idempotency-Key": "edit-1"})
    assert again.status_code == 200 and order.events.filter(kind="note").count() == 2


def test_customers_cannot_edit_through_the_api(client_customer, order):
    response = client_customer.post(f"/api/orders/{order.number}/lines/",
                                    {"changes": [{"sku": "MUG", "quantity": 9}]}, format="json")
    assert response.status_code == 403
    assert reserved("MUG") == 2
