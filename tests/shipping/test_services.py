import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from config.errors import DomainError
from inventory.models import StockLevel, StockMovement
from orders.errors import TransitionNotAllowed as OrderTransitionNotAllowed
from orders.models import Allocation, Order, OrderEvent
from orders.services import order_transition
from shipping.errors import InvalidShipment, OrderNotReadyToShip, ShipmentTransitionNotAllowed
from shipping.models import Shipment, ShipmentEvent
from shipping.services import shipment_create, shipment_create_all, shipment_record_carrier_event, shipment_transition
from shipping.signals import shipment_status_changed
from tests.factories import ProductFactory, place_order

from .conftest import line, pack, wh


def ship(shipment, carrier, tracking_number=""):
    for name in ("pick", "pack"):
        shipment_transition(shipment=shipment.pk, name=name, check_permission=False)
    shipment_transition(shipment=shipment.pk, name="create_label", carrier=carrier, tracking_number=tracking_number)
    return shipment_transition(shipment=shipment.pk, name="hand_over")


def levels(sku):
    return {lv.warehouse.code: (lv.on_hand, lv.allocated)
            for lv in StockLevel.objects.filter(product__sku=sku).select_related("warehouse")}


def test_allocation_of_the_fixture_order_is_split(packed_order):
    # given the fixture's order; then B is reserved at both warehouses
    assert sorted(Allocation.objects.filter(order=packed_order).values_list("line__sku", "warehouse__code",
                                                                            "quantity")) == [
        ("SKU-A", "NORTH", 3), ("SKU-B", "NORTH", 1), ("SKU-B", "SOUTH", 1)]


def test_split_shipments_by_warehouse_move_stock_and_order(packed_order, local):
    # given one shipment per warehouse
    north, south = shipment_create_all(order=packed_order.number, carrier=local)
    assert (north.warehouse.code, south.warehouse.code) == ("NORTH", "SOUTH")
    # when the north parcel leaves
    ship(north, local)
    # then its units left the ledger, the order is partially shipped
    assert levels("SKU-A") == {"NORTH": (0, 0)}
    assert levels("SKU-B") == {"NORTH": (0, 0), "SOUTH": (1, 1)}
    assert StockMovement.objects.filter(kind="shipment", on_hand_delta__lt=0).count() == 2
    packed_order.refresh_from_db()
    assert packed_order.status == Order.Status.PARTIALLY_SHIPPED
    # when the south parcel leaves too
    ship(south, local)
    packed_order.refresh_from_db()
    assert packed_order.status == Order.Status.SHIPPED
    assert levels("SKU-B") == {"NORTH": (0, 0), "SOUTH": (0, 0)}
    assert list(packed_order.lines.values_list("sku", "shipped_quantity")) == [("SKU-A", 3), ("SKU-B", 2)]


def test_partial_shipment_then_the_rest(packed_order, local):
    # given a parcel with part of line A only
    first = shipment_create(order=packed_order.number, warehouse=wh("NORTH"),
                            items=[(line(packed_order, "SKU-A").pk, 2)])
    ship(first, local)
    packed_order.refresh_from_db()
    assert packed_order.status == Order.Status.PARTIALLY_SHIPPED
    assert levels("SKU-A") == {"NORTH": (1, 1)}
    movement = StockMovement.objects.get(kind="shipment", product__sku="SKU-A")
    assert (movement.on_hand_delta, movement.allocated_delta, movement.quantity) == (-2, -2, 2)
    # when the rest ships later
    rest = shipment_create_all(order=packed_order.number, carrier=local)
    for shipment in rest:
        ship(shipment, local)
    # then the order is shipped, and delivered once every parcel is
    packed_order.refresh_from_db()
    assert packed_order.status == Order.Status.SHIPPED
    for shipment in [first, *rest]:
        shipment_transition(shipment=shipment.pk, name="deliver")
    packed_order.refresh_from_db()
    assert packed_order.status == Order.Status.DELIVERED


