"""The ledger invariant under random sequences of stock and order operations.

For every stock level: on_hand and allocated equal the sums of its movements' deltas, 0 <= allocated <= on_hand,
and allocated equals what orders still hold reserved there.
"""

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from config.errors import DomainError
from inventory.models import StockLevel
from inventory.selectors import ledger_totals
from inventory.services import stock_adjust, stock_receive, stock_transfer
from orders.models import Allocation
from orders.services import order_place, order_ship_items, order_transition
from tests.factories import ADDRESS, ProductFactory, WarehouseFactory

PRODUCTS = (0, 1)
WAREHOUSES = (0, 1)
product_i = st.sampled_from(PRODUCTS)
warehouse_i = st.sampled_from(WAREHOUSES)
order_i = st.integers(min_value=0, max_value=20)

place = st.tuples(st.just("place"), st.integers(0, 6), st.integers(0, 6))
operations = st.one_of(
    st.tuples(st.just("receive"), product_i, warehouse_i, st.integers(1, 20)),
    st.tuples(st.just("adjust"), product_i, warehouse_i, st.integers(-10, 10)),
    st.tuples(st.just("write_off"), product_i, warehouse_i, st.integers(1, 10)),
    st.tuples(st.just("transfer"), product_i, warehouse_i, st.integers(1, 10)),
    place,
    place,  # orders are drawn twice as often: cancel and ship need them
    st.tuples(st.just("cancel"), order_i),
    st.tuples(st.just("ship"), order_i),
    st.tuples(st.just("ship_one"), order_i),
)


def _refused_ok(fn, **kwargs):
    """Run a service; a refusal (DomainError) is a valid outcome and must leave no trace."""
    try:
        result = fn(**kwargs)
    except DomainError as exc:
        event(f"{fn.__name__}: refused ({exc.code})")
        return None
    event(f"{fn.__name__}: done")
    return result


def _pack(order):
    for name in ("confirm", "start_processing", "pack"):
        _refused_ok(order_transition, order=order, name=name, check_permission=False)


def _apply(op, products, warehouses, orders):
    kind = op[0]
    if kind == "receive":
        _, p, w, qty = op
        stock_receive(product=products[p], warehouse=warehouses[w], quantity=qty, reason="delivery")
    elif kind == "adjust":
        _, p, w, delta = op
        _refused_ok(stock_adjust, product=products[p], warehouse=warehouses[w], delta=delta, reason="count")
    elif kind == "write_off":
        _, p, w, qty = op
        _refused_ok(stock_adjust, product=products[p], warehouse=warehouses[w], delta=-qty, reason="broken",
                    write_off=True)
    elif kind == "transfer":
        _, p, w, qty = op
        _refused_ok(stock_transfer, product=products[p], source=warehouses[w], destination=warehouses[1 - w],
                    quantity=qty)
    elif kind == "place":
        lines = [{"sku": products[i].sku, "quantity": q} for i, q in enumerate(op[1:]) if q]
        placed = _refused_ok(order_place, email="buyer@example.com", shipping_address=dict(ADDRESS), lines=lines)
        if placed is not None:
            orders.append(placed[0])
    elif orders:
        order = orders[op[1] % len(orders)]
        if kind == "cancel":
            _refused_ok(order_transition, order=order, name="cancel", reason="changed mind", check_permission=False)
        elif kind == "ship":
            _pack(order)
            _refused_ok(order_transition, order=order, name="ship", reason="all at once", check_permission=False)
        elif kind == "ship_one":
            _pack(order)
            allocation = Allocation.objects.filter(order=order, quantity__gt=0).first()
            if allocation is not None:
                _refused_ok(order_ship_items, order=order,
                            items=[(allocation.line_id, allocation.warehouse_id, 1)])


def _assert_invariant():
    totals = ledger_totals()
    reserved = {
        (row["product_id"], row["warehouse_id"]): row["quantity"]
        for row in Allocation.objects.values("product_id", "warehouse_id").annotate(quantity=Sum("quantity"))
    }
    for level in StockLevel.objects.all():
        key = (level.product_id, level.warehouse_id)
        assert totals.get(key, (0, 0)) == (level.on_hand, level.allocated), f"ledger disagrees at {key}"
        assert 0 <= level.allocated <= level.on_hand
        assert reserved.get(key, 0) == level.allocated, f"order allocations disagree at {key}"


@pytest.mark.django_db
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(operations, min_size=4, max_size=30))
def test_ledger_always_equals_the_stock_levels(ops):
    # given two products and two warehouses (each example starts from the same committed-nothing state)
    with transaction.atomic():
        warehouses = [WarehouseFactory(code="LG1", priority=1), WarehouseFactory(code="LG2", priority=2)]
        products = [ProductFactory(sku="LEDGER-A", stock={"LG1": 8, "LG2": 4}),
                    ProductFactory(sku="LEDGER-B", stock={"LG2": 6})]
        orders = []

        # when any sequence of receipts, counts, write-offs, transfers, orders, cancellations and shipments runs
        for op in ops:
            _apply(op, products, warehouses, orders)

        # then the ledger and the levels agree, and nothing is over-allocated
        _assert_invariant()
        transaction.set_rollback(True)  # the next example starts clean
