"""Where an order came from: each way of placing one says so (the storefront API, a phone order, a draft, an import,
a replacement), and the admin lists filter by it and by product."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from orders.models import Order
from orders.services import order_place, order_place_replacement
from tests.factories import ADDRESS, ProductFactory, order_payload, place_order
from tests.orders.test_phone_orders import form as phone_form

pytestmark = pytest.mark.django_db


def test_the_storefront_api_places_storefront_orders(client_customer):
    mug = ProductFactory(sku="MUG", stock=5)
    response = client_customer.post("/api/orders/", order_payload((mug, 1)), format="json")
    assert response.status_code == 201
    assert Order.objects.get().channel == Order.Channel.STOREFRONT


def test_a_phone_order_in_the_admin_is_a_phone_order(client, staff_user):
    ProductFactory(sku="MUG", stock=5)
    client.force_login(staff_user)
    client.post("/admin/orders/order/add/", phone_form(MUG=1))
    assert Order.objects.get().channel == Order.Channel.PHONE


def test_a_placed_draft_is_a_phone_order(client_staff):
    ProductFactory(sku="MUG", stock=5)
    draft = client_staff.post("/api/order-drafts/", {"email": "caller@example.org", "shipping_address": ADDRESS,
                                                     "lines": [{"sku": "MUG", "quantity": 1}]}, format="json")
    assert draft.status_code == 201, draft.content
    placed = client_staff.post(f"/api/order-drafts/{draft.json()['id']}/place/", format="json",
                               HTTP_IDEMPOTENCY_KEY="draft-channel-1")
    assert placed.status_code in (200, 201), placed.content
    assert Order.objects.get().channel == Order.Channel.PHONE


def test_imported_orders_are_imports(client, staff_user):
    ProductFactory(sku="MUG", stock=5)
    client.force_login(staff_user)
    header = "order_ref,email,phone,name,line1,line2,postal_code,city,region,country,sku,quantity"
    row = "A-1,ada@example.org,,Ada Lovelace,12 Analytical Row,,N1 9GU,London,,GB,MUG,2"
    body = SimpleUploadedFile("orders.csv", f"{header}\n{row}\n".encode(), content_type="text/csv")
    client.post("/admin/orders/order/import/", {"file": body})
    client.post("/admin/orders/order/import/", {"confirm": "1"})
    assert Order.objects.get().channel == Order.Channel.IMPORT


def test_a_replacement_is_a_replacement(db):
    mug = ProductFactory(sku="MUG", stock=5)
    original = place_order(lines=[(mug, 1)])
    replacement = order_place_replacement(original=original.number, lines=[(mug, 1, Decimal("0"))])
    assert (original.channel, replacement.channel) == (Order.Channel.STOREFRONT, Order.Channel.REPLACEMENT)


def test_an_unknown_channel_is_refused(db):
    mug = ProductFactory(sku="MUG", stock=5)
    with pytest.raises(ValueError):
        order_place(email="a@example.org", shipping_address=dict(ADDRESS), lines=[{"sku": "MUG", "quantity": 1}],
                    channel="carrier pigeon")
    assert not Order.objects.exists() and mug.pk


def test_the_order_list_filters_by_channel_and_product(client, staff_user):
    mug, case = ProductFactory(sku="MUG", stock=5), ProductFactory(sku="CASE", stock=5)
    web = place_order(lines=[(mug, 1)])
    phone = place_order(lines=[(mug, 1), (case, 1)], channel=Order.Channel.PHONE)
    client.force_login(staff_user)

    def listed(**params):
        response = client.get("/admin/orders/order/", params)
        assert response.status_code == 200
        return {o.number for o in response.context["cl"].result_list}

    assert listed(channel__exact="phone") == {phone.number}
    assert listed(channel__in="storefront,import") == {web.number}
    assert listed(sku="CASE") == {phone.number}
    assert listed(sku="MUG") == {web.number, phone.number}
    assert listed(sku="NOPE") == set()
