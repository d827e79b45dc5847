"""Real threads, real transactions, real PostgreSQL: no oversell, one order per idempotency key, one transition
per press, deadlocks retried, and a ledger that stays whole under mixed work."""

import threading
from collections import Counter

import pytest
from django.db import connection, models
from rest_framework.test import APIClient

from inventory.errors import OutOfStock
from inventory.models import LowStockAlert, StockLevel, StockMovement, Warehouse
from inventory.selectors import ledger_totals
from orders.models import IdempotencyKey, IdempotentResponse, Order
from tests.factories import ADDRESS, CustomerFactory, ProductFactory, WarehouseFactory, order_payload

pytestmark = pytest.mark.django_db(transaction=True)


def run_together(count, work):
    """Run work(i) in `count` threads released at once; each thread uses (and closes) its own connection.

    Returns the results in thread order: the return value, or the exception raised.
    """
    barrier = threading.Barrier(count)
    results = [None] * count

    def target(i):
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - the test inspects what each thread got
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results


def _assert_ledger_matches_levels():
    totals = ledger_totals()
    for level in StockLevel.objects.all():
        assert totals.get((level.product_id, level.warehouse_id), (0, 0)) == (level.on_hand, level.allocated)
        assert 0 <= level.allocated <= level.on_hand


def _place(customer, lines):
    from orders.services import order_place

    order, _created = order_place(
        customer=customer, email=customer.email, shipping_address=dict(ADDRESS),
        lines=[{"sku": p.sku, "quantity": q} for p, q in lines], actor=customer,
    )
    return order


def test_fifty_buyers_for_ten_units_never_oversell(postgres):
    # given exactly 10 units left of a SKU and 50 customers
    product = ProductFactory(stock=10, low_stock_threshold=0)
    buyers = CustomerFactory.create_batch(50)

    # when they all try to buy 1 unit at the same moment
    results = run_together(50, lambda i: _place(buyers[i], [(product, 1)]))

    # then exactly 10 succeed and 40 are told the SKU is out of stock, with what is available
    placed = [r for r in results if isinstance(r, Order)]
    refused = [r for r in results if isinstance(r, OutOfStock)]
    assert (len(placed), len(refused)) == (10, 40), Counter(type(r).__name__ for r in results)
    for error in refused:
        assert (error.extra["sku"], error.extra["requested"], error.extra["available"]) == (product.sku, 1, 0)
        assert product.sku in error.message and "0 available" in error.message

    # and the stock is fully allocated, never beyond, and the ledger agrees
    level = StockLevel.objects.get(product=product)
    assert (level.on_hand, level.allocated) == (10, 10)
    assert Order.objects.count() == 10
    assert StockMovement.objects.filter(kind="allocation").count() == 10
    _assert_ledger_matches_levels()


def test_buyers_of_two_skus_in_opposite_line_orders_neither_deadlock_nor_oversell(postgres):
    # given two SKUs with 10 units each, split over two warehouses
    WarehouseFactory(code="EAST", priority=1), WarehouseFactory(code="WEST", priority=2)
    shirt = ProductFactory(stock={"EAST": 6, "WEST": 4}, low_stock_threshold=0)
    mug = ProductFactory(stock={"EAST": 4, "WEST": 6}, low_stock_threshold=0)
    buyers = CustomerFactory.create_batch(30)

    # when 30 customers order one of each at once, half listing the shirt first and half the mug first
    def buy(i):
        lines = [(shirt, 1), (mug, 1)] if i % 2 else [(mug, 1), (shirt, 1)]
        return _place(buyers[i], lines)

    results = run_together(30, buy)

    # then only out-of-stock refusals reach the callers (no deadlock errors) and 10 orders got both units
    errors = [r for r in results if not isinstance(r, Order)]
    assert all(isinstance(e, OutOfStock) for e in errors), [repr(e) for e in errors]
    assert (len(results) - len(errors), len(errors)) == (10, 20)
    for product in (shirt, mug):
        levels = StockLevel.objects.filter(product=product)
        assert sum(lv.on_hand for lv in levels) == 10
        assert sum(lv.allocated for lv in levels) == 10
    for order in Order.objects.all():
        assert sorted(order.lines.values_list("quantity", flat=True)) == [1, 1]
        assert sum(order.allocations.values_list("quantity", flat=True)) == 2
    _assert_ledger_matches_levels()


