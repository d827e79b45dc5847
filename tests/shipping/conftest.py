import pytest

from inventory.models import Warehouse
from orders.services import order_transition
from shipping.models import Carrier
from tests.factories import ProductFactory, WarehouseFactory, place_order


def pack(order):
    for name in ("confirm", "start_processing", "pack"):
        order = order_transition(order=order.number, name=name, check_permission=False)
    return order


@pytest.fixture
def warehouses(db):
    return WarehouseFactory(code="NORTH", priority=1), WarehouseFactory(code="SOUTH", priority=2)


@pytest.fixture
def local(db):
    return Carrier.objects.get(code="local")


@pytest.fixture
def parcelnet(db):
    return Carrier.objects.get(code="parcelnet")


@pytest.fixture
def packed_order(db, customer, warehouses):
    """A packed order with two lines: 3 × A reserved at NORTH, 2 × B split 1 at NORTH + 1 at SOUTH."""
    a = ProductFactory(sku="SKU-A", stock={"NORTH": 3})
    b = ProductFactory(sku="SKU-B", stock={"NORTH": 1, "SOUTH": 1})
    order = pack(place_order(customer=customer, lines=[(a, 3), (b, 2)]))
    return order


def line(order, sku):
    return order.lines.get(sku=sku)


def wh(code):
    return Warehouse.objects.get(code=code)