def test_order_is_not_delivered_while_a_parcel_is_on_its_way(packed_order, local):
    north, south = shipment_create_all(order=packed_order.number, carrier=local)
    ship(north, local)
    ship(south, local)
    shipment_transition(shipment=north.pk, name="deliver")
    packed_order.refresh_from_db()
    assert packed_order.status == Order.Status.SHIPPED


def test_cannot_put_the_same_units_in_two_open_shipments(packed_order):
    a = line(packed_order, "SKU-A")
    shipment_create(order=packed_order.number, warehouse=wh("NORTH"), items=[(a.pk, 2)])
    with pytest.raises(InvalidShipment) as err:
        shipment_create(order=packed_order.number, warehouse=wh("NORTH"), items=[(a.pk, 2)])
    assert "lines[0].quantity" in err.value.extra["fields"]
    # nor units reserved at another warehouse
    with pytest.raises(InvalidShipment):
        shipment_create(order=packed_order.number, warehouse=wh("SOUTH"), items=[(a.pk, 1)])


def test_order_cannot_ship_everything_while_it_has_open_shipments(packed_order, local):
    # given an open shipment for part of a packed order
    a = line(packed_order, "SKU-A")
    shipment = shipment_create(order=packed_order.number, warehouse=wh("NORTH"), items=[(a.pk, 3)])
    movements = StockMovement.objects.count()
    # when staff press the order's "ship everything"
    with pytest.raises(OrderTransitionNotAllowed) as err:
        order_transition(order=packed_order.number, name="ship", check_permission=False)
    # then it is refused with the shipment named, and nothing moved
    assert f"#{shipment.pk}" in err.value.message
    assert StockMovement.objects.count() == movements
    assert Order.objects.get(pk=packed_order.pk).status == Order.Status.PACKED
    # and once the shipment is cancelled the order may ship everything at once
    shipment_transition(shipment=shipment.pk, name="cancel", reason="Ship as one parcel")
    assert order_transition(order=packed_order.number, name="ship", check_permission=False).status == "shipped"


def test_cancelled_shipment_releases_nothing_and_frees_its_lines(packed_order, local):
    a = line(packed_order, "SKU-A")
    shipment = shipment_create(order=packed_order.number, warehouse=wh("NORTH"), items=[(a.pk, 3)])
    movements = StockMovement.objects.count()
    # when it is cancelled
    shipment_transition(shipment=shipment.pk, name="cancel", reason="Wrong box")
    # then stock is untouched (still reserved for the order) and the units can go in a new parcel
    assert StockMovement.objects.count() == movements
    assert levels("SKU-A") == {"NORTH": (3, 3)}
    again = shipment_create(order=packed_order.number, warehouse=wh("NORTH"), items=[(a.pk, 3)])
    ship(again, local)
    assert levels("SKU-A") == {"NORTH": (0, 0)}
    with pytest.raises(ShipmentTransitionNotAllowed):
        shipment_transition(shipment=again.pk, name="cancel")


def test_shipments_need_an_order_being_processed(customer):
    order = place_order(customer=customer)
    with pytest.raises(OrderNotReadyToShip):
        shipment_create_all(order=order.number)
    order_transition(order=order.number, name="confirm", check_permission=False)
    with pytest.raises(OrderNotReadyToShip, match="start processing"):
        shipment_create_all(order=order.number)


def test_tracking_numbers_local_generated_others_checked(packed_order, local, parcelnet):
    north, south = shipment_create_all(order=packed_order.number)
    for s in (north, south):
        shipment_transition(shipment=s.pk, name="pick")
        shipment_transition(shipment=s.pk, name="pack")
    with pytest.raises(InvalidShipment) as err:
        shipment_transition(shipment=north.pk, name="create_label", carrier=parcelnet, tracking_number="XX1")
    assert "tracking_number" in err.value.extra["fields"]
    with pytest.raises(InvalidShipment):
        shipment_transition(shipment=north.pk, name="create_label", carrier=parcelnet)
    north = shipment_transition(shipment=north.pk, name="create_label", carrier=parcelnet,
                                tracking_number="pn0123456789")
    assert north.tracking_number == "PN0123456789"
    assert north.tracking_url == "https://parcelnet.example/track/PN0123456789"
    south = shipment_transition(shipment=south.pk, name="create_label", carrier=local)
    assert south.tracking_number.startswith("WBL") and len(south.tracking_number) == 15
    assert south.expected_delivery is not None