def test_concurrent_retries_with_one_idempotency_key_create_one_order(postgres):
    # given one customer about to send the same request ten times at once
    customer = CustomerFactory()
    product = ProductFactory(stock=50, low_stock_threshold=0)
    payload = order_payload((product, 2))

    # when ten requests with the same Idempotency-Key race
    def post(_i):
        client = APIClient()
        client.force_authenticate(customer)
        response = client.post("/api/orders/", payload, format="json", headers={"Idempotency-Key": "retry-me"})
        return response.status_code, response.json()

    results = run_together(10, post)

    # then every request gets 201 and the same order number; one order and one allocation exist
    assert all(not isinstance(r, BaseException) for r in results), results
    assert {status for status, _ in results} == {201}
    numbers = {body["number"] for _, body in results}
    assert len(numbers) == 1
    assert list(Order.objects.values_list("number", flat=True)) == list(numbers)
    # one key was claimed, once: the request's, kept with its answer (the order's own key is for service callers)
    assert (IdempotentResponse.objects.count(), IdempotencyKey.objects.count()) == (1, 0)
    assert StockLevel.objects.get(product=product).allocated == 2
    _assert_ledger_matches_levels()


def test_a_deadlock_is_retried_as_a_whole_and_never_reaches_the_caller(postgres):
    from config.db import atomic_service

    # given two stock rows and two workers that lock them in opposite orders (as no service of ours does)
    first, second = ProductFactory(stock=5), ProductFactory(stock=5)
    pks = [StockLevel.objects.get(product=first).pk, StockLevel.objects.get(product=second).pk]
    attempts = Counter()
    both_hold_one = threading.Barrier(2)

    @atomic_service
    def lock_both(i):
        attempts[i] += 1
        order = pks if i == 0 else pks[::-1]
        StockLevel.objects.select_for_update().get(pk=order[0])
        if attempts[i] == 1:
            both_hold_one.wait(timeout=10)  # make sure the first attempts really cross
        StockLevel.objects.select_for_update().get(pk=order[1])
        StockLevel.objects.filter(pk__in=pks).update(on_hand=models.F("on_hand") + 1)
        return "done"

    # when they run at once, PostgreSQL kills one of them as a deadlock victim
    results = run_together(2, lock_both)

    # then the victim's whole service ran again, both callers got their result, and both updates are there
    assert results == ["done", "done"], results
    assert sorted(attempts.values()) == [1, 2]
    assert sorted(StockLevel.objects.values_list("on_hand", flat=True)) == [7, 7]


def test_the_same_transition_fired_twice_at_once_happens_once(postgres):
    from orders.errors import TransitionNotAllowed
    from orders.services import order_transition

    # given a placed order and eight people pressing Confirm at the same moment
    order = _place(CustomerFactory(), [(ProductFactory(stock=5, low_stock_threshold=0), 1)])

    results = run_together(8, lambda i: order_transition(order=order.number, name="confirm", check_permission=False))

    # then one confirms it, the others are told it is no longer allowed, and the timeline has one confirmation
    assert sum(isinstance(r, Order) for r in results) == 1
    assert sum(isinstance(r, TransitionNotAllowed) for r in results) == 7, [repr(r) for r in results]
    assert Order.objects.get(pk=order.pk).status == "confirmed"
    assert order.events.filter(transition="confirm").count() == 1


