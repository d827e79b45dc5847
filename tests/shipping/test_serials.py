"""Serial numbers: scanned into the parcel at packing, followed to the customer and back, one query away."""

import threading

import pytest

from inventory.errors import InvalidSerial, SerialUnavailable
from inventory.models import Product, Unit, UnitEvent
from inventory.selectors import unit_history
from inventory.services import serial_normalize, units_receive
from orders.errors import TransitionNotAllowed
from orders.services import order_transition
from shipping.errors import InvalidShipment
from shipping.models import Shipment, ShipmentUnit
from shipping.services import shipment_create_all, shipment_transition
from tests.factories import ProductFactory, place_order

from .conftest import pack, wh
from .test_services import _in_threads

IMEI_A, IMEI_B, IMEI_C = "356938035643809", "490154203237518", "352099001761481"


@pytest.fixture
def phone(db, warehouses):
    return ProductFactory(sku="PH-TEST", serial_tracked=True, serial_format=Product.SerialFormat.IMEI,
                          stock={"NORTH": 6})


def picked_shipment(customer, phone, quantity=2, extra=None):
    lines = [(phone, quantity)] + ([(extra, 1)] if extra else [])
    order = pack(place_order(customer=customer, lines=lines))
    (shipment,) = shipment_create_all(order=order.number, carrier="local")
    shipment_transition(shipment=shipment.pk, name="pick")
    return order, shipment


def phone_line(order):
    return order.lines.get(sku="PH-TEST").pk


@pytest.mark.parametrize("raw, expected", [
    ("35 693803 564380 9", "356938035643809"),
    (" 490154203237518\n", "490154203237518"),
])
def test_imeis_are_normalized(phone, raw, expected):
    assert serial_normalize(phone, raw) == expected


@pytest.mark.parametrize("raw", ["356938035643808", "35693803564380", "35693803564380X", "", "٣٥٦٩٣٨٠٣٥٦٤٣٨٠٩"])
def test_malformed_imeis_are_refused(phone, raw):
    with pytest.raises(InvalidSerial):
        serial_normalize(phone, raw)


def test_serials_are_checked_for_other_products_too(db):
    gadget = ProductFactory(serial_tracked=True)
    assert serial_normalize(gadget, "sn-4711/a") == "SN-4711/A"
    for bad in ["ab", "SN 4711 \x00", "x" * 65, "SN_4711"]:
        with pytest.raises(InvalidSerial):
            serial_normalize(gadget, bad)


def test_packing_records_each_unit_and_the_hand_over_sends_it_to_the_customer(customer, phone,
                                                                             django_assert_num_queries):
    # given a picked parcel of two phones
    order, shipment = picked_shipment(customer, phone)
    # when the packer scans both IMEIs and the carrier takes the parcel
    shipment_transition(shipment=shipment.pk, name="pack", serials={phone_line(order): [IMEI_A, IMEI_B]})
    shipment_transition(shipment=shipment.pk, name="create_label")
    shipment_transition(shipment=shipment.pk, name="hand_over")
    # then both units are in the parcel and with the customer of this order
    assert sorted(ShipmentUnit.objects.filter(shipment=shipment).values_list("unit__serial", flat=True)) == sorted(
        [IMEI_A, IMEI_B])
    assert set(Unit.objects.values_list("serial", "status")) == {(IMEI_A, "with_customer"), (IMEI_B, "with_customer")}
    # and a unit's whole history is one query away from its serial
    with django_assert_num_queries(1):
        history = [(e.kind, e.order_number, e.reference_label, e.unit.product.sku) for e in unit_history(serial=IMEI_A)]
    assert history == [("received", "", shipment.reference_label, "PH-TEST"),
                       ("packed", order.number, shipment.reference_label, "PH-TEST"),
                       ("shipped", order.number, shipment.reference_label, "PH-TEST")]


def test_every_unit_must_be_scanned_and_nothing_is_written_until_it_is(customer, phone):
    order, shipment = picked_shipment(customer, phone)
    # when only one of two IMEIs is given, or none
    for serials in ({phone_line(order): [IMEI_A]}, {}, {phone_line(order): [IMEI_A, IMEI_A]}):
        with pytest.raises((InvalidShipment, InvalidSerial)) as refused:
            shipment_transition(shipment=shipment.pk, name="pack", serials=serials)
        # then the refusal names the line, and the parcel is still only picked, no unit recorded
        assert str(phone_line(order)) in str(refused.value.extra)
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.PICKED
    assert not Unit.objects.exists() and not ShipmentUnit.objects.exists()