def test_every_change_is_on_both_timelines(packed_order, local):
    shipment = shipment_create(order=packed_order.number, warehouse=wh("NORTH"),
                               items=[(line(packed_order, "SKU-A").pk, 3)])
    ship(shipment, local)
    assert list(shipment.events.values_list("to_status", flat=True)) == [
        "pending", "picked", "packed", "label_created", "in_transit"]
    steps = list(OrderEvent.objects.filter(order=packed_order, kind__in=["shipment_created", "parcel_update"])
                 .values_list("text", "internal"))
    # created, picked, packed stay with staff; the label and the hand-over show on the customer's timeline too
    assert [internal for _, internal in steps] == [True, True, True, False, False]
    assert "label created → in transit" in steps[-1][0]


def test_customer_sees_parcel_steps_on_the_order_but_gets_no_note_email(packed_order, local):
    from notifications.models import OutboxMessage
    from orders.selectors import order_detail

    shipment = shipment_create(order=packed_order.number, warehouse=wh("NORTH"),
                               items=[(line(packed_order, "SKU-A").pk, 3)])
    ship(shipment, local)
    visible = order_detail(number=packed_order.number, user=packed_order.customer).events.all()
    texts = [e.text for e in visible if e.kind == "parcel_update"]
    assert len(texts) == 2 and shipment.tracking_number in texts[-1]
    events = set(OutboxMessage.objects.values_list("event", flat=True))
    assert "shipment.shipped" in events and "order.note_added" not in events


def test_notifications_are_sent_inside_the_transaction(packed_order, local):
    received = []

    def receiver(sender, shipment, event, payload, **kwargs):
        received.append((event, payload["carrier_name"], payload["tracking_number"], payload["tracking_url"]))

    shipment_status_changed.connect(receiver)
    try:
        shipment = shipment_create(order=packed_order.number, warehouse=wh("NORTH"),
                                   items=[(line(packed_order, "SKU-A").pk, 3)])
        shipment = ship(shipment, local)
        shipment_transition(shipment=shipment.pk, name="send_out")
        shipment_transition(shipment=shipment.pk, name="report_exception", exception_reason="failed_attempt")
        shipment_transition(shipment=shipment.pk, name="deliver")
    finally:
        shipment_status_changed.disconnect(receiver)
    assert [r[0] for r in received] == ["shipment.shipped", "shipment.out_for_delivery", "shipment.exception",
                                        "shipment.delivered"]
    assert received[0][1:] == ("Local courier", shipment.tracking_number,
                               f"{settings.WAYBILL_SITE_URL}/track/{shipment.tracking_number}/")