def test_mixed_stock_work_at_once_keeps_the_ledger_whole(postgres):
    from config.errors import DomainError
    from inventory.services import stock_adjust, stock_receive, stock_transfer
    from orders.services import order_transition

    # given two products in three warehouses, and some orders already placed
    WarehouseFactory(code="M1", priority=1), WarehouseFactory(code="M2", priority=2)
    WarehouseFactory(code="M3", priority=3)
    warehouses = list(Warehouse.objects.filter(code__in=["M1", "M2", "M3"]).order_by("priority"))
    products = [ProductFactory(stock={"M1": 6, "M2": 3}, low_stock_threshold=4),
                ProductFactory(stock={"M2": 5, "M3": 5}, low_stock_threshold=4)]
    buyers = CustomerFactory.create_batch(8)
    existing = [_place(buyers[i], [(products[i % 2], 1)]) for i in range(4)]

    # when 24 workers at once receive, count, write off, transfer, order and cancel
    def work(i):
        product, warehouse = products[i % 2], warehouses[i % 3]
        kind = i % 6
        try:
            if kind == 0:
                return stock_receive(product=product, warehouse=warehouse, quantity=3)
            if kind == 1:
                return stock_adjust(product=product, warehouse=warehouse, delta=-1, reason="count")
            if kind == 2:
                return stock_adjust(product=product, warehouse=warehouse, delta=-1, reason="broken", write_off=True)
            if kind == 3:
                return stock_transfer(product=product, source=warehouse, destination=warehouses[(i + 1) % 3],
                                      quantity=2)
            if kind == 4:
                return _place(buyers[i % 8], [(products[0], 1), (products[1], 1)])
            return order_transition(order=existing[i % 4].number, name="cancel", reason="race",
                                    check_permission=False)
        except DomainError as refused:
            return refused

    results = run_together(24, work)

    # then every worker either did its job or was refused cleanly (no deadlock or constraint error escaped),
    # and the ledger still adds up to every level
    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, DomainError)]
    assert not unexpected, [repr(r) for r in unexpected]
    _assert_ledger_matches_levels()
    open_alerts = Counter(LowStockAlert.objects.filter(resolved_at__isnull=True).values_list("product", flat=True))
    assert all(count == 1 for count in open_alerts.values())


def test_stock_taken_by_another_order_since_it_was_read_is_chosen_again_from_the_locked_rows(postgres, monkeypatch):
    # given a product at two warehouses, the first with just enough for one order
    from inventory import selectors
    from orders import services

    WarehouseFactory(code="W1", priority=1), WarehouseFactory(code="W2", priority=2)
    product = ProductFactory(stock={"W1": 2, "W2": 5}, low_stock_threshold=0)
    first, second = CustomerFactory(), CustomerFactory()
    read = selectors.product_offers

    def read_then_someone_else_buys(**kwargs):
        offers = read(**kwargs)  # the levels as read: W1 has 2
        if kwargs["skus"] == [product.sku] and not getattr(read_then_someone_else_buys, "done", False):
            read_then_someone_else_buys.done = True
            results = run_together(1, lambda _i: _place(second, [(product, 2)]))  # commits on its own connection
            assert isinstance(results[0], Order), results
        return offers

    monkeypatch.setattr(services, "product_offers", read_then_someone_else_buys)

    # when the first order is placed from levels that are stale by the time it locks them
    order = _place(first, [(product, 2)])

    # then the other order got W1's units, this one was allocated from W2, and the ledger is whole
    assert list(order.allocations.values_list("warehouse__code", "quantity")) == [("W2", 2)]
    levels = {lv.warehouse.code: (lv.on_hand, lv.allocated) for lv in StockLevel.objects.filter(product=product)}
    assert levels == {"W1": (2, 2), "W2": (5, 2)}
    assert StockMovement.objects.filter(kind="allocation", reference_id=order.pk).count() == 1
    _assert_ledger_matches_levels()


