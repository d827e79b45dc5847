"""Warehouses, bins and goods receipts in the REST API (staff), with Idempotency-Key on writes."""

import pytest

from inventory.models import GoodsReceipt, StockLevel
from tests.factories import ProductFactory, WarehouseFactory


@pytest.fixture
def berlin(db):
    return WarehouseFactory(code="BER", priority=1)


def test_warehouses_are_listed_and_changed_by_code(client_staff, berlin):
    listed = client_staff.get("/api/warehouses/").json()["results"]
    assert [w["code"] for w in listed] == ["BER"]
    response = client_staff.patch("/api/warehouses/BER/", {"priority": 5}, format="json")
    assert response.status_code == 200 and response.json()["priority"] == 5


def test_a_bin_is_set_through_the_api_without_touching_the_quantities(client_staff, berlin):
    mug = ProductFactory(stock={"BER": 4})
    level = StockLevel.objects.get(product=mug)
    response = client_staff.post(f"/api/stock/{level.pk}/bin/", {"bin": "b-07-1"}, format="json")
    assert response.status_code == 200 and response.json()["bin"] == "B-07-1"
    assert response.json()["on_hand"] == 4
    bad = client_staff.post(f"/api/stock/{level.pk}/bin/", {"bin": "<script>"}, format="json")
    assert bad.status_code == 400 and set(bad.json()) == {"code", "message", "extra"}
    assert client_staff.post("/api/stock/999999/bin/", {"bin": "A"}, format="json").status_code == 404


def test_a_goods_receipt_is_booked_once_per_idempotency_key(client_staff, berlin):
    ProductFactory(sku="MUG", stock={"BER": 1})
    body = {"warehouse": "BER", "supplier": "Acme", "reference": "DN-1", "lines": [{"sku": "MUG", "quantity": 5}]}
    first = client_staff.post("/api/goods-receipts/", body, format="json", headers={"Idempotency-Key": "gr-1"})
    again = client_staff.post("/api/goods-receipts/", body, format="json", headers={"Idempotency-Key": "gr-1"})
    assert first.status_code == 201 and again.status_code == 201, first.content
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    assert GoodsReceipt.objects.count() == 1
    assert StockLevel.objects.get(product__sku="MUG").on_hand == 6
    assert client_staff.get(f"/api/goods-receipts/{first.json()['id']}/").json()["lines"] == [
        {"sku": "MUG", "quantity": 5, "serials": []}]
    # the same delivery note under another key is refused: the goods are counted
    twice = client_staff.post("/api/goods-receipts/", body, format="json", headers={"Idempotency-Key": "gr-2"})
    assert twice.status_code == 409 and twice.json()["code"] == "receipt_already_booked"


def test_a_bad_receipt_names_its_lines(client_staff, berlin):
    body = {"warehouse": "BER", "supplier": "Acme", "lines": [{"sku": "NOPE", "quantity": 1}]}
    response = client_staff.post("/api/goods-receipts/", body, format="json")
    assert response.status_code == 400 and "lines[0].sku" in response.json()["extra"]["fields"]


def test_support_cannot_book_receipts_or_change_bins(api_client, agent_user, berlin):
    api_client.force_authenticate(agent_user)
    level = StockLevel.objects.get(product=ProductFactory(stock={"BER": 1}))
    body = {"warehouse": "BER", "supplier": "Acme", "lines": [{"sku": level.product.sku, "quantity": 1}]}
    assert api_client.post("/api/goods-receipts/", body, format="json").status_code == 403
    assert api_client.post(f"/api/stock/{level.pk}/bin/", {"bin": "A"}, format="json").status_code == 403


def test_a_warehouse_is_created_once_per_idempotency_key(api_client, db):
    from django.contrib.auth.models import Permission

    from inventory.models import Warehouse
    from tests.factories import StaffFactory

    manager = StaffFactory(group="Warehouse staff")
    manager.user_permissions.add(Permission.objects.get(codename="add_warehouse"))
    api_client.force_authenticate(manager)
    body = {"code": "HAM", "name": "Hamburg", "priority": 3}
    first = api_client.post("/api/warehouses/", body, format="json", headers={"Idempotency-Key": "wh-1"})
    again = api_client.post("/api/warehouses/", body, format="json", headers={"Idempotency-Key": "wh-1"})
    assert (first.status_code, again.status_code) == (201, 201), first.content
    assert again.headers.get("Idempotent-Replayed") == "true" and Warehouse.objects.filter(code="HAM").count() == 1