def test_a_serial_out_with_a_customer_cannot_go_out_again(customer, phone):
    # given a phone already shipped to one customer
    first, shipment = picked_shipment(customer, phone, quantity=1)
    shipment_transition(shipment=shipment.pk, name="pack", serials={phone_line(first): [IMEI_A]})
    shipment_transition(shipment=shipment.pk, name="create_label")
    shipment_transition(shipment=shipment.pk, name="hand_over")
    # when another parcel is packed with the same IMEI
    second, other = picked_shipment(customer, phone, quantity=1)
    with pytest.raises(SerialUnavailable) as refused:
        shipment_transition(shipment=other.pk, name="pack", serials={phone_line(second): [IMEI_A]})
    # then it is refused with a 409 that names the serial, and the second parcel is unchanged
    assert refused.value.http_status == 409 and IMEI_A in refused.value.message
    assert "out with a customer" in refused.value.message
    assert refused.value.extra["line"] == phone_line(second)
    other.refresh_from_db()
    assert other.status == Shipment.Status.PICKED


def test_a_cancelled_parcel_frees_its_units_and_a_returned_one_brings_them_back(customer, phone):
    order, shipment = picked_shipment(customer, phone, quantity=1)
    shipment_transition(shipment=shipment.pk, name="pack", serials={phone_line(order): [IMEI_A]})
    packed_at = Unit.objects.get(serial=IMEI_A).updated_at
    # when the packed parcel is cancelled, the unit is in stock and can be packed again
    shipment_transition(shipment=shipment.pk, name="cancel")
    assert Unit.objects.get(serial=IMEI_A).status == Unit.Status.IN_STOCK
    assert Unit.objects.get(serial=IMEI_A).updated_at > packed_at
    (again,) = shipment_create_all(order=order.number, carrier="local")
    shipment_transition(shipment=again.pk, name="pick")
    shipment_transition(shipment=again.pk, name="pack", serials={phone_line(order): [IMEI_A]})
    shipment_transition(shipment=again.pk, name="create_label")
    shipment_transition(shipment=again.pk, name="hand_over")
    # when that parcel comes back to sender, the unit is in stock at its warehouse again
    shipment_transition(shipment=again.pk, name="return_to_sender")
    unit = Unit.objects.get(serial=IMEI_A)
    assert (unit.status, unit.warehouse) == (Unit.Status.IN_STOCK, wh("NORTH"))
    assert list(unit.events.values_list("kind", flat=True)) == [
        "received", "packed", "unpacked", "packed", "shipped", "back_to_stock"]


def test_units_received_with_serials_keep_their_batch_and_must_be_packed_where_they_are(customer, phone):
    units_receive(product=phone, warehouse=wh("SOUTH"), serials=[IMEI_C], batch="Delivery 4711")
    order, shipment = picked_shipment(customer, phone, quantity=1)
    with pytest.raises(SerialUnavailable) as refused:
        shipment_transition(shipment=shipment.pk, name="pack", serials={phone_line(order): [IMEI_C]})
    assert "SOUTH" in refused.value.message
    assert Unit.objects.get(serial=IMEI_C).batch == "Delivery 4711"
    with pytest.raises(SerialUnavailable):
        units_receive(product=phone, warehouse=wh("NORTH"), serials=[IMEI_C])


def test_ship_everything_is_refused_for_serial_tracked_units(customer, phone):
    order = pack(place_order(customer=customer, lines=[(phone, 1)]))
    with pytest.raises(TransitionNotAllowed) as refused:
        order_transition(order=order.number, name="ship", check_permission=False)
    assert "serial number" in refused.value.message
    assert not UnitEvent.objects.exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_same_new_serial_packed_twice_at_once_goes_into_one_parcel(postgres, customer, warehouses):
    phone = ProductFactory(sku="PH-TEST", serial_tracked=True, serial_format=Product.SerialFormat.IMEI,
                           stock={"NORTH": 4})
    parcels = [picked_shipment(customer, phone, quantity=1) for _ in range(2)]
    it = iter(parcels)
    lock = threading.Lock()

    def pack_next():
        with lock:
            order, shipment = next(it)
        return shipment_transition(shipment=shipment.pk, name="pack", serials={phone_line(order): [IMEI_A]})

    results = _in_threads(pack_next)
    assert sorted(type(r).__name__ for r in results) == ["SerialUnavailable", "Shipment"]
    assert Unit.objects.filter(serial=IMEI_A).count() == 1
    assert ShipmentUnit.objects.count() == 1
    assert UnitEvent.objects.filter(kind="received").count() == 1


