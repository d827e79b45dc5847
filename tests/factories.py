"""Factories for tests. Orders are made through the real service, so stock, ledger and timeline are real."""

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from inventory.models import Product, Warehouse
from inventory.services import stock_receive
from orders.services import order_place

User = get_user_model()

ADDRESS = {"name": "Ada Lovelace", "line1": "12 Analytical Row", "city": "London", "postal_code": "N1 9GU",
           "country": "GB"}


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"customer{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("secret-pass-123")


class StaffFactory(CustomerFactory):
    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True

    @factory.post_generation
    def group(self, create, extracted, **kwargs):
        if extracted:
            self.groups.add(Group.objects.get(name=extracted))
        self.save()


class WarehouseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Warehouse
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"WH{n}")
    name = factory.LazyAttribute(lambda o: f"Warehouse {o.code}")
    priority = factory.Sequence(lambda n: n + 1)


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        skip_postgeneration_save = True

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    price = Decimal("19.90")
    low_stock_threshold = 2

    @factory.post_generation
    def stock(self, create, extracted, **kwargs):
        """ProductFactory(stock=10) receives 10 units into the first warehouse; stock={"WH": 5} per code."""
        if not extracted:
            return
        targets = extracted if isinstance(extracted, dict) else {None: extracted}
        for code, quantity in targets.items():
            warehouse = WarehouseFactory(code=code) if code else (Warehouse.objects.first() or WarehouseFactory())
            stock_receive(product=self, warehouse=warehouse, quantity=quantity, reason="factory")


def place_order(*, customer=None, lines=None, email=None, **kwargs):
    """Place an order through the service. `lines` is [(product, quantity)]; default: one new product."""
    if lines is None:
        lines = [(ProductFactory(stock=10), 1)]
    order, _ = order_place(
        customer=customer, email=email or (customer.email if customer else "guest@example.com"),
        shipping_address=dict(ADDRESS), lines=[{"sku": p.sku, "quantity": q} for p, q in lines], **kwargs,
    )
    return order


class OrderFactory:
    """`OrderFactory.create_batch(n, customer=...)`: n real orders through the service."""

    @staticmethod
    def create(**kwargs):
        return place_order(**kwargs)

    @classmethod
    def create_batch(cls, size, **kwargs):
        return [cls.create(**kwargs) for _ in range(size)]


# Status an order reaches and the transitions that take a placed order there (the shortest path).
PATH_TO = {
    "placed": [],
    "confirmed": ["confirm"],
    "processing": ["confirm", "start_processing"],
    "packed": ["confirm", "start_processing", "pack"],
    "shipped": ["confirm", "start_processing", "pack", "ship"],
    "delivered": ["confirm", "start_processing", "pack", "ship", "deliver"],
    "cancelled": ["cancel"],
    "on_hold": ["hold"],
}


def advance_order(order, status, *, actor=None):
    """Move a placed order to `status` through the real service; returns the fresh order."""
    from orders.services import order_transition

    for name in PATH_TO[status]:
        order = order_transition(order=order, name=name, actor=actor, reason=f"test: {name}", check_permission=False)
    return order


def order_payload(*lines, **fields):
    """A POST /api/orders/ body: `order_payload((product, 2), (other, 1), email="x@example.com")`."""
    return {"shipping_address": dict(ADDRESS), "lines": [{"sku": p.sku, "quantity": q} for p, q in lines], **fields}
