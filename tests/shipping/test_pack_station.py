"""The pack station: scan the parcel, scan each item (a wrong or extra one is refused at once), weigh it, and the
label comes out in the same step."""

import pytest
from django.urls import reverse

from inventory.models import Product, Unit
from orders.models import Order
from orders.services import order_transition
from shipping.models import Shipment
from shipping.services import shipment_create_all
from tests.factories import ProductFactory, StaffFactory, place_order

IMEI_A, IMEI_B, IMEI_C = "356938035643809", "490154203237518", "352099001761481"
STATION = "/admin/shipping/shipment/pack-station/"


@pytest.fixture
def parcel(db, customer):
    """A pending parcel: two phones (IMEIs scanned) and one charger (its barcode scanned)."""
    phone = ProductFactory(sku="PH-1", serial_tracked=True, serial_format=Product.SerialFormat.IMEI, stock=4)
    charger = ProductFactory(sku="CHG-30", stock=4, ean="4006381333931")
    order = place_order(customer=customer, lines=[(phone, 2), (charger, 1)])
    for name in ("confirm", "start_processing"):
        order_transition(order=order.number, name=name, check_permission=False)
    (shipment,) = shipment_create_all(order=order.number, carrier="local")
    return shipment


@pytest.fixture
def packer(client, db):
    client.force_login(StaffFactory(group="Warehouse staff"))
    return client


def scan(client, parcel, code):
    return client.post(reverse("admin:shipping_shipment_pack_parcel", args=[parcel.pk]),
                       {"action": "scan", "code": code})


def test_a_parcel_is_found_by_its_number_or_its_order(packer, parcel):
    for code in (str(parcel.pk), f"p{parcel.pk}", parcel.order.number.lower()):
        response = packer.post(STATION, {"code": code})
        assert response["Location"] == reverse("admin:shipping_shipment_pack_parcel", args=[parcel.pk]), code
    response = packer.post(STATION, {"code": "WB-NOPE-NOPE"})
    assert response.status_code == 422 and "No parcel waiting to be packed" in response.content.decode()


def test_scans_fill_the_lines_and_wrong_or_extra_items_are_refused_at_once(packer, parcel):
    assert scan(packer, parcel, "4006381333931").status_code == 302  # the charger, by its EAN
    extra = scan(packer, parcel, "CHG-30")
    assert extra.status_code == 422 and "already scanned: this one is extra" in extra.content.decode()
    barcode = scan(packer, parcel, "PH-1")
    assert barcode.status_code == 422 and "scan the IMEI of this unit" in barcode.content.decode()
    wrong = scan(packer, parcel, "SOMETHING-ELSE")
    assert wrong.status_code == 422 and "is not in this parcel" in wrong.content.decode()
    assert scan(packer, parcel, IMEI_A).status_code == 302
    twice = scan(packer, parcel, f" {IMEI_A} ")
    assert twice.status_code == 422 and "already scanned" in twice.content.decode()
    bad = scan(packer, parcel, "356938035643808")  # a wrong check digit
    assert bad.status_code == 422
    page = packer.get(reverse("admin:shipping_shipment_pack_parcel", args=[parcel.pk]))
    assert page.context["scanned"] == 2 and not page.context["complete"]


def test_a_unit_that_is_not_available_is_refused_while_the_packer_holds_it(packer, parcel):
    phone = Product.objects.get(sku="PH-1")
    Unit.objects.create(product=phone, serial=IMEI_C, status=Unit.Status.WITH_CUSTOMER)
    refused = scan(packer, parcel, IMEI_C)
    assert refused.status_code == 422 and "out with a customer" in refused.content.decode()


def test_the_last_step_packs_weighs_and_labels_the_parcel_at_once(packer, parcel):
    for code in ("CHG-30", IMEI_A, IMEI_B):
        assert scan(packer, parcel, code).status_code == 302
    url = reverse("admin:shipping_shipment_pack_parcel", args=[parcel.pk])
    page = packer.get(url)
    assert page.context["complete"]
    done = packer.post(url, {"action": "pack", "weight_grams": "640", "parcel_size": "S", "carrier": ""})
    assert done["Location"] == STATION
    parcel.refresh_from_db()
    assert (parcel.status, parcel.weight_grams, parcel.parcel_size) == (Shipment.Status.LABEL_CREATED, 640, "S")
    assert parcel.tracking_number
    assert set(Unit.objects.filter(status=Unit.Status.PACKED).values_list("serial", flat=True)) == {IMEI_A, IMEI_B}
    # the station greets the next parcel with this one's label to print
    station = packer.get(STATION).content.decode()
    assert reverse("admin:shipping_shipment_label", args=[parcel.pk]) in station
    label = packer.get(reverse("admin:shipping_shipment_label", args=[parcel.pk]))
    assert label["Content-Type"] == "application/pdf"
    # and the order is packed, because its only parcel is
    assert Order.objects.get(pk=parcel.order_id).status == Order.Status.PACKED


def test_packing_before_every_item_is_scanned_is_refused(packer, parcel):
    scan(packer, parcel, "CHG-30")
    url = reverse("admin:shipping_shipment_pack_parcel", args=[parcel.pk])
    response = packer.post(url, {"action": "pack", "weight_grams": "640", "parcel_size": "S"})
    assert response.status_code == 422
    parcel.refresh_from_db()
    assert parcel.status == Shipment.Status.PENDING


def test_undo_takes_back_the_last_scan(packer, parcel):
    scan(packer, parcel, "CHG-30")
    scan(packer, parcel, IMEI_A)
    url = reverse("admin:shipping_shipment_pack_parcel", args=[parcel.pk])
    packer.post(url, {"action": "undo"})
    assert packer.get(url).context["scanned"] == 1


def test_only_people_who_move_parcels_use_the_station(client, agent_user, parcel):
    client.force_login(agent_user)
    assert client.get(STATION).status_code == 403
    assert scan(client, parcel, "CHG-30").status_code == 403