def test_pack_and_look_up_serials_through_the_api(client_staff, customer, phone, api_client):
    order, shipment = picked_shipment(customer, phone, quantity=1)
    url = f"/api/shipments/{shipment.pk}/transitions/pack/"
    # a missing serial is a 400 naming the line; a malformed one a 400 naming it
    missing = client_staff.post(url, {}, format="json")
    assert missing.status_code == 400 and f"serials[{phone_line(order)}]" in missing.json()["extra"]["fields"]
    bad = client_staff.post(url, {"serials": [{"line": phone_line(order), "serials": ["123"]}]}, format="json")
    assert (bad.status_code, bad.json()["code"], bad.json()["extra"]["line"]) == (400, "invalid_serial",
                                                                                 phone_line(order))
    # a good one packs, and the shipment shows its serial
    done = client_staff.post(url, {"serials": [{"line": phone_line(order), "serials": [IMEI_A]}]}, format="json")
    assert done.status_code == 200, done.json()
    assert done.json()["lines"][0]["serials"] == [IMEI_A]
    # staff look the serial up; customers may not; an unknown serial is a 404, control characters a 400
    looked = client_staff.get(f"/api/serials/{IMEI_A}/").json()
    assert looked["units"][0]["sku"] == "PH-TEST"
    assert [h["kind"] for h in looked["units"][0]["history"]] == ["received", "packed"]
    assert client_staff.get("/api/serials/NOPE-123/").status_code == 404
    assert client_staff.get("/api/serials/%E2%80%AE%00x/").status_code == 400
    assert client_staff.get("/api/serials/%E2%80%AEx/").status_code == 404
    api_client.force_authenticate(customer)
    assert api_client.get(f"/api/serials/{IMEI_A}/").status_code == 403
    # and the schema describes the answer as it is
    schema = client_staff.get("/api/schema/", {"format": "json"}).json()
    lookup = schema["components"]["schemas"]["SerialLookup"]["properties"]
    assert set(lookup) == {"serial", "units"} and set(looked) == {"serial", "units"}


def test_admin_pack_page_takes_scanned_serials_one_per_line(admin_client, customer, phone):
    plain = ProductFactory(stock={"NORTH": 2})
    order, shipment = picked_shipment(customer, phone, quantity=2, extra=plain)
    url = f"/admin/shipping/shipment/{shipment.pk}/transition/pack/"
    # the page asks for the phone line only
    page = admin_client.get(url)
    assert list(page.context["form"].fields) == [f"serials_{phone_line(order)}"]
    # one scan short: the form says so and nothing is packed
    short = admin_client.post(url, {f"serials_{phone_line(order)}": IMEI_A})
    assert short.status_code == 200 and "Scan 2 serial number(s); 1 given." in short.content.decode()
    # two scans, as a scanner types them (Enter after each): packed
    done = admin_client.post(url, {f"serials_{phone_line(order)}": f"{IMEI_A}\r\n{IMEI_B}\r\n"})
    assert done.status_code == 302
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.PACKED
    assert ShipmentUnit.objects.filter(shipment=shipment).count() == 2
    # and the unit admin finds a serial with its history
    unit = Unit.objects.get(serial=IMEI_A)
    found = admin_client.get("/admin/inventory/unit/", {"q": IMEI_A.lower()})
    assert list(found.context["cl"].result_list) == [unit]
    assert admin_client.get(f"/admin/inventory/unit/{unit.pk}/change/").status_code == 200
    assert list(admin_client.get("/admin/inventory/unit/", {"q": order.number}).context["cl"].result_list) == [
        Unit.objects.get(serial=IMEI_A), Unit.objects.get(serial=IMEI_B)][:: 1 if IMEI_A < IMEI_B else -1]
    hostile = admin_client.get("/admin/inventory/unit/", {"q": "\u202e<script>"})
    assert hostile.status_code == 200 and not hostile.context["cl"].result_list
    assert admin_client.get("/admin/inventory/unit/", {"q": "\x00"}).status_code == 200


@pytest.mark.parametrize("body", [
    {"serials": "356938035643809"}, {"serials": {"line": 1}}, {"serials": [{"line": "x", "serials": ["1"]}]},
    {"serials": [{"line": 1, "serials": [None]}]}, {"serials": [{"line": 1, "serials": []}]},
    {"serials": [{"line": 1, "serials": ["\x00" * 3]}]}, {"serials": [{"line": 2**70, "serials": ["A"]}]},
    {"serials": [{"line": 1, "serials": ["9" * 10_000]}]},
])
def test_malformed_serial_bodies_are_a_clear_400(client_staff, customer, phone, body):
    _, shipment = picked_shipment(customer, phone, quantity=1)
    response = client_staff.post(f"/api/shipments/{shipment.pk}/transitions/pack/", body, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"code", "message", "extra"}
    shipment.refresh_from_db()
    assert shipment.status == Shipment.Status.PICKED and not Unit.objects.exists()
