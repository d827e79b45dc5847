"""Parcels are made from an order being processed, and the order is packed when its parcels are: the warehouse
packs each parcel once, never the order a second time."""

import pytest

from orders.models import Order
from orders.services import order_transition
from shipping.services import shipment_create, shipment_create_all, shipment_transition
from tests.factories import ProductFactory, StaffFactory, place_order

from .conftest import line, wh


@pytest.fixture
def processing_order(db, customer, warehouses):
    """An order being processed: 3 × A reserved at NORTH, 2 × B split 1 at NORTH + 1 at SOUTH."""
    a = ProductFactory(sku="SKU-A", stock={"NORTH": 3})
    b = ProductFactory(sku="SKU-B", stock={"NORTH": 1, "SOUTH": 1})
    order = place_order(customer=customer, lines=[(a, 3), (b, 2)])
    for name in ("confirm", "start_processing"):
        order = order_transition(order=order.number, name=name, check_permission=False)
    return order


def _status(order):
    return Order.objects.get(pk=order.pk).status


def test_the_order_is_packed_when_its_last_parcel_is(processing_order, local):
    packer = StaffFactory(group="Warehouse staff")
    north, south = shipment_create_all(order=processing_order.number, carrier=local)
    for name in ("pick", "pack"):
        shipment_transition(shipment=north.pk, name=name, actor=packer)
    # one parcel of two packed: the order is still being processed
    assert _status(processing_order) == Order.Status.PROCESSING
    for name in ("pick", "pack"):
        shipment_transition(shipment=south.pk, name=name, actor=packer)
    # the second: the order is packed, once, by the person who packed it, saying why
    assert _status(processing_order) == Order.Status.PACKED
    (event,) = processing_order.events.filter(transition="pack")
    assert (event.actor, event.text, event.from_status) == (packer, "Every parcel is packed", "processing")


def test_an_order_is_not_packed_while_reserved_units_are_in_no_parcel(processing_order, local):
    # given a parcel for the A units only
    parcel = shipment_create(order=processing_order.number, warehouse=wh("NORTH"),
                             items=[(line(processing_order, "SKU-A").pk, 3)], carrier=local)
    for name in ("pick", "pack"):
        shipment_transition(shipment=parcel.pk, name=name)
    # then the order waits for the B units' parcels
    assert _status(processing_order) == Order.Status.PROCESSING


def test_a_parcel_may_leave_before_the_others_are_packed(processing_order, local):
    north, south = shipment_create_all(order=processing_order.number, carrier=local)
    for name in ("pick", "pack", "create_label", "hand_over"):
        shipment_transition(shipment=north.pk, name=name)
    # the first parcel left while the second was still on the bench
    assert _status(processing_order) == Order.Status.PARTIALLY_SHIPPED
    for name in ("pick", "pack", "create_label", "hand_over"):
        shipment_transition(shipment=south.pk, name=name)
    assert _status(processing_order) == Order.Status.SHIPPED
    assert sorted(processing_order.lines.values_list("quantity", "shipped_quantity")) == [(2, 2), (3, 3)]
