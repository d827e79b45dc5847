from shipping.selectors import pick_list_rows, shippable_quantities
from shipping.services import shipment_create, shipment_transition
from tests.factories import ProductFactory, place_order

from .conftest import line, pack, wh


def summary(order_ids):
    return [(r["warehouse"].code, r["sku"], r["quantity"]) for r in pick_list_rows(order_ids=order_ids)]


def test_pick_list_leaves_out_what_is_already_picked(packed_order):
    # given 2 of the 3 A units in a shipment that was picked, and 1 B unit in a shipment not picked yet
    a, b = line(packed_order, "SKU-A"), line(packed_order, "SKU-B")
    picked = shipment_create(order=packed_order.number, warehouse=wh("NORTH"), items=[(a.pk, 2)])
    shipment_transition(shipment=picked.pk, name="pick")
    shipment_create(order=packed_order.number, warehouse=wh("SOUTH"), items=[(b.pk, 1)])
    # then the pick list has the rest: 1 A and 1 B at NORTH (in no shipment), 1 B at SOUTH (pending shipment)
    assert summary([packed_order.pk]) == [("NORTH", "SKU-A", 1), ("NORTH", "SKU-B", 1), ("SOUTH", "SKU-B", 1)]
    assert shippable_quantities(order_id=packed_order.pk) == {(a.pk, wh("NORTH").pk): 1, (b.pk, wh("NORTH").pk): 1}


def test_pick_list_queries_do_not_grow_with_orders(warehouses, django_assert_num_queries):
    def orders(n):
        return [pack(place_order(lines=[(ProductFactory(stock={"NORTH": 1}), 1)])).pk for _ in range(n)]

    few = orders(3)
    # pending lines, allocations, open shipment lines, lines, warehouses, bins
    with django_assert_num_queries(6):
        assert len(summary(few)) == 3
    many = few + orders(12)
    with django_assert_num_queries(6):
        assert len(summary(many)) == 15
