"""The fulfilment queue per warehouse, pick waves with one bin-ordered pick list, and bins on stock levels."""

import io

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pypdf import PdfReader

from inventory.models import StockLevel
from orders.models import Order
from orders.services import order_transition
from shipping.errors import InvalidShipment
from shipping.models import PickWave, Shipment
from shipping.selectors import fulfilment_queue, wave_pick_rows
from shipping.services import shipment_create_all, shipment_transition, wave_create
from tests.factories import ProductFactory, WarehouseFactory, place_order

QUEUE = "/admin/shipping/fulfilmentqueue/"


@pytest.fixture
def berlin(db):
    return WarehouseFactory(code="BER", priority=1)


def confirmed(customer, *lines):
    order = place_order(customer=customer, lines=list(lines))
    return order_transition(order=order.number, name="confirm", check_permission=False)


def bin_of(product, warehouse, location):
    StockLevel.objects.filter(product=product, warehouse=warehouse).update(bin=location)


def test_the_queue_lists_what_each_warehouse_has_to_do_oldest_first(berlin, customer):
    mug = ProductFactory(stock={"BER": 10})
    first, second = confirmed(customer, (mug, 1)), confirmed(customer, (mug, 2))
    packing = confirmed(customer, (mug, 1))
    order_transition(order=packing.number, name="start_processing", check_permission=False)
    (parcel,) = shipment_create_all(order=packing.number, carrier="local")
    queue = fulfilment_queue(warehouse_id=berlin.pk)
    assert [o.number for o in queue["to_pick"]] == [first.number, second.number]  # in a parcel: not to pick
    assert [p.pk for p in queue["to_pack"]] == [parcel.pk]
    assert queue["counts"] == {"to_pick": 2, "to_pack": 1, "to_send": 0, "came_back": 0}


def test_a_replacement_jumps_the_queue(berlin, customer):
    mug = ProductFactory(stock={"BER": 10})
    older = confirmed(customer, (mug, 1))
    replacement = confirmed(customer, (mug, 1))
    Order.objects.filter(pk=replacement.pk).update(replaces=older)
    assert [o.number for o in fulfilment_queue(warehouse_id=berlin.pk)["to_pick"]][0] == replacement.number


def test_a_wave_makes_one_parcel_per_order_and_one_pick_list_in_bin_order(berlin, customer, staff_user):
    mug, case, cable = (ProductFactory(sku=sku, stock={"BER": 10}) for sku in ("MUG", "CASE", "CABLE"))
    bin_of(mug, berlin, "B-10-1")
    bin_of(case, berlin, "B-2-3")
    a = confirmed(customer, (mug, 2), (case, 1))
    b = confirmed(customer, (case, 3), (cable, 1))
    wave, left_out = wave_create(warehouse=berlin, orders=[a.number, b.number], actor=staff_user)
    assert left_out == {}
    assert sorted(s.order.number for s in wave.shipments.all()) == sorted([a.number, b.number])
    assert {Order.objects.get(pk=o.pk).status for o in (a, b)} == {Order.Status.PROCESSING}
    rows = wave_pick_rows(wave=wave)
    # B-2 before B-10 (natural order), the unbinned cable last; each row says how many go to which order
    assert [(r["bin"], r["sku"], r["quantity"]) for r in rows] == [("B-2-3", "CASE", 4), ("B-10-1", "MUG", 2),
                                                                 ("", "CABLE", 1)]
    assert rows[0]["per_order"] == {a.number: 1, b.number: 3}


def test_orders_that_cannot_join_a_wave_are_left_out_with_the_reason(berlin, customer):
    mug = ProductFactory(stock={"BER": 10})
    ready = confirmed(customer, (mug, 1))
    placed = place_order(customer=customer, lines=[(mug, 1)])
    elsewhere = WarehouseFactory(code="MAD", priority=2)
    far = confirmed(customer, (ProductFactory(stock={"MAD": 3}), 1))
    wave, left_out = wave_create(warehouse=berlin, orders=[ready.number, placed.number, far.number])
    assert [s.order_id for s in wave.shipments.all()] == [ready.pk]
    assert set(left_out) == {placed.number, far.number}
    assert "nothing waiting" in left_out[far.number]
    with pytest.raises(InvalidShipment):
        wave_create(warehouse=elsewhere, orders=[ready.number])
    assert PickWave.objects.count() == 1  # the refused wave left nothing behind


