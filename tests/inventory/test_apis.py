"""/api/products/, /api/stock/ (receive, adjust, transfer) and /api/stock-movements/."""

import pytest
from django.contrib.auth import get_user_model

from inventory.models import StockLevel, StockMovement
from tests.factories import ProductFactory, WarehouseFactory, place_order

pytestmark = pytest.mark.django_db


def _level(product, warehouse):
    level = StockLevel.objects.filter(product=product, warehouse=warehouse).first()
    return (level.on_hand, level.allocated) if level else None


@pytest.fixture
def stock(db):
    """A warehouse holding 10 units of a product, 6 of them allocated to an order."""
    warehouse = WarehouseFactory(code="MAIN", priority=1)
    product = ProductFactory(stock={"MAIN": 10})
    place_order(lines=[(product, 6)])
    return product, warehouse


# --- receive -------------------------------------------------------------------------------------------------

def test_staff_receive_stock(client_staff, staff_user, stock):
    product, warehouse = stock

    response = client_staff.post("/api/stock/receive/", {"sku": product.sku, "warehouse": "MAIN", "quantity": 5,
                                                         "reason": "PO 12"}, format="json")

    assert response.status_code == 200, response.content
    assert {k: response.json()[k] for k in ("sku", "warehouse", "on_hand", "allocated", "available")} == {
        "sku": product.sku, "warehouse": "MAIN", "on_hand": 15, "allocated": 6, "available": 9,
    }
    receipt = StockMovement.objects.filter(kind="receipt").latest("id")
    assert (receipt.quantity, receipt.actor, receipt.reason) == (5, staff_user, "PO 12")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"sku": "NOPE", "warehouse": "MAIN", "quantity": 5}, {"sku"}),
        ({"warehouse": "MAIN", "quantity": 5}, {"sku"}),
        ({"sku": "{sku}", "warehouse": "NOWHERE", "quantity": 5}, {"warehouse"}),
        ({"sku": "{sku}", "warehouse": "MAIN", "quantity": 0}, {"quantity"}),
        ({"sku": "{sku}", "warehouse": "MAIN", "quantity": -2}, {"quantity"}),
        ({"sku": "{sku}", "warehouse": "MAIN", "quantity": "lots"}, {"quantity"}),
    ],
    ids=["unknown-sku", "no-sku", "unknown-warehouse", "zero", "negative", "not-a-number"],
)
def test_receive_with_invalid_input_is_400_naming_fields(client_staff, stock, body, fields):
    product, warehouse = stock
    body = {k: (v.format(sku=product.sku) if isinstance(v, str) else v) for k, v in body.items()}

    response = client_staff.post("/api/stock/receive/", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert set(response.json()["extra"]["fields"]) == fields
    assert _level(product, warehouse) == (10, 6)


def test_support_agent_cannot_receive_stock(api_client, agent_user, stock):
    product, warehouse = stock
    api_client.force_authenticate(agent_user)

    response = api_client.post("/api/stock/receive/", {"sku": product.sku, "warehouse": "MAIN", "quantity": 5},
                               format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert _level(product, warehouse) == (10, 6)
    assert api_client.get("/api/stock/").status_code == 200  # they may still look


def test_customer_cannot_see_or_change_stock(client_customer, stock):
    product, _ = stock

    assert client_customer.get("/api/stock/").status_code == 403
    assert client_customer.get("/api/products/").status_code == 403
    response = client_customer.post("/api/stock/receive/", {"sku": product.sku, "warehouse": "MAIN", "quantity": 1},
                                    format="json")
    assert response.status_code == 403


# --- adjust --------------------------------------------------------------------------------------------------

def test_staff_adjust_and_write_off(client_staff, stock):
    product, warehouse = stock

    down = client_staff.post("/api/stock/adjust/", {"sku": product.sku, "warehouse": "MAIN", "delta": -2,
                                                    "reason": "count"}, format="json")
    written_off = client_staff.post("/api/stock/adjust/", {"sku": product.sku, "warehouse": "MAIN", "delta": -1,
                                                           "reason": "broken", "write_off": True}, format="json")

    assert (down.status_code, written_off.status_code) == (200, 200)
    assert written_off.json()["on_hand"] == 7
    assert _level(product, warehouse) == (7, 6)
    assert list(StockMovement.objects.filter(kind__in=["adjustment", "write_off"]).order_by("id").values_list(
        "kind", "on_hand_delta")) == [("adjustment", -2), ("write_off", -1)]


def test_adjusting_below_allocated_is_409_insufficient_stock(client_staff, stock):
    # given 10 on hand with 6 allocated
    product, warehouse = stock

    # when a count tries to remove 5 (only 4 are free)
    response = client_staff.post("/api/stock/adjust/", {"sku": product.sku, "warehouse": "MAIN", "delta": -5,
                                                        "reason": "count"}, format="json")

    # then 409 insufficient_stock naming what is free, and nothing changes
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"
    assert response.json()["extra"] == {"sku": product.sku, "warehouse": "MAIN", "available": 4}
    assert _level(product, warehouse) == (10, 6)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"delta": 0, "reason": "count"}, {"delta"}),
        ({"delta": -1}, {"reason"}),
        ({"delta": -1, "reason": ""}, {"reason"}),
        ({"delta": 1, "reason": "x", "sku": "NOPE"}, {"sku"}),
    ],
    ids=["zero-delta", "missing-reason", "blank-reason", "unknown-sku"],
)
def test_adjust_with_invalid_input_is_400(client_staff, stock, body, fields):
    product, warehouse = stock
    body = {"sku": product.sku, "warehouse": "MAIN", **body}

    response = client_staff.post("/api/stock/adjust/", body, format="json")

    assert response.status_code == 400
    assert set(response.json()["extra"]["fields"]) == fields
    assert _level(product, warehouse) == (10, 6)


