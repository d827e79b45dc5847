"""Stock services: every change leaves a movement, and refused changes leave nothing."""

import pytest

from inventory.errors import InsufficientStock, InvalidQuantity
from inventory.models import StockLevel, StockMovement
from inventory.selectors import ledger_totals
from inventory.services import stock_adjust, stock_receive, stock_transfer
from tests.factories import ProductFactory, WarehouseFactory, place_order

pytestmark = pytest.mark.django_db


def _level(product, warehouse):
    level = StockLevel.objects.filter(product=product, warehouse=warehouse).first()
    return (level.on_hand, level.allocated) if level else None


def test_receive_adds_on_hand_and_a_receipt(staff_user):
    warehouse = WarehouseFactory()
    product = ProductFactory()

    stock_receive(product=product, warehouse=warehouse, quantity=7, actor=staff_user, reason="PO 17")
    stock_receive(product=product, warehouse=warehouse, quantity=3, actor=staff_user)

    assert _level(product, warehouse) == (10, 0)
    receipts = StockMovement.objects.filter(kind="receipt").order_by("id")
    assert list(receipts.values_list("quantity", "on_hand_delta", "allocated_delta", "reason")) == [
        (7, 7, 0, "PO 17"), (3, 3, 0, ""),
    ]
    assert set(receipts.values_list("actor", flat=True)) == {staff_user.pk}


@pytest.mark.parametrize("quantity", [0, -1, 1.5, True])
def test_receive_refuses_a_quantity_that_is_not_a_positive_whole_number(quantity):
    warehouse = WarehouseFactory()
    product = ProductFactory()

    with pytest.raises(InvalidQuantity):
        stock_receive(product=product, warehouse=warehouse, quantity=quantity)

    assert not StockMovement.objects.exists()
    assert _level(product, warehouse) is None


def test_adjust_corrects_on_hand_either_way_with_a_reason():
    warehouse = WarehouseFactory()
    product = ProductFactory(stock={warehouse.code: 10})

    stock_adjust(product=product, warehouse=warehouse, delta=-3, reason="count found 7")
    stock_adjust(product=product, warehouse=warehouse, delta=2, reason="found behind shelf")

    assert _level(product, warehouse) == (9, 0)
    adjustments = StockMovement.objects.filter(kind="adjustment").order_by("id")
    assert list(adjustments.values_list("quantity", "on_hand_delta", "reason")) == [
        (3, -3, "count found 7"), (2, 2, "found behind shelf"),
    ]


def test_write_off_removes_stock_as_a_write_off():
    warehouse = WarehouseFactory()
    product = ProductFactory(stock={warehouse.code: 10})

    stock_adjust(product=product, warehouse=warehouse, delta=-4, reason="water damage", write_off=True)

    assert _level(product, warehouse) == (6, 0)
    movement = StockMovement.objects.get(kind="write_off")
    assert (movement.quantity, movement.on_hand_delta) == (4, -4)


@pytest.mark.parametrize(
    ("delta", "reason", "write_off"),
    [(0, "x", False), (-1, "", False), (-1, "   ", False), (3, "found", True)],
    ids=["zero", "no-reason", "blank-reason", "positive-write-off"],
)
def test_adjust_refuses_invalid_input_and_changes_nothing(delta, reason, write_off):
    warehouse = WarehouseFactory()
    product = ProductFactory(stock={warehouse.code: 10})
    movements = StockMovement.objects.count()

    with pytest.raises(InvalidQuantity):
        stock_adjust(product=product, warehouse=warehouse, delta=delta, reason=reason, write_off=write_off)

    assert _level(product, warehouse) == (10, 0)
    assert StockMovement.objects.count() == movements


def test_allocated_units_cannot_be_adjusted_away():
    # given 10 on hand of which 8 are allocated to an order
    warehouse = WarehouseFactory()
    product = ProductFactory(stock={warehouse.code: 10})
    place_order(lines=[(product, 8)])

    # when a count tries to remove 3
    with pytest.raises(InsufficientStock) as refused:
        stock_adjust(product=product, warehouse=warehouse, delta=-3, reason="count")

    # then it is refused naming what is free, and nothing changes
    assert refused.value.extra == {"sku": product.sku, "warehouse": warehouse.code, "available": 2}
    assert _level(product, warehouse) == (10, 8)
    assert not StockMovement.objects.filter(kind="adjustment").exists()


def test_adjusting_down_where_there_is_no_stock_is_refused():
    warehouse = WarehouseFactory()
    product = ProductFactory()

    with pytest.raises(InsufficientStock):
        stock_adjust(product=product, warehouse=warehouse, delta=-1, reason="count")

    assert _level(product, warehouse) is None


