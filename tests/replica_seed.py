"""Migrate and seed the private primary of tests/test_replicas.py: `python -m tests.replica_seed` with
DATABASE_URL pointing at it. Prints one line of JSON: what the replica tests need to know."""

import json

import django


def seed() -> dict:
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)

    from rest_framework.authtoken.models import Token

    from orders.services import order_transition
    from shipping.services import shipment_create_all, shipment_transition
    from tests.factories import CustomerFactory, ProductFactory, StaffFactory, WarehouseFactory, place_order

    WarehouseFactory(code="BER")
    product = ProductFactory(sku="RP-CABLE-1M", stock={"BER": 100})
    customer = CustomerFactory(username="rita", email="rita@example.com")  # password: secret-pass-123
    to_cancel = place_order(customer=customer, lines=[(product, 1)])
    parcel_order = place_order(customer=customer, lines=[(product, 1)])
    for name in ("confirm", "start_processing", "pack"):
        parcel_order = order_transition(order=parcel_order.number, name=name, check_permission=False)
    shipment = shipment_create_all(order=parcel_order.number)[0]
    for name in ("pick", "pack"):
        shipment_transition(shipment=shipment.pk, name=name)
    shipment_transition(shipment=shipment.pk, name="create_label", carrier="local")
    shipment = shipment_transition(shipment=shipment.pk, name="hand_over")
    writer = StaffFactory(username="wendy", group="Warehouse staff")
    reader = StaffFactory(username="ruben", group="Warehouse staff")
    return {
        "customer": {"username": customer.username, "password": "secret-pass-123"},
        "order_to_cancel": to_cancel.number,
        "sku": product.sku,
        "shipment": {"pk": shipment.pk, "tracking_number": shipment.tracking_number, "status": shipment.status},
        "writer_token": Token.objects.create(user=writer).key,
        "reader_token": Token.objects.create(user=reader).key,
    }


if __name__ == "__main__":
    print(json.dumps(seed()))