def test_positive_write_off_is_400_from_the_service(client_staff, stock):
    product, warehouse = stock

    response = client_staff.post("/api/stock/adjust/", {"sku": product.sku, "warehouse": "MAIN", "delta": 2,
                                                        "reason": "x", "write_off": True}, format="json")

    assert (response.status_code, response.json()["code"]) == (400, "invalid_quantity")
    assert response.json()["extra"]["field"] == "delta"
    assert _level(product, warehouse) == (10, 6)


# --- transfer ------------------------------------------------------------------------------------------------

def test_staff_transfer_stock(client_staff, stock):
    product, source = stock
    destination = WarehouseFactory(code="SPARE", priority=9)

    response = client_staff.post("/api/stock/transfer/", {"sku": product.sku, "source": "MAIN",
                                                          "destination": "SPARE", "quantity": 3}, format="json")

    assert response.status_code == 200, response.content
    assert [(row["warehouse"], row["on_hand"]) for row in response.json()] == [("MAIN", 7), ("SPARE", 3)]
    assert (_level(product, source), _level(product, destination)) == ((7, 6), (3, 0))


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"quantity": 5}, 409, "insufficient_stock"),
        ({"quantity": 1, "destination": "MAIN"}, 400, "invalid_quantity"),
        ({"quantity": 0}, 400, "invalid"),
        ({"quantity": 1, "destination": "NOWHERE"}, 400, "invalid"),
        ({"quantity": 1, "sku": "NOPE"}, 400, "invalid"),
    ],
    ids=["more-than-free", "same-warehouse", "zero", "unknown-destination", "unknown-sku"],
)
def test_refused_transfer_changes_nothing(client_staff, stock, body, status, code):
    product, source = stock
    WarehouseFactory(code="SPARE", priority=9)
    body = {"sku": product.sku, "source": "MAIN", "destination": "SPARE", **body}

    response = client_staff.post("/api/stock/transfer/", body, format="json")

    assert (response.status_code, response.json()["code"]) == (status, code)
    assert list(StockLevel.objects.values_list("on_hand", "allocated")) == [(10, 6)]
    assert not StockMovement.objects.filter(kind="transfer").exists()


# --- reads ---------------------------------------------------------------------------------------------------

def test_stock_and_movement_lists_filter_by_sku_and_warehouse(client_staff, stock):
    product, _ = stock
    other = ProductFactory(stock={"MAIN": 4})

    levels = client_staff.get("/api/stock/", {"sku": product.sku.lower()}).json()["results"]
    movements = client_staff.get("/api/stock-movements/", {"sku": other.sku, "kind": "receipt"}).json()["results"]

    assert [(row["sku"], row["available"]) for row in levels] == [(product.sku, 4)]
    assert [(row["sku"], row["quantity"], row["actor"]) for row in movements] == [(other.sku, 4, "system")]


def test_products_are_created_and_updated_by_catalogue_managers(api_client):
    from tests.factories import StaffFactory

    client_staff = api_client
    client_staff.force_authenticate(StaffFactory(group="Catalogue managers"))
    created = client_staff.post("/api/products/", {"sku": "NEW-1", "name": "Kettle", "price": "30.00"},
                                format="json")
    updated = client_staff.patch("/api/products/NEW-1/", {"active": False}, format="json")
    negative = client_staff.post("/api/products/", {"sku": "NEW-2", "name": "Cup", "price": "-1"}, format="json")

    assert created.status_code == 201, created.content
    assert (updated.status_code, updated.json()["active"]) == (200, False)
    assert (negative.status_code, list(negative.json()["extra"]["fields"])) == (400, ["price"])


# --- query counts --------------------------------------------------------------------------------------------

def _fresh(client, user):
    """Authenticate as a freshly loaded user, so permission caches from an earlier request do not hide queries."""
    client.force_authenticate(get_user_model().objects.get(pk=user.pk))
    return client


def _grow_stock(n):
    warehouse = WarehouseFactory(code="GROW", priority=50)
    for _ in range(n):
        product = ProductFactory(stock={"GROW": 5})
        place_order(lines=[(product, 1)])
    return warehouse


@pytest.mark.parametrize("url", ["/api/products/", "/api/stock/", "/api/stock-movements/"])
def test_inventory_lists_cost_the_same_queries_for_3_and_30_rows(url, client_staff, staff_user,
                                                                 django_assert_num_queries):
    # given 3 products with stock, each with an order (so 6 movements)
    _grow_stock(3)
    _fresh(client_staff, staff_user).get(url)  # warm up caches that live for the process (content types)

    client = _fresh(client_staff, staff_user)
    with django_assert_num_queries(4) as first:  # permissions (user's, groups'), count, page
        response = client.get(url)
    assert response.status_code == 200
    rows = response.json()["count"]

    # when there are 10 times as many
    _grow_stock(27)

    # then the same number of queries serves them
    client = _fresh(client_staff, staff_user)
    with django_assert_num_queries(len(first.captured_queries)):
        response = client.get(url)
    assert response.json()["count"] == rows * 10
    assert len(response.json()["results"]) == min(rows * 10, 50)