def test_transfer_moves_unallocated_units_with_two_movements(staff_user):
    source, destination = WarehouseFactory(code="FROM"), WarehouseFactory(code="TO")
    product = ProductFactory(stock={"FROM": 10})

    stock_transfer(product=product, source=source, destination=destination, quantity=4, actor=staff_user)

    assert (_level(product, source), _level(product, destination)) == ((6, 0), (4, 0))
    transfers = StockMovement.objects.filter(kind="transfer")
    assert sorted(transfers.values_list("warehouse__code", "on_hand_delta")) == [("FROM", -4), ("TO", 4)]
    assert set(transfers.values_list("reference_label", flat=True)) == {"transfer FROM→TO"}


def test_transfer_cannot_take_allocated_units():
    source, destination = WarehouseFactory(code="FROM", priority=1), WarehouseFactory(code="TO", priority=2)
    product = ProductFactory(stock={"FROM": 10})
    place_order(lines=[(product, 7)])

    with pytest.raises(InsufficientStock) as refused:
        stock_transfer(product=product, source=source, destination=destination, quantity=4)

    assert refused.value.extra["available"] == 3
    assert (_level(product, source), _level(product, destination)) == ((10, 7), None)
    assert not StockMovement.objects.filter(kind="transfer").exists()


def test_transfer_to_the_same_warehouse_is_refused():
    warehouse = WarehouseFactory()
    product = ProductFactory(stock={warehouse.code: 10})

    with pytest.raises(InvalidQuantity):
        stock_transfer(product=product, source=warehouse, destination=warehouse, quantity=1)

    assert _level(product, warehouse) == (10, 0)


def test_ledger_totals_equal_the_levels_after_mixed_changes():
    a, b = WarehouseFactory(code="LA", priority=1), WarehouseFactory(code="LB", priority=2)
    product = ProductFactory(stock={"LA": 10, "LB": 2})
    stock_adjust(product=product, warehouse=a, delta=-1, reason="broken", write_off=True)
    stock_transfer(product=product, source=a, destination=b, quantity=3)
    place_order(lines=[(product, 8)])

    totals = ledger_totals()
    for level in StockLevel.objects.all():
        assert totals[(level.product_id, level.warehouse_id)] == (level.on_hand, level.allocated)


def test_every_stock_change_moves_the_levels_updated_at():
    # given a level last touched at a known moment
    warehouse = WarehouseFactory()
    product = ProductFactory(stock={warehouse.code: 10})
    level = StockLevel.objects.get()
    stamps = [level.updated_at]

    # when stock is received, adjusted, allocated by an order, and released
    stock_receive(product=product, warehouse=warehouse, quantity=1)
    stamps.append(StockLevel.objects.get().updated_at)
    stock_adjust(product=product, warehouse=warehouse, delta=-1, reason="count")
    stamps.append(StockLevel.objects.get().updated_at)
    order = place_order(lines=[(product, 2)])
    stamps.append(StockLevel.objects.get().updated_at)
    from orders.services import order_transition

    order_transition(order=order, name="cancel", reason="test", check_permission=False)
    stamps.append(StockLevel.objects.get().updated_at)

    # then each change moved updated_at forward
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps), stamps


def test_stock_take_reserves_the_plans_read_without_a_lock_all_or_nothing(postgres, staff_user):
    from inventory.selectors import product_offers
    from inventory.services import stock_plan, stock_take

    # given two products read with their levels, and a plan made from what was read
    north, south = WarehouseFactory(code="N", priority=1), WarehouseFactory(code="S", priority=2)
    shirt, mug = ProductFactory(stock={"N": 3, "S": 3}), ProductFactory(stock={"N": 3})
    products, levels, _ = product_offers(skus=[shirt.sku, mug.sku])
    plans = stock_plan(requests=[(products[shirt.sku], 2), (products[mug.sku], 2)], levels=levels)
    assert [(p.product.sku, p.warehouse.code, p.quantity) for p in plans] == [(shirt.sku, "N", 2), (mug.sku, "N", 2)]

    # when another change takes the mugs at N before the plan is taken
    stock_adjust(product=mug, warehouse=north, delta=-2, reason="broken")

    # then nothing is reserved, and no ledger line written
    before = StockMovement.objects.count()
    assert stock_take(plans=plans, actor=staff_user) is False
    assert (_level(shirt, north), _level(mug, north), StockMovement.objects.count()) == ((3, 0), (1, 0), before)

    # and a plan that still holds is reserved whole, with its ledger lines
    products, levels, _ = product_offers(skus=[shirt.sku])
    assert stock_take(plans=stock_plan(requests=[(products[shirt.sku], 3)], levels=levels), actor=staff_user)
    assert (_level(shirt, north), _level(shirt, south)) == ((3, 3), (3, 0))
    assert ledger_totals()[(shirt.pk, north.pk)] == (3, 3)
