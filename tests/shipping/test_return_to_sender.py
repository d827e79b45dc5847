"""A parcel returned to sender: its units go back to stock, the order waits for staff, who send it again."""

import pytest

from inventory.models import StockMovement
from notifications.models import OutboxMessage
from orders.errors import TransitionNotAllowed
from orders.models import Order
from shipping.models import Shipment
from shipping.services import shipment_create_all, shipment_reship, shipment_transition
from tests.factories import ProductFactory, place_order

from .conftest import line, pack
from .test_services import levels, ship


@pytest.fixture
def in_transit(db, customer, warehouses, parcelnet):
    """An order of 2 × SKU-R, shipped in one ParcelNet parcel from NORTH."""
    product = ProductFactory(sku="SKU-R", stock={"NORTH": 5})
    order = pack(place_order(customer=customer, lines=[(product, 2)]))
    (shipment,) = shipment_create_all(order=order.number, carrier=parcelnet)
    return order, ship(shipment, parcelnet, tracking_number="PN1234567890")


def test_returned_parcel_puts_its_units_back_in_stock_and_waits_for_staff(in_transit, mailoutbox,
                                                                          django_capture_on_commit_callbacks):
    order, shipment = in_transit
    assert levels("SKU-R") == {"NORTH": (3, 0)}
    # when the carrier brings the parcel back
    with django_capture_on_commit_callbacks(execute=True):
        shipment_transition(shipment=shipment.pk, name="return_to_sender", reason="Address not found")
    # then its two units are in stock again through one return-to-stock movement that names the parcel
    assert levels("SKU-R") == {"NORTH": (5, 0)}
    (movement,) = StockMovement.objects.filter(kind=StockMovement.Kind.RETURN_TO_STOCK)
    assert (movement.quantity, movement.on_hand_delta, movement.reference_label) == (2, 2, shipment.reference_label)
    # and the order is returned, its line no longer counted as shipped
    order.refresh_from_db()
    assert order.status == Order.Status.RETURNED
    assert line(order, "SKU-R").shipped_quantity == 0
    # and the customer is told in words what happened, once
    (email,) = [m for m in mailoutbox if m.to == [order.email]]
    assert "came back to us" in email.subject
    assert "PN1234567890" in email.body and "Address not found" in email.body
    assert "returned_to_sender" not in email.body and "return_to_sender" not in email.body
    status = order.events.filter(kind="status").last()
    assert (status.transition, status.internal) == ("return_to_sender", False)
    assert "safe in our warehouse" in status.text


def test_staff_send_it_again_and_the_new_parcel_completes_the_order(in_transit, manager_user, parcelnet):
    order, shipment = in_transit
    shipment_transition(shipment=shipment.pk, name="return_to_sender")
    # when staff send the order again
    (again,) = shipment_reship(order=order.number, actor=manager_user, reason="House number corrected by phone.")
    # then the units are reserved again and a new parcel with the same lines and carrier waits to be picked
    order.refresh_from_db()
    assert order.status == Order.Status.PACKED
    assert levels("SKU-R") == {"NORTH": (5, 2)}
    assert (again.status, again.carrier, list(again.lines.values_list("order_line__sku", "quantity"))) == (
        Shipment.Status.PENDING, parcelnet, [("SKU-R", 2)])
    assert OutboxMessage.objects.filter(event="order.reshipped").count() == 1
    # when the new parcel leaves and is delivered
    ship(again, parcelnet, tracking_number="PN2234567890")
    shipment_transition(shipment=again.pk, name="deliver")
    # then the order is delivered although its first parcel came back, and the stock left once more
    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED
    assert levels("SKU-R") == {"NORTH": (3, 0)}
    assert line(order, "SKU-R").shipped_quantity == 2


def test_only_a_returned_order_is_sent_again(in_transit, manager_user):
    order, _ = in_transit
    with pytest.raises(TransitionNotAllowed):
        shipment_reship(order=order.number, actor=manager_user)
    assert Shipment.objects.filter(order=order).count() == 1


def test_partially_shipped_order_keeps_its_other_parcel_after_a_return(db, customer, warehouses, parcelnet,
                                                                       manager_user):
    # given an order split over two warehouses, one parcel out and returned, the other still reserved
    a = ProductFactory(sku="SKU-P", stock={"NORTH": 1})
    b = ProductFactory(sku="SKU-Q", stock={"SOUTH": 1})
    order = pack(place_order(customer=customer, lines=[(a, 1), (b, 1)]))
    north, south = shipment_create_all(order=order.number, carrier=parcelnet)
    ship(north, parcelnet, tracking_number="PN3234567890")
    shipment_transition(shipment=north.pk, name="return_to_sender")
    # when staff send it again
    shipment_reship(order=order.number, actor=manager_user)
    # then only the returned unit got a new parcel; the other one's parcel is untouched
    order.refresh_from_db()
    assert order.status == Order.Status.PACKED
    assert sorted(Shipment.objects.filter(order=order).values_list("warehouse__code", "status")) == [
        ("NORTH", "pending"), ("NORTH", "returned"), ("SOUTH", "pending")]


def test_admin_offers_send_again_on_a_returned_order(admin_client, in_transit):
    order, shipment = in_transit
    shipment_transition(shipment=shipment.pk, name="return_to_sender")
    # the order page has the button
    page = admin_client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    url = f"/admin/shipping/shipment/reship/{order.number}/"
    assert url in page
    # the page explains, and posting it sends the order again
    form = admin_client.get(url)
    assert "PN1234567890" in form.content.decode()
    done = admin_client.post(url, {"carrier": "parcelnet", "reason": ""})
    assert done.status_code == 302
    order.refresh_from_db()
    assert order.status == Order.Status.PACKED
    # a second post is refused with a message, not a 500, and creates nothing
    again = admin_client.post(url, {"carrier": "parcelnet"}, follow=True)
    assert again.status_code == 200 and Shipment.objects.filter(order=order).count() == 2
    assert "only a returned order" in again.content.decode()


def test_sending_again_uses_the_carrier_of_the_parcel_that_came_back_last(in_transit, manager_user, local):
    order, shipment = in_transit
    shipment_transition(shipment=shipment.pk, name="return_to_sender")
    # given it was sent again with the local courier, and that parcel came back too
    (second,) = shipment_reship(order=order.number, actor=manager_user, carrier="local")
    ship(second, local)
    shipment_transition(shipment=second.pk, name="return_to_sender")
    # when it is sent again without choosing a carrier
    (third,) = shipment_reship(order=order.number, actor=manager_user)
    # then the latest returned parcel's carrier takes it
    assert third.carrier == local
