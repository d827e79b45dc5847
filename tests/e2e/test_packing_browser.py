"""Packing a parcel of phones in a real browser: the packer scans each IMEI into the field (scan, Enter)."""


import pytest

from inventory.models import Product, Unit
from shipping.models import Shipment
from shipping.services import shipment_create_all, shipment_transition
from tests.e2e.conftest import ARTIFACTS
from tests.factories import ProductFactory, StaffFactory, place_order
from tests.shipping.conftest import pack

SCREENSHOT_SCAN = ARTIFACTS / "waybill-admin-pack-serials.png"
SCREENSHOT_PACKED = ARTIFACTS / "waybill-admin-packed.png"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_packer_scans_two_imeis_and_a_repeated_scan_is_refused(live_server, page):
    from playwright.sync_api import expect

    # given a picked parcel with two phones and a charger, and a packer
    StaffFactory(username="packer", group="Warehouse staff")
    phone = ProductFactory(sku="PH-PX9-128", name="Google Pixel 9 128 GB Obsidian", serial_tracked=True,
                           serial_format=Product.SerialFormat.IMEI, stock=4)
    charger = ProductFactory(sku="AC-CHG-30W", name="30 W USB-C charger", stock=4)
    order = pack(place_order(lines=[(phone, 2), (charger, 1)]))
    (shipment,) = shipment_create_all(order=order.number, carrier="local")
    shipment_transition(shipment=shipment.pk, name="pick")

    # when the packer opens the shipment and presses Mark packed
    page.goto(f"{live_server.url}/admin/shipping/shipment/{shipment.pk}/change/")
    page.fill("#id_username", "packer")
    page.fill("#id_password", "secret-pass-123")
    page.click("input[type=submit]")
    page.click("button[name=_fsm_transition_to][value=pack]")

    # then one field asks for the phones' IMEIs (the charger needs none)
    field = page.locator("textarea.serials")
    expect(field).to_have_count(1)
    expect(page.locator("#pack-form")).to_contain_text("2 × PH-PX9-128")

    # when the same phone is scanned twice (a scanner types the number and Enter)
    field.click()
    page.keyboard.type("356938035643809\n356938035643809\n")
    page.click("input[type=submit][value='Mark packed']")
    # then the page says which serial was scanned twice and the parcel is not packed
    expect(page.locator(".errorlist")).to_contain_text("356938035643809 scanned twice")
    page.screenshot(path=str(SCREENSHOT_SCAN), full_page=True)
    assert Shipment.objects.get(pk=shipment.pk).status == Shipment.Status.PICKED

    # when the second phone is scanned instead
    field = page.locator("textarea.serials")
    field.fill("")
    field.click()
    page.keyboard.type("356938035643809\n490154203237518\n")
    page.click("input[type=submit][value='Mark packed']")

    # then the shipment is packed, and both units are recorded in it
    expect(page.locator("ul.messagelist")).to_contain_text(f"Shipment {shipment.pk} is packed.")
    expect(page.locator("#units-group")).to_contain_text("490154203237518")
    page.screenshot(path=str(SCREENSHOT_PACKED), full_page=True)
    assert Shipment.objects.get(pk=shipment.pk).status == Shipment.Status.PACKED
    assert set(Unit.objects.values_list("serial", "status")) == {("356938035643809", "packed"),
                                                                 ("490154203237518", "packed")}
