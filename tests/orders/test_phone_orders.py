"""Phone and counter orders in the admin: placed through order_place (prices from the shop, no oversell, the same
timeline), attached to the customer's account by their email, one order however often the form is sent."""

from decimal import Decimal

import pytest
from django.urls import reverse

from inventory.models import StockLevel
from orders.models import Order
from tests.factories import ADDRESS, CustomerFactory, ProductFactory, place_order

URL = "/admin/orders/order/add/"


@pytest.fixture
def clerk(client, staff_user):
    client.force_login(staff_user)
    return client


def form(token="t-1", **lines):
    data = {"email": "caller@example.org", "phone": "+49 30 1234", "shipping_total": "", "notes": "", "token": token,
            **{f"ship-{k}": v for k, v in ADDRESS.items()}, "ship-region": "",
            "line-TOTAL_FORMS": "4", "line-INITIAL_FORMS": "4", "line-MIN_NUM_FORMS": "1",
            "line-MAX_NUM_FORMS": "200"}
    for i in range(4):
        data[f"line-{i}-sku"], data[f"line-{i}-quantity"] = "", ""
    for i, (sku, quantity) in enumerate(lines.items()):
        data[f"line-{i}-sku"], data[f"line-{i}-quantity"] = sku, str(quantity)
    return data


def test_staff_take_a_phone_order_at_the_shops_prices(clerk, staff_user):
    ProductFactory(sku="MUG", price=Decimal("12.50"), stock=5)
    assert clerk.get(URL).status_code == 200
    response = clerk.post(URL, form(MUG=2))
    order = Order.objects.get()
    assert response["Location"] == reverse("admin:orders_order_change", args=[order.pk])
    assert (order.email, order.subtotal, order.customer) == ("caller@example.org", Decimal("25.00"), None)
    assert order.events.get(transition="place").actor == staff_user
    assert StockLevel.objects.get(product__sku="MUG").allocated == 2


def test_a_known_customer_gets_the_order_in_their_account_with_their_last_address(clerk, db):
    customer = CustomerFactory(email="ada@example.org")
    place_order(customer=customer)
    page = clerk.get(URL, {"customer": "ada@example.org"})
    assert page.context["where"].initial["city"] == ADDRESS["city"]
    ProductFactory(sku="MUG", stock=5)
    clerk.post(URL, {**form(MUG=1), "email": "ADA@example.org"})
    assert Order.objects.filter(customer=customer).count() == 2


def test_sending_the_form_twice_places_one_order(clerk):
    ProductFactory(sku="MUG", stock=5)
    first = clerk.post(URL, form(MUG=1))
    second = clerk.post(URL, form(MUG=1))
    assert first["Location"] == second["Location"]
    assert Order.objects.count() == 1


def test_out_of_stock_and_unknown_items_are_shown_on_their_lines_and_nothing_is_placed(clerk):
    ProductFactory(sku="MUG", stock=1)
    response = clerk.post(URL, form(MUG=3, NOPE=1))
    assert response.status_code == 200 and not Order.objects.exists()
    lines = response.context["lines"].forms
    assert "Unknown SKU NOPE" in lines[1].errors["sku"][0]
    response = clerk.post(URL, form(token="t-2", MUG=3))
    assert "1 available." in response.context["lines"].forms[0].errors["quantity"]
    assert StockLevel.objects.get(product__sku="MUG").allocated == 0


def test_people_who_may_not_place_orders_get_no_form(client, db):
    from django.contrib.auth.models import Permission

    from tests.factories import StaffFactory

    viewer = StaffFactory()
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(viewer)
    assert client.get(URL).status_code == 403


def test_a_draft_is_kept_as_typed_reserves_nothing_and_is_placed_later(clerk, staff_user):
    from orders.models import OrderDraft

    ProductFactory(sku="MUG", stock=5)
    saved = clerk.post(URL, {**form(MUG=2), "save_draft": "1"})
    draft = OrderDraft.objects.get()
    assert saved["Location"] == f"{URL}?draft={draft.pk}"
    assert not Order.objects.exists() and StockLevel.objects.get(product__sku="MUG").allocated == 0
    # opening it again shows what was typed
    page = clerk.get(URL, {"draft": draft.pk})
    assert page.context["lines"].forms[0]["sku"].value() == "MUG"
    assert page.context["where"].initial["city"] == ADDRESS["city"]
    # placing it makes the order and closes the draft
    placed = clerk.post(URL, {**form(MUG=2, token="t-draft"), "draft": str(draft.pk)})
    order = Order.objects.get()
    assert placed["Location"] == reverse("admin:orders_order_change", args=[order.pk])
    draft.refresh_from_db()
    assert draft.placed_order == order
    assert clerk.get(URL, {"draft": draft.pk})["Location"] == reverse("admin:orders_order_change", args=[order.pk])
    assert clerk.get("/admin/orders/orderdraft/").status_code == 200


def test_drafts_through_the_api_are_kept_incomplete_and_placed_once(client_staff, db):
    ProductFactory(sku="MUG", stock=5)
    created = client_staff.post("/api/order-drafts/", {"email": "caller@example.org", "lines": [
        {"sku": "MUG", "quantity": 2}]}, format="json", headers={"Idempotency-Key": "d-1"})
    assert created.status_code == 201, created.content
    draft_id = created.json()["id"]
    # incomplete: placing it names what is missing, and nothing is placed
    refused = client_staff.post(f"/api/order-drafts/{draft_id}/place/", format="json")
    assert refused.status_code == 400 and "shipping_address" in str(refused.json()["extra"])
    address = {k.removeprefix("ship-"): v for k, v in form().items() if k.startswith("ship-")}
    updated = client_staff.put(f"/api/order-drafts/{draft_id}/", {
        "email": "caller@example.org", "shipping_address": address, "lines": [{"sku": "MUG", "quantity": 2}]},
        format="json")
    assert updated.status_code == 200, updated.content
    placed = client_staff.post(f"/api/order-drafts/{draft_id}/place/", format="json",
                               headers={"Idempotency-Key": "p-1"})
    assert placed.status_code == 201, placed.content
    again = client_staff.post(f"/api/order-drafts/{draft_id}/place/", format="json")
    assert again.json()["number"] == placed.json()["number"] and Order.objects.count() == 1
    assert StockLevel.objects.get(product__sku="MUG").allocated == 2
    # a placed draft no longer changes
    late = client_staff.put(f"/api/order-drafts/{draft_id}/", {"email": "x@example.org"}, format="json")
    assert late.status_code == 409


def test_customers_have_no_drafts(client_customer):
    assert client_customer.get("/api/order-drafts/").status_code == 403
