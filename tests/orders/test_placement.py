"""order_place: warehouse choice, refusals that write nothing, frozen prices, low-stock alerts, query cost."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.signals import receivers_muted
from inventory.errors import OutOfStock
from inventory.models import LowStockAlert, StockLevel, StockMovement
from inventory.services import stock_receive
from inventory.signals import low_stock_alerts_raised
from orders.errors import InvalidOrder
from orders.models import Order, OrderEvent, OrderLine
from orders.services import order_place, order_transition
from orders.signals import order_event_recorded
from tests.factories import ADDRESS, CustomerFactory, ProductFactory, WarehouseFactory, place_order

pytestmark = pytest.mark.django_db


def _allocations(order):
    return sorted(order.allocations.values_list("product__sku", "warehouse__code", "quantity"))


def _written():
    return (Order.objects.count(), OrderLine.objects.count(), OrderEvent.objects.count(),
            StockMovement.objects.count(), list(StockLevel.objects.order_by("pk").values_list("allocated", flat=True)))


# --- where stock is taken from ------------------------------------------------------------------------------

def test_the_first_warehouse_by_priority_number_that_has_everything_supplies_the_order():
    # given three warehouses; the one created first has the worst priority, the best one lacks a product
    WarehouseFactory(code="AAA", priority=30)
    WarehouseFactory(code="ZZZ", priority=1)
    WarehouseFactory(code="MMM", priority=20)
    shirt = ProductFactory(stock={"AAA": 10, "ZZZ": 10, "MMM": 10})
    mug = ProductFactory(stock={"AAA": 10, "MMM": 10})

    # when an order asks for both
    order = place_order(lines=[(shirt, 2), (mug, 3)])

    # then the best-priority warehouse that can supply the whole order (MMM, priority 20) ships all of it
    assert _allocations(order) == sorted([(mug.sku, "MMM", 3), (shirt.sku, "MMM", 2)])


def test_whole_order_goes_to_the_top_warehouse_when_it_can():
    WarehouseFactory(code="TOP", priority=1), WarehouseFactory(code="LOW", priority=2)
    shirt = ProductFactory(stock={"TOP": 5, "LOW": 50})
    mug = ProductFactory(stock={"TOP": 5, "LOW": 50})

    order = place_order(lines=[(shirt, 5), (mug, 5)])

    assert _allocations(order) == sorted([(mug.sku, "TOP", 5), (shirt.sku, "TOP", 5)])


def test_without_a_warehouse_for_everything_each_line_goes_to_its_best_warehouse():
    # given the shirt only in the north, the mug in both but mostly in the south
    WarehouseFactory(code="N", priority=1), WarehouseFactory(code="S", priority=2)
    shirt = ProductFactory(stock={"N": 10})
    mug = ProductFactory(stock={"N": 1, "S": 10})

    # when an order asks for 2 shirts and 3 mugs
    order = place_order(lines=[(shirt, 2), (mug, 3)])

    # then the order is split by line: shirts from N, mugs wholly from S (not 1 from N + 2 from S)
    assert _allocations(order) == sorted([(mug.sku, "S", 3), (shirt.sku, "N", 2)])


def test_a_line_no_warehouse_can_supply_alone_is_split_in_priority_order():
    # given 3 + 4 + 5 units over three warehouses
    WarehouseFactory(code="P1", priority=1), WarehouseFactory(code="P2", priority=2)
    WarehouseFactory(code="P3", priority=3)
    product = ProductFactory(stock={"P3": 5, "P1": 3, "P2": 4})

    # when 9 are ordered
    order = place_order(lines=[(product, 9)])

    # then P1 and P2 give all they have and P3 the rest
    assert _allocations(order) == [(product.sku, "P1", 3), (product.sku, "P2", 4), (product.sku, "P3", 2)]
    line = order.lines.get()
    assert set(order.allocations.values_list("line", flat=True)) == {line.pk}


def test_inactive_warehouses_are_not_used():
    closed = WarehouseFactory(code="CLOSED", priority=1)
    WarehouseFactory(code="OPEN", priority=2)
    product = ProductFactory(stock={"CLOSED": 10, "OPEN": 2})
    closed.active = False
    closed.save()

    order = place_order(lines=[(product, 2)])
    assert _allocations(order) == [(product.sku, "OPEN", 2)]
    with pytest.raises(OutOfStock) as refused:
        place_order(lines=[(product, 1)])
    assert refused.value.extra["available"] == 0


def test_out_of_stock_names_the_line_and_writes_nothing():
    # given 5 shirts over two warehouses and plenty of mugs
    WarehouseFactory(code="X1", priority=1), WarehouseFactory(code="X2", priority=2)
    shirt = ProductFactory(stock={"X1": 2, "X2": 3})
    mug = ProductFactory(stock={"X1": 10})
    before = _written()

    # when 6 shirts are ordered with a mug
    with pytest.raises(OutOfStock) as refused:
        place_order(lines=[(mug, 1), (shirt, 6)])

    # then the error names the shirt, what was asked and what there is, and nothing is written
    assert {k: refused.value.extra[k] for k in ("sku", "requested", "available")} == {
        "sku": shirt.sku, "requested": 6, "available": 5,
    }
    assert _written() == before


# --- refusals ------------------------------------------------------------------------------------------------

def _place(lines, **overrides):
    fields = {"customer": None, "email": "buyer@example.com", "shipping_address": dict(ADDRESS), "lines": lines}
    fields.update(overrides)
    return order_place(**fields)


@pytest.mark.parametrize(
    ("case", "expected_fields"),
    [
        ("unknown_sku", {"lines[1].sku"}),
        ("inactive_product", {"lines[0].sku"}),
        ("duplicate_sku", {"lines[1].sku"}),
        ("zero_quantity", {"lines[0].quantity"}),
        ("fractional_quantity", {"lines[0].quantity"}),
        ("no_lines", {"lines"}),
        ("bad_country", {"shipping_address.country"}),
        ("missing_address_fields", {"shipping_address.line1", "shipping_address.city"}),
        ("unknown_address_field", {"shipping_address.planet"}),
        ("bad_email", {"email"}),
        ("bad_phone", {"phone"}),
        ("negative_shipping", {"shipping_total"}),
    ],
)
def test_service_refuses_invalid_orders_naming_the_fields(case, expected_fields):
    # given a sellable and a retired product
    product = ProductFactory(stock=10)
    retired = ProductFactory(stock=10, active=False)
    lines = [{"sku": product.sku, "quantity": 1}]
    overrides = {}
    address = dict(ADDRESS)
    if case == "unknown_sku":
        lines.append({"sku": "NOPE", "quantity": 1})
    elif case == "inactive_product":
        lines = [{"sku": retired.sku, "quantity": 1}]
    elif case == "duplicate_sku":
        lines.append({"sku": product.sku, "quantity": 2})
    elif case == "zero_quantity":
        lines[0]["quantity"] = 0
    elif case == "fractional_quantity":
        lines[0]["quantity"] = 1.5
    elif case == "no_lines":
        lines = []
    elif case == "bad_country":
        address["country"] = "XX"
    elif case == "missing_address_fields":
        del address["line1"], address["city"]
    elif case == "unknown_address_field":
        address["planet"] = "Mars"
    elif case == "bad_email":
        overrides["email"] = "nobody"
    elif case == "bad_phone":
        overrides["phone"] = "call me maybe"
    elif case == "negative_shipping":
        overrides["shipping_total"] = Decimal("-1")
    before = _written()

    # when the service is asked to place it
    with pytest.raises(InvalidOrder) as refused:
        _place(lines, shipping_address=address, **overrides)

    # then it names the fields and writes nothing
    assert set(refused.value.extra["fields"]) == expected_fields
    assert refused.value.http_status == 400
    assert _written() == before


# --- prices ------------------------------------------------------------------------------------------------

def test_prices_are_frozen_on_the_order():
    # given an order for 2 at 10.00 plus 4.95 shipping
    product = ProductFactory(stock=10, price=Decimal("10.00"))
    order = place_order(lines=[(product, 2)], shipping_total=Decimal("4.95"))

    # when the catalogue price changes
    product.price = Decimal("99.00")
    product.save()

    # then the order keeps the price it was sold at; a new order gets the new one
    stored = Order.objects.get(pk=order.pk)
    line = stored.lines.get()
    assert (line.unit_price, line.line_total) == (Decimal("10.00"), Decimal("20.00"))
    assert (stored.subtotal, stored.total) == (Decimal("20.00"), Decimal("24.95"))
    assert place_order(lines=[(product, 1)]).lines.get().unit_price == Decimal("99.00")


def test_line_keeps_the_product_name_it_was_sold_under():
    product = ProductFactory(stock=10, name="Blue mug")
    order = place_order(lines=[(product, 1)])

    product.name = "Navy mug"
    product.save()

    assert order.lines.get().name == "Blue mug"


# --- low-stock alerts ---------------------------------------------------------------------------------------

def test_low_stock_alert_is_raised_once_and_resolved_when_stock_arrives(django_capture_on_commit_callbacks):
    # given 10 units with an alert threshold of 3, and someone listening for alerts
    warehouse = WarehouseFactory()
    product = ProductFactory(stock=10, low_stock_threshold=3)
    raised = []

    def listen(sender, alerts, **kwargs):
        raised.extend(alert.product_id for alert in alerts)

    low_stock_alerts_raised.connect(listen)
    try:
        # when an order leaves 4 available: no alert yet
        place_order(lines=[(product, 6)])
        assert not LowStockAlert.objects.exists()

        # when the next order leaves 3 (the threshold): one alert, with the numbers
        place_order(lines=[(product, 1)])
        alert = LowStockAlert.objects.get()
        assert (alert.available, alert.threshold, alert.is_open) == (3, 3, True)
        assert raised == [product.pk]

        # when more orders take it lower: still that one alert
        place_order(lines=[(product, 1)])
        place_order(lines=[(product, 2)])
        assert LowStockAlert.objects.count() == 1
        assert raised == [product.pk]

        # when stock arrives above the threshold: resolved
        stock_receive(product=product, warehouse=warehouse, quantity=10, reason="delivery")
        alert.refresh_from_db()
        assert alert.resolved_at is not None
        assert not LowStockAlert.objects.filter(resolved_at__isnull=True).exists()

        # when it falls again: a new alert
        place_order(lines=[(product, 8)])
        assert LowStockAlert.objects.filter(resolved_at__isnull=True).count() == 1
        assert LowStockAlert.objects.count() == 2
        assert raised == [product.pk, product.pk]
    finally:
        low_stock_alerts_raised.disconnect(listen)


def test_cancelling_resolves_the_alert_when_stock_is_back_above_the_threshold(manager_user):
    product = ProductFactory(stock=5, low_stock_threshold=2)
    order = place_order(lines=[(product, 4)])
    assert LowStockAlert.objects.filter(product=product, resolved_at__isnull=True).exists()

    order_transition(order=order, name="cancel", actor=manager_user, reason="mistake")

    assert not LowStockAlert.objects.filter(product=product, resolved_at__isnull=True).exists()


def test_receiving_while_still_low_keeps_the_alert_open():
    warehouse = WarehouseFactory()
    product = ProductFactory(stock=3, low_stock_threshold=5)
    assert LowStockAlert.objects.filter(resolved_at__isnull=True).count() == 1

    stock_receive(product=product, warehouse=warehouse, quantity=1)

    assert LowStockAlert.objects.filter(resolved_at__isnull=True).count() == 1
    assert LowStockAlert.objects.count() == 1


# --- query cost ---------------------------------------------------------------------------------------------

# The placement itself on PostgreSQL (other databases write step by step; in a test the service's transaction is a
# savepoint, so SAVEPOINT/RELEASE count too):
# savepoint; the products with their stock levels; the order, its lines, its timeline entry and its allocations
# (one statement); the stock taken: levels locked and updated, ledger written (one statement); release.
PLACE_QUERIES = 5
PLACE_QUERIES_WITH_KEY = PLACE_QUERIES  # the key is claimed by the order's statement (ON CONFLICT DO NOTHING)
PLACE_BUDGET = 8  # ... and BEGIN, COMMIT and the notification outbox: at most 10 statements per order
SAVEPOINT_PAIR = 2  # SAVEPOINT and RELEASE exist only because the test wraps the service in a transaction


@pytest.fixture
def stocked_products(db):
    """21 products with plenty of stock in two warehouses, and a first order placed to warm process caches."""
    WarehouseFactory(code="Q1", priority=1), WarehouseFactory(code="Q2", priority=2)
    products = [ProductFactory(stock={"Q1": 100, "Q2": 100}) for _ in range(21)]
    place_order(lines=[(products[20], 1)])
    return products[:20]


def _place_lines(buyer, products, key):
    order, _ = order_place(customer=buyer, email=buyer.email, shipping_address=dict(ADDRESS), actor=buyer,
                           lines=[{"sku": p.sku, "quantity": 1} for p in products], idempotency_key=key,
                           fingerprint=key or "")
    return order


@pytest.mark.parametrize("with_key", [False, True], ids=["no-key", "idempotency-key"])
def test_placing_an_order_costs_the_same_queries_for_1_and_20_lines(with_key, stocked_products, postgres,
                                                                     django_assert_num_queries):
    buyer = CustomerFactory()
    expected = PLACE_QUERIES_WITH_KEY if with_key else PLACE_QUERIES

    # when an order of 1 line and one of 20 lines are placed
    with receivers_muted(order_event_recorded, low_stock_alerts_raised):
        with django_assert_num_queries(expected):
            one = _place_lines(buyer, stocked_products[:1], "one-line" if with_key else None)
        with django_assert_num_queries(expected):
            twenty = _place_lines(buyer, stocked_products, "twenty-lines" if with_key else None)

    # then both cost the same, within budget, and really placed what was asked
    assert expected <= PLACE_BUDGET
    assert (one.lines.count(), twenty.lines.count()) == (1, 20)
    assert twenty.allocations.count() == 20


@pytest.mark.parametrize("with_key", [False, True], ids=["no-key", "idempotency-key"])
def test_with_every_receiver_connected_20_lines_still_cost_what_1_line_costs(with_key, stocked_products, postgres,
                                                                             django_assert_num_queries):
    buyer = CustomerFactory()

    with CaptureQueriesContext(connection) as one_line:
        _place_lines(buyer, stocked_products[:1], "one-line" if with_key else None)
    with django_assert_num_queries(len(one_line.captured_queries)):
        _place_lines(buyer, stocked_products, "twenty-lines" if with_key else None)

    # and the whole placement, notification outbox included, stays within the budget: the outbox row rides on the
    # stock statement, so it costs what a placement with muted receivers costs
    assert len(one_line.captured_queries) == PLACE_QUERIES
    assert len(one_line.captured_queries) - SAVEPOINT_PAIR <= PLACE_BUDGET


def test_an_idempotent_replay_costs_one_statement_more_than_a_placement_at_most(django_assert_max_num_queries):
    product = ProductFactory(stock=100)
    buyer = CustomerFactory()
    place_order(lines=[(product, 1)])  # warms the per-process caches (content types)
    with CaptureQueriesContext(connection) as placement:
        first, _ = order_place(customer=buyer, email=buyer.email, shipping_address=dict(ADDRESS), actor=buyer,
                               lines=[{"sku": product.sku, "quantity": 1}], idempotency_key="k", fingerprint="f")

    # the replay writes the order's statement, finds the key taken, reads the first order and rolls back: the
    # read of the first order is the one statement a placement does not have (its outbox row rides on another)
    with django_assert_max_num_queries(len(placement.captured_queries) + 1):
        again, created = order_place(customer=buyer, email=buyer.email, shipping_address=dict(ADDRESS), actor=buyer,
                                     lines=[{"sku": product.sku, "quantity": 1}], idempotency_key="k", fingerprint="f")

    assert (again.pk, created) == (first.pk, False)
    assert Order.objects.count() == 2
