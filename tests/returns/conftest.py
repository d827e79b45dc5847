"""Delivered orders to return: a serial-tracked phone and a plain accessory, through the real services."""

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory.models import Product
from notifications.models import OutboxMessage
from shipping.models import Shipment
from shipping.services import shipment_create_all, shipment_record_carrier_event, shipment_transition
from tests.factories import ProductFactory, WarehouseFactory, place_order
from tests.shipping.conftest import pack

IMEI_SOLD, IMEI_SPARE, IMEI_OTHER = "356938035643809", "490154203237518", "352099001761481"


@pytest.fixture
def north(db):
    return WarehouseFactory(code="NORTH", priority=1)


@pytest.fixture
def phone(north):
    return ProductFactory(sku="PH-1", name="Phone One", price="499.00", serial_tracked=True,
                          serial_format=Product.SerialFormat.IMEI, stock={"NORTH": 5})


@pytest.fixture
def case(north):
    return ProductFactory(sku="CASE-1", name="Phone case", price="19.90", stock={"NORTH": 10})


_events = iter(range(1, 10_000))


def carrier_event(shipment: Shipment, code: str, at=None):
    """What the carrier's signed webhook does (tests/shipping cover the signature)."""
    return shipment_record_carrier_event(carrier=shipment.carrier, tracking_number=shipment.tracking_number,
                                         event_id=f"ev-{next(_events)}", status_code=code,
                                         occurred_at=at or timezone.now())


def deliver(order, serials: dict[str, list[str]] | None = None, carrier="local"):
    """Pack (scanning serials, SKU → list), label, hand over and deliver every parcel of a packed order."""
    serials = serials or {}
    shipments = shipment_create_all(order=order.number, carrier=carrier)
    for shipment in shipments:
        shipment_transition(shipment=shipment.pk, name="pick")
        scanned = {sl.order_line_id: serials[sl.order_line.sku]
                   for sl in shipment.lines.select_related("order_line") if sl.order_line.sku in serials}
        shipment_transition(shipment=shipment.pk, name="pack", serials=scanned)
        shipment_transition(shipment=shipment.pk, name="create_label")
        shipment.refresh_from_db()
        carrier_event(shipment, "PICKED_UP")
        carrier_event(shipment, "DELIVERED")
    order.refresh_from_db()
    return order


@pytest.fixture
def delivered(customer, phone, case):
    """A paid order of one phone (IMEI_SOLD) and two cases, delivered by the local courier."""
    from orders.services import order_set_payment_status

    order = pack(place_order(customer=customer, lines=[(phone, 1), (case, 2)]))
    order_set_payment_status(order=order.number, payment_status="paid")
    return deliver(order, {"PH-1": [IMEI_SOLD]})


def line(order, sku):
    return order.lines.get(sku=sku)


def customer_emails(event, order=None):
    qs = OutboxMessage.objects.filter(event=event)
    return qs.filter(subject_id=str(order.pk)) if order is not None else qs


def days_ago(n):
    return timezone.now() - timedelta(days=n)


def together(target, n=2) -> list:
    """Run `target` in `n` threads released at the same moment (real connections, real row locks); returns what
    each returned, or the DomainError it raised."""
    import threading

    from django.db import close_old_connections

    from config.errors import DomainError

    barrier, results = threading.Barrier(n), []

    def run():
        try:
            barrier.wait()
            results.append(target())
        except DomainError as err:
            results.append(err)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