def test_staff_pick_from_the_queue_page_and_print_the_wave(client, staff_user, berlin, customer):
    mug = ProductFactory(stock={"BER": 10})
    bin_of(mug, berlin, "A-01")
    orders = [confirmed(customer, (mug, 1)) for _ in range(3)]
    client.force_login(staff_user)
    page = client.get(QUEUE, {"warehouse": "BER"}).content.decode()
    assert all(o.number in page for o in orders) and "Pick the chosen orders" in page
    response = client.post(QUEUE, {"warehouse": "BER", "order": [o.number for o in orders[:2]], "carrier": "local"})
    wave = PickWave.objects.get()
    assert response["Location"] == reverse("admin:shipping_pickwave_change", args=[wave.pk])
    assert wave.shipments.count() == 2 and {s.carrier.code for s in wave.shipments.all()} == {"local"}
    wave_page = client.get(response["Location"]).content.decode()
    assert "Print pick list" in wave_page
    pdf = client.get(reverse("admin:shipping_pickwave_pick_list", args=[wave.pk]))
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "A-01" in text and orders[0].number in text and orders[2].number not in text


def test_the_queue_page_costs_the_same_with_3_and_30_orders(client, staff_user, berlin, customer,
                                                           django_assert_num_queries):
    mug = ProductFactory(stock={"BER": 100})
    client.force_login(staff_user)

    def grow(n):
        for _ in range(n):
            order = confirmed(customer, (mug, 1))
            order_transition(order=order.number, name="start_processing", check_permission=False)
            shipment_create_all(order=order.number, carrier="local")
            confirmed(customer, (mug, 1))

    grow(3)
    client.get(QUEUE, {"warehouse": "BER"})
    with CaptureQueriesContext(connection) as first:
        client.get(QUEUE, {"warehouse": "BER"})
    grow(27)
    with django_assert_num_queries(len(first)):
        response = client.get(QUEUE, {"warehouse": "BER"})
    assert response.context["queue"]["counts"]["to_pick"] == 30
    assert len(response.context["queue"]["to_pack"]) == 30


def test_parcels_that_came_back_offer_reship_and_refund(client, admin_user, berlin, customer):
    mug = ProductFactory(stock={"BER": 5})
    order = confirmed(customer, (mug, 1))
    order_transition(order=order.number, name="start_processing", check_permission=False)
    (parcel,) = shipment_create_all(order=order.number, carrier="local")
    for name in ("pick", "pack", "create_label", "hand_over", "return_to_sender"):
        shipment_transition(shipment=parcel.pk, name=name)
    client.force_login(admin_user)
    page = client.get(QUEUE, {"warehouse": "BER"}).content.decode()
    assert reverse("admin:shipping_shipment_reship", args=[order.number]) in page
    assert reverse("admin:returns_returnrequest_refund_order", args=[order.number]) in page


def test_people_who_may_not_create_shipments_cannot_make_waves(client, agent_user, berlin, customer):
    order = confirmed(customer, (ProductFactory(stock={"BER": 5}), 1))
    client.force_login(agent_user)
    assert client.post(QUEUE, {"warehouse": "BER", "order": [order.number]}).status_code == 403
    assert not Shipment.objects.exists()


def test_an_empty_wave_request_says_so(client, staff_user, berlin):
    client.force_login(staff_user)
    response = client.post(QUEUE, {"warehouse": "BER"}, follow=True)
    assert any("Choose the orders" in str(m) for m in get_messages(response.wsgi_request)) or \
        "Choose the orders" in response.content.decode()