def test_carrier_events_are_idempotent_and_never_move_backwards(packed_order, parcelnet):
    shipment = shipment_create(order=packed_order.number, warehouse=wh("NORTH"),
                               items=[(line(packed_order, "SKU-A").pk, 3)])
    for name in ("pick", "pack"):
        shipment_transition(shipment=shipment.pk, name=name)
    shipment_transition(shipment=shipment.pk, name="create_label", carrier=parcelnet, tracking_number="PN0000000001")
    t0 = timezone.now() + timedelta(minutes=1)

    def push(event_id, code, minutes):
        return shipment_record_carrier_event(carrier="parcelnet", tracking_number="PN0000000001", event_id=event_id,
                                             status_code=code, occurred_at=t0 + timedelta(minutes=minutes),
                                             location="Leeds", description=code)

    # the pick-up scan ships the parcel (stock leaves), a repeat changes nothing
    assert push("e1", "PU", 0)[1] is True
    assert push("e1", "PU", 0)[1] is False
    assert StockMovement.objects.filter(kind="shipment").count() == 1
    # delivered arrives before the older out-for-delivery and in-transit scans
    assert push("e4", "DL", 30)[0].status == Shipment.Status.DELIVERED
    assert push("e3", "OD", 20)[0].status == Shipment.Status.DELIVERED
    assert push("e2", "IT", 10)[0].status == Shipment.Status.DELIVERED
    # the timeline is in carrier time
    carrier_codes = list(shipment.events.filter(source="carrier").values_list("carrier_status_code", flat=True))
    assert carrier_codes == ["PU", "IT", "OD", "DL"]
    assert ShipmentEvent.objects.filter(carrier_event_id="e1").count() == 1
    packed_order.refresh_from_db()
    assert packed_order.status == Order.Status.PARTIALLY_SHIPPED  # line B still waits


def test_late_in_transit_after_delivered_changes_nothing_even_if_newer(packed_order, local):
    shipment = shipment_create(order=packed_order.number, warehouse=wh("NORTH"),
                               items=[(line(packed_order, "SKU-A").pk, 3)])
    shipment = ship(shipment, local)
    shipment_transition(shipment=shipment.pk, name="deliver")
    later = timezone.now() + timedelta(hours=1)
    s, created, *_ = shipment_record_carrier_event(carrier="local", tracking_number=shipment.tracking_number,
                                               event_id="x", status_code="AT_DEPOT", occurred_at=later)
    assert created and s.status == Shipment.Status.DELIVERED


def _in_threads(target, n=2):
    barrier = threading.Barrier(n)
    results = []

    def run():
        try:
            barrier.wait()
            results.append(target())
        except DomainError as err:
            results.append(err)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_double_create_makes_one_shipment(postgres, customer):
    product = ProductFactory(stock=5)
    order = pack(place_order(customer=customer, lines=[(product, 2)]))
    order_line = order.lines.get()
    warehouse_id = order.allocations.get().warehouse_id
    results = _in_threads(lambda: shipment_create(order=order.number, warehouse=warehouse_id,
                                                  items=[(order_line.pk, 2)]))
    assert sorted(type(r).__name__ for r in results) == ["InvalidShipment", "Shipment"]
    assert Shipment.objects.filter(order=order).count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_double_ship_ships_once(postgres, customer, django_db_blocker):
    product = ProductFactory(stock=5)
    order = pack(place_order(customer=customer, lines=[(product, 2)]))
    shipment = shipment_create_all(order=order.number)[0]
    for name in ("pick", "pack"):
        shipment_transition(shipment=shipment.pk, name=name)
    shipment_transition(shipment=shipment.pk, name="create_label", carrier="local")
    results = _in_threads(lambda: shipment_transition(shipment=shipment.pk, name="hand_over"))
    assert sorted(type(r).__name__ for r in results) == ["Shipment", "ShipmentTransitionNotAllowed"]
    assert StockMovement.objects.filter(kind="shipment").count() == 1
    level = product.stock_levels.get()
    assert (level.on_hand, level.allocated) == (3, 0)
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED


def test_customer_notifications_go_through_the_outbox(packed_order, local):
    from django.apps import apps

    if not apps.is_installed("notifications"):
        pytest.skip("the notifications app is not installed")
    from notifications.models import OutboxMessage

    shipment = shipment_create(order=packed_order.number, warehouse=wh("NORTH"),
                               items=[(line(packed_order, "SKU-A").pk, 3)])
    shipment = ship(shipment, local)
    shipment_transition(shipment=shipment.pk, name="send_out")
    shipment_transition(shipment=shipment.pk, name="deliver")
    rows = OutboxMessage.objects.filter(event__startswith="shipment.").order_by("id")
    assert [m.event for m in rows] == ["shipment.shipped", "shipment.out_for_delivery", "shipment.delivered"]
    shipped = rows[0]
    assert shipped.customer == packed_order.customer and shipped.recipient == packed_order.email
    assert {k: shipped.payload[k] for k in ("order_number", "carrier_name", "tracking_number")} == {
        "order_number": packed_order.number, "carrier_name": "Local courier",
        "tracking_number": shipment.tracking_number}
    assert shipped.payload["tracking_url"].endswith(f"/track/{shipment.tracking_number}/")
    # parcel steps on the order's timeline are fulfilment entries, so no "note added" email goes out for them
    assert not OutboxMessage.objects.filter(event="order.note_added").exists()