def test_an_api_answer_kept_before_its_stock_was_chosen_again_is_kept_again_as_sent(postgres, monkeypatch,
                                                                                    staff_user):
    # given a product at two warehouses, the first with just enough for one order, and a staff client with a key
    from inventory import selectors
    from orders import services

    WarehouseFactory(code="W1", priority=1), WarehouseFactory(code="W2", priority=2)
    product = ProductFactory(stock={"W1": 2, "W2": 5}, low_stock_threshold=0)
    other = CustomerFactory()
    read = selectors.product_offers

    def read_then_someone_else_buys(**kwargs):
        offers = read(**kwargs)  # the levels as read: W1 has 2, and the answer is first kept from that plan
        if kwargs["skus"] == [product.sku] and not getattr(read_then_someone_else_buys, "done", False):
            read_then_someone_else_buys.done = True
            assert isinstance(run_together(1, lambda _i: _place(other, [(product, 2)]))[0], Order)
        return offers

    monkeypatch.setattr(services, "product_offers", read_then_someone_else_buys)
    client = APIClient()
    client.force_authenticate(staff_user)
    payload = order_payload((product, 2), email="guest@example.com")

    # when the order is placed from levels that went stale, and the request is retried
    first = client.post("/api/orders/", payload, format="json", headers={"Idempotency-Key": "stale"})
    again = client.post("/api/orders/", payload, format="json", headers={"Idempotency-Key": "stale"})

    # then the answer names the warehouse the stock came from in the end, and the retry gets that answer
    assert first.status_code == 201, first.content
    assert [(a["warehouse"], a["quantity"]) for a in first.json()["allocations"]] == [("W2", 2)]
    assert again["Idempotent-Replayed"] == "true" and again.content == first.content
    kept = IdempotentResponse.objects.get(key="stale")
    assert kept.content.encode() == first.content and kept.body["allocations"] == first.json()["allocations"]


def test_concurrent_service_calls_with_one_idempotency_key_place_one_order(postgres):
    from orders.services import order_place

    customer = CustomerFactory()
    product = ProductFactory(stock=50, low_stock_threshold=0)

    def place(_i):
        order, created = order_place(customer=customer, email=customer.email, shipping_address=dict(ADDRESS),
                                     lines=[{"sku": product.sku, "quantity": 1}], actor=customer,
                                     idempotency_key="same", fingerprint="body")
        return order.number, created

    results = run_together(8, place)

    assert all(not isinstance(r, BaseException) for r in results), results
    assert len({number for number, _ in results}) == 1 and sum(created for _, created in results) == 1
    assert (Order.objects.count(), IdempotencyKey.objects.count()) == (1, 1)
    assert StockLevel.objects.get(product=product).allocated == 1
    _assert_ledger_matches_levels()


def test_buyers_of_two_products_at_two_warehouses_near_sell_out_neither_oversell_nor_deadlock(postgres):
    # given two products with a few units at each of two warehouses, and buyers of both at once: plans made from
    # levels read without a lock go stale while others take the stock, and are chosen again from the locked rows
    WarehouseFactory(code="H1", priority=1), WarehouseFactory(code="H2", priority=2)
    shirt = ProductFactory(stock={"H1": 3, "H2": 4}, low_stock_threshold=0)
    mug = ProductFactory(stock={"H1": 4, "H2": 3}, low_stock_threshold=0)
    buyers = CustomerFactory.create_batch(24)

    def buy(i):
        lines = [(shirt, 1), (mug, 1)] if i % 3 == 0 else [(shirt if i % 2 else mug, 1)]
        return _place(buyers[i], lines[::-1] if i % 4 == 0 else lines)

    results = run_together(24, buy)

    # then only out-of-stock refusals reach the buyers, and exactly the units there were are allocated
    errors = [r for r in results if not isinstance(r, Order)]
    assert all(isinstance(e, OutOfStock) for e in errors), [repr(e) for e in errors]
    for product in (shirt, mug):
        levels = StockLevel.objects.filter(product=product)
        sold = sum(line.quantity for order in Order.objects.all() for line in order.lines.filter(product=product))
        assert sum(lv.allocated for lv in levels) == sold == 7
        assert all(0 <= lv.allocated <= lv.on_hand for lv in levels)
    _assert_ledger_matches_levels()
