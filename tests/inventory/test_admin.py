"""The inventory admin: pages load, stock actions go through the ledger services, and only for warehouse staff."""

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inventory.models import LowStockAlert, StockLevel, StockMovement
from inventory.selectors import ledger_totals
from inventory.services import stock_receive
from tests.factories import ProductFactory, WarehouseFactory, place_order


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


def test_each_selected_level_gets_its_own_change(client, staff_user, level):
    # given three levels of one product, selected together (the old action added one number to every row)
    other = WarehouseFactory(code="SIDE", priority=9)
    third = WarehouseFactory(code="BACK", priority=10)
    product = level.product
    for warehouse, quantity in ((other, 4), (third, 6)):
        stock_receive(product=product, warehouse=warehouse, quantity=quantity)
    levels = list(StockLevel.objects.filter(product=product).order_by("pk"))
    client.force_login(staff_user)
    form = {"action": "adjust_stock", "_selected_action": [lv.pk for lv in levels], "apply": "1",
            "reason": "Cycle count", f"quantity_{levels[0].pk}": "-2", f"quantity_{levels[1].pk}": "3",
            f"quantity_{levels[2].pk}": ""}
    # when each gets its own count difference
    response = client.post(stock_changelist(), form)
    # then each changes by its own amount, and the blank one not at all
    assert response.status_code == 302
    assert [StockLevel.objects.get(pk=lv.pk).on_hand for lv in levels] == [8, 7, 6]
    assert ledger_matches_levels()
    assert "Adjust stock: 2 stock level(s) updated." in messages_of(response)


def test_adjust_action_writes_off_with_a_reason(client, staff_user, level):
    # given warehouse staff
    client.force_login(staff_user)
    form = {"action": "adjust_stock", "_selected_action": [level.pk], "apply": "1"}

    # when they write off 3 damaged units
    client.post(stock_changelist(), {**form, f"quantity_{level.pk}": "-3", "reason": "Crushed in transit",
                                     "write_off": "on"})

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
                                                 "apply": "1", f"quantity_{level.pk}": "-2", "reason": ""})

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
                                                 "apply": "1", f"quantity_{level.pk}": "-5", "reason": "Recount"})

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
                                               "apply": "1", f"quantity_{level.pk}": "-5", "reason": "x"})

    # then the actions are not offered and the stock is untouched
    assert page.status_code == 200
    content = page.content.decode()
    assert "adjust_stock" not in content
    level.refresh_from_db()
    assert level.on_hand == 10
    assert StockMovement.objects.filter(product=level.product).count() == 1


def test_warehouse_staff_see_the_stock_actions(client, staff_user, level):
    # given warehouse staff
    client.force_login(staff_user)

    # when they open the stock levels page
    content = client.get(stock_changelist()).content.decode()

    # then the adjustment is offered (goods arrive as goods receipts, a quantity per line)
    assert 'value="adjust_stock"' in content and 'value="receive_stock"' not in content