def test_a_delivery_exception_emails_the_customer_and_alerts_staff(packed_order, local, settings, mailoutbox,
                                                                 django_capture_on_commit_callbacks):
    # given a parcel on its way and a staff alert address
    settings.WAYBILL_STAFF_ALERT_EMAILS = ["ops@example.com"]
    shipment = ship(shipment_create(order=packed_order.number, warehouse=wh("NORTH"),
                                    items=[(line(packed_order, "SKU-A").pk, 3)]), local)
    mailoutbox.clear()

    # when the carrier reports a failed delivery attempt
    with django_capture_on_commit_callbacks(execute=True):
        shipment_transition(shipment=shipment.pk, name="report_exception", exception_reason="failed_attempt")

    # then the customer is told what happened, with tracking, and staff get an alert that links to the parcel
    to_customer = [m for m in mailoutbox if m.to == [packed_order.email]]
    to_staff = [m for m in mailoutbox if m.to == ["ops@example.com"]]
    assert len(to_customer) == 1 and len(to_staff) == 1
    assert packed_order.number in to_customer[0].subject
    assert "failed delivery attempt" in to_customer[0].body.lower()
    assert shipment.tracking_number in to_customer[0].body
    assert f"/admin/shipping/shipment/{shipment.pk}/change/" in to_staff[0].body


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_duplicate_carrier_events_apply_once(postgres, customer):
    product = ProductFactory(stock=5)
    order = pack(place_order(customer=customer, lines=[(product, 2)]))
    shipment = shipment_create_all(order=order.number)[0]
    for name in ("pick", "pack"):
        shipment_transition(shipment=shipment.pk, name=name)
    shipment = shipment_transition(shipment=shipment.pk, name="create_label", carrier="local")
    at = timezone.now() + timedelta(minutes=1)
    results = _in_threads(lambda: shipment_record_carrier_event(
        carrier="local", tracking_number=shipment.tracking_number, event_id="dup-1", status_code="PICKED_UP",
        occurred_at=at, location="Leeds"))
    assert sorted(result.created for result in results) == [False, True]
    assert ShipmentEvent.objects.filter(carrier_event_id="dup-1").count() == 1
    assert StockMovement.objects.filter(kind="shipment").count() == 1


def test_an_unknown_exception_reason_is_refused_and_changes_nothing(packed_order, local, client_staff):
    shipment = ship(shipment_create(order=packed_order.number, warehouse=wh("NORTH"),
                                    items=[(line(packed_order, "SKU-A").pk, 3)]), local)
    events = ShipmentEvent.objects.filter(shipment=shipment).count()

    with pytest.raises(InvalidShipment) as err:
        shipment_transition(shipment=shipment.pk, name="report_exception", exception_reason="eaten_by_dog")
    response = client_staff.post(f"/api/shipments/{shipment.pk}/transitions/report_exception/",
                                 {"exception_reason": "eaten_by_dog"}, format="json")

    assert "exception_reason" in err.value.extra["fields"]
    assert response.status_code == 400 and "exception_reason" in response.json()["extra"]["fields"]
    assert Shipment.objects.get(pk=shipment.pk).status == Shipment.Status.IN_TRANSIT
    assert ShipmentEvent.objects.filter(shipment=shipment).count() == events
