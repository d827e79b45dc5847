"""The inventory admin: pages load, stock actions go through the ledger services, and only for warehouse staff."""

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inventory.models import LowStockAlert, StockLevel, StockMovement
from inventory.selectors import ledger_totals
from tests.factories import ProductFactory, place_order


def stock_changelist() -> str:
    return reverse("admin:inventory_stocklevel_changelist")


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def ledger_matches_levels() -> bool:
    totals = ledger_totals()
    return all(totals[(lv.product_id, lv.warehouse_id)] == (lv.on_hand, lv.allocated)
               for lv in StockLevel.objects.all())


@pytest.fixture
def level(db):
    product = ProductFactory(stock={"MAIN": 10}, low_stock_threshold=2)
    return product.stock_levels.get()


def test_every_inventory_admin_page_loads_for_superuser(admin_client, level, customer):
    # given a product with stock, a movement and an open low-stock alert
    product = level.product
    place_order(customer=customer, lines=[(product, 9)])
    alert = LowStockAlert.objects.get(product=product)
    movement = StockMovement.objects.filter(product=product).first()

    # when the superuser opens every inventory admin page
    urls = [
        reverse("admin:inventory_product_changelist"),
        reverse("admin:inventory_product_change", args=[product.pk]),
        reverse("admin:inventory_warehouse_changelist"),
        reverse("admin:inventory_warehouse_change", args=[level.warehouse.pk]),
        stock_changelist(),
        reverse("admin:inventory_stocklevel_change", args=[level.pk]),
        reverse("admin:inventory_stockmovement_changelist"),
        reverse("admin:inventory_stockmovement_change", args=[movement.pk]),
        reverse("admin:inventory_lowstockalert_changelist"),
        reverse("admin:inventory_lowstockalert_change", args=[alert.pk]),
    ]

    # then each one answers 200
    assert {url: admin_client.get(url).status_code for url in urls} == {url: 200 for url in urls}


@pytest.mark.parametrize("name", ["stocklevel", "stockmovement"])
def test_stock_changelists_queries_do_not_grow(admin_client, name):
    # given 3 products with stock (a level and a receipt each)
    url = reverse(f"admin:inventory_{name}_changelist")
    ProductFactory.create_batch(3, stock={"MAIN": 5})
    admin_client.get(url)
    with CaptureQueriesContext(connection) as with_3:
        admin_client.get(url)

    # when there are 30
    ProductFactory.create_batch(27, stock={"MAIN": 5})
    with CaptureQueriesContext(connection) as with_30:
        response = admin_client.get(url)

    # then the page shows them all with the same number of queries
    assert len(response.context["cl"].result_list) == 30
    assert len(with_30) == len(with_3), [q["sql"] for q in with_30.captured_queries]


def test_receive_action_writes_a_ledger_movement(client, staff_user, level):
    # given warehouse staff on the stock levels page
    client.force_login(staff_user)
    form = {"action": "receive_stock", "_selected_action": [level.pk]}
    assert client.post(stock_changelist(), form).status_code == 200  # the quantity form

    # when they receive 7 units
    response = client.post(stock_changelist(), {**form, "apply": "1", "quantity": "7", "reason": "Delivery 4711"})

    # then on hand grows by 7 through a receipt in the ledger, signed by them
    assert response.status_code == 302
    level.refresh_from_db()
    assert level.on_hand == 17
    receipt = StockMovement.objects.filter(product=level.product).first()
    assert (receipt.kind, receipt.quantity, receipt.on_hand_delta, receipt.reason, receipt.actor) == (
        "receipt", 7, 7, "Delivery 4711", staff_user)
    assert ledger_matches_levels()
    assert "Receive stock: 1 stock level(s) updated." in messages_of(response)


def test_adjust_action_writes_off_with_a_reason(client, staff_user, level):
    # given warehouse staff
    client.force_login(staff_user)
    form = {"action": "adjust_stock", "_selected_action": [level.pk], "apply": "1"}

    # when they write off 3 damaged units
    client.post(stock_changelist(), {**form, "quantity": "-3", "reason": "Crushed in transit", "write_off": "on"})

    # then a write-off movement takes them off on hand
    level.refresh_from_db()
    movement = StockMovement.objects.filter(product=level.product).first()
    assert level.on_hand == 7
    assert (movement.kind, movement.on_hand_delta, movement.reason) == ("write_off", -3, "Crushed in transit")
    assert ledger_matches_levels()


def test_adjust_action_without_reason_is_refused(client, staff_user, level):
    # given warehouse staff
    client.force_login(staff_user)
    before = StockMovement.objects.count()

    # when they adjust without saying why
    response = client.post(stock_changelist(), {"action": "adjust_stock", "_selected_action": [level.pk],
                                                 "apply": "1", "quantity": "-2", "reason": ""})

    # then nothing changes and the service's message is shown
    level.refresh_from_db()
    assert level.on_hand == 10
    assert StockMovement.objects.count() == before
    assert any("reason is required" in m for m in messages_of(response))


def test_adjust_cannot_remove_allocated_units(client, staff_user, level, customer):
    # given 8 of the 10 units allocated to an order
    place_order(customer=customer, lines=[(level.product, 8)])
    client.force_login(staff_user)

    # when staff try to remove 5
    response = client.post(stock_changelist(), {"action": "adjust_stock", "_selected_action": [level.pk],
                                                 "apply": "1", "quantity": "-5", "reason": "Recount"})

    # then the ledger refuses and says how many are free
    level.refresh_from_db()
    assert (level.on_hand, level.allocated) == (10, 8)
    assert any("Only 2 unallocated unit(s)" in m for m in messages_of(response))


def test_support_agent_cannot_see_or_use_the_stock_actions(client, agent_user, level):
    # given a support agent (may view stock, not change it)
    client.force_login(agent_user)

    # when they open the stock levels page and try the adjust action anyway
    page = client.get(stock_changelist())
    client.post(stock_changelist(), {"action": "adjust_stock", "_selected_action": [level.pk],
                                               "apply": "1", "quantity": "-5", "reason": "x"})

    # then the actions are not offered and the stock is untouched
    assert page.status_code == 200
    content = page.content.decode()
    assert "adjust_stock" not in content and "receive_stock" not in content
    level.refresh_from_db()
    assert level.on_hand == 10
    assert StockMovement.objects.filter(product=level.product).count() == 1


def test_warehouse_staff_see_the_stock_actions(client, staff_user, level):
    # given warehouse staff
    client.force_login(staff_user)

    # when they open the stock levels page
    content = client.get(stock_changelist()).content.decode()

    # then both actions are offered
    assert 'value="adjust_stock"' in content and 'value="receive_stock"' in content
