"""Backorders: a product sold on backorder takes orders beyond its stock; a delivery fills the waiting lines
first come first served, in the receipt's transaction, and each customer is told."""

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from inventory.errors import OutOfStock
from inventory.models import StockLevel
from inventory.services import goods_receipt_create
from orders.errors import TransitionNotAllowed
from orders.models import Allocation, Order, OrderLine
from orders.services import order_ship_items, order_transition
from tests.factories import CustomerFactory, ProductFactory, WarehouseFactory, place_order


@pytest.fixture
def berlin(db):
    return WarehouseFactory(code="BER", priority=1)


@pytest.fixture
def console(berlin):
    """A games console sold on backorder (restocked in 10 days), 2 in stock."""
    return ProductFactory(sku="CONSOLE", name="Games console", stock={"BER": 2}, allow_backorder=True,
                          restock_days=10)


def receive(quantity, sku="CONSOLE"):
    return goods_receipt_create(warehouse="BER", supplier="Acme", lines=[{"sku": sku, "quantity": quantity}])


def test_an_order_beyond_the_stock_waits_for_the_rest(console, customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(customer=customer, lines=[(console, 5)])
    line = order.lines.get()
    assert (line.backordered_quantity, line.backorder_expected_on) == (3, timezone.localdate() + timedelta(days=10))
    assert order.allocations.aggregate(n=Sum("quantity"))["n"] == 2
    placed = order.events.get(transition="place")
    assert placed.data["backordered"][0]["quantity"] == 3
    (confirmation,) = [m for m in mail.outbox if customer.email in m.to]
    assert "3 on backorder, expected around" in confirmation.body


def test_a_product_not_sold_on_backorder_is_still_out_of_stock(berlin, customer):
    mug = ProductFactory(stock={"BER": 2})
    with pytest.raises(OutOfStock):
        place_order(customer=customer, lines=[(mug, 3)])


def test_a_delivery_fills_the_waiting_lines_first_come_first_served(console, django_capture_on_commit_callbacks):
    first_customer, second_customer = CustomerFactory(), CustomerFactory()
    first = place_order(customer=first_customer, lines=[(console, 4)])  # 2 reserved, 2 waiting
    second = place_order(customer=second_customer, lines=[(console, 2)])  # all waiting
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        receive(3)
    lines = {o.pk: OrderLine.objects.get(order=o) for o in (first, second)}
    assert (lines[first.pk].backordered_quantity, lines[second.pk].backordered_quantity) == (0, 1)
    assert lines[first.pk].backorder_expected_on is None
    assert Allocation.objects.filter(order=second).aggregate(n=Sum("quantity"))["n"] == 1
    level = StockLevel.objects.get(product=console)
    assert (level.on_hand, level.allocated) == (5, 5)
    note = second.events.get(kind="note")
    assert note.data["backorder_allocated"] == [{"sku": "CONSOLE", "name": "Games console", "quantity": 1,
                                                 "still_waiting": 1}]
    (told,) = [m for m in mail.outbox if second_customer.email in m.to]
    assert "1 × Games console (1 still on backorder)" in told.body


def test_a_cancelled_order_stops_waiting(console, customer, manager_user):
    order = place_order(customer=customer, lines=[(console, 4)])
    order_transition(order=order.number, name="cancel", actor=manager_user, reason="Changed my mind")
    assert OrderLine.objects.get(order=order).backordered_quantity == 0
    receive(5)
    assert StockLevel.objects.get(product=console).allocated == 0


def test_nothing_ships_as_complete_while_units_are_on_backorder(console, customer, manager_user):
    order = place_order(customer=customer, lines=[(console, 3)])
    for name in ("confirm", "start_processing", "pack"):
        order_transition(order=order.number, name=name, check_permission=False)
    with pytest.raises(TransitionNotAllowed, match="on backorder"):
        order_transition(order=order.number, name="ship", actor=manager_user, reason="by hand")
    allocation = order.allocations.get()
    order = order_ship_items(order=order.number, items=[(allocation.line_id, allocation.warehouse_id, 2)])
    assert order.status == Order.Status.PARTIALLY_SHIPPED


def test_the_api_and_the_order_page_say_what_waits(console, client_customer, customer, admin_client):
    order = place_order(customer=customer, lines=[(console, 5)])
    body = client_customer.get(f"/api/orders/{order.number}/").json()
    assert body["lines"][0]["backordered_quantity"] == 3 and body["lines"][0]["backorder_expected_on"]
    assert "3 on backorder" in admin_client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_delivery_and_new_orders_at_once_never_reserve_a_unit_twice(postgres):
    WarehouseFactory(code="BER", priority=1)
    console = ProductFactory(sku="CONSOLE", stock={"BER": 1}, allow_backorder=True)
    waiting = [place_order(customer=CustomerFactory(), lines=[(console, 2)]) for _ in range(3)]
    barrier, errors = threading.Barrier(4), []

    def work(i):
        try:
            barrier.wait(timeout=10)
            if i == 0:
                receive(4)
            else:
                place_order(customer=CustomerFactory(), lines=[(console, 1)])
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    level = StockLevel.objects.get(product=console)
    reserved = Allocation.objects.filter(product=console).aggregate(n=Sum("quantity"))["n"]
    assert level.on_hand == 5 and level.allocated == reserved <= level.on_hand
    for line in OrderLine.objects.filter(product=console):
        line_reserved = Allocation.objects.filter(line=line).aggregate(n=Sum("quantity"))["n"] or 0
        assert line_reserved + line.backordered_quantity == line.quantity
    # the delivery went to the oldest waiting lines first
    first = OrderLine.objects.get(order=waiting[0])
    assert first.backordered_quantity == 0
