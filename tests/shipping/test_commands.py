import pytest
from django.core.management import call_command

from orders.models import Order
from shipping.models import Shipment, ShipmentEvent
from shipping.services import shipment_create_all, shipment_transition
from tests.factories import ProductFactory, WarehouseFactory, place_order

from .conftest import pack

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _parcel(carrier, tracking_number="", steps=()):
    order = pack(place_order(lines=[(ProductFactory(stock={"SIM": 1}), 1)]))
    shipment = shipment_create_all(order=order.number)[0]
    for name in ("pick", "pack"):
        shipment_transition(shipment=shipment.pk, name=name)
    shipment_transition(shipment=shipment.pk, name="create_label", carrier=carrier, tracking_number=tracking_number)
    for name in steps:
        shipment_transition(shipment=shipment.pk, name=name)
    return shipment


def test_simulated_carriers_deliver_parcels_over_http(live_server, capsys):
    # given parcels at three stages with three carriers
    WarehouseFactory(code="SIM")
    parcels = [_parcel("local"), _parcel("parcelnet", "PN1000000001", ["hand_over"]),
               _parcel("swiftpost", "123-4567890-SP", ["hand_over", "send_out"])]
    # when the simulator plays four rounds without exceptions
    call_command("simulate_carriers", base_url=live_server.url, rounds=4, interval=0, seed=7, exception_rate=0)
    # then every parcel is delivered through signed webhook calls, and so are the orders
    assert "0 refused" in capsys.readouterr().out
    for parcel in parcels:
        parcel.refresh_from_db()
        assert parcel.status == Shipment.Status.DELIVERED
        assert parcel.order.status == Order.Status.DELIVERED
    codes = list(ShipmentEvent.objects.filter(shipment=parcels[0], source="carrier")
                 .values_list("carrier_status_code", flat=True))
    assert codes[0] == "PICKED_UP" and codes[-1] == "DELIVERED"
    assert parcels[0].events.filter(source="carrier").last().location == parcels[0].order.ship_city


def test_simulated_carriers_raise_exceptions(live_server):
    WarehouseFactory(code="SIM")
    parcel = _parcel("local", steps=["hand_over", "send_out"])
    call_command("simulate_carriers", base_url=live_server.url, rounds=1, interval=0, seed=1, exception_rate=1)
    parcel.refresh_from_db()
    assert (parcel.status, parcel.exception_reason) == (Shipment.Status.EXCEPTION, "failed_attempt")
