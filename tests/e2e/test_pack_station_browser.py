"""The pack station in a real browser, driven like a barcode scanner: every code is typed and ends with Enter,
nothing is clicked."""

import pytest

from inventory.models import Product, Unit
from orders.services import order_transition
from shipping.models import Shipment
from shipping.services import shipment_create_all
from tests.e2e.conftest import ARTIFACTS
from tests.factories import ProductFactory, StaffFactory, place_order

SHOTS = {name: ARTIFACTS / f"waybill-pack-station-{name}.png" for name in ("refused", "complete", "done")}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_packer_packs_and_labels_a_parcel_with_only_a_scanner_and_enter(live_server, page):
    from playwright.sync_api import expect

    # given a parcel of two phones and a charger, and a packer signed in at the station
    StaffFactory(username="packer", group="Warehouse staff")
    phone = ProductFactory(sku="PH-PX9-128", name="Google Pixel 9 128 GB", serial_tracked=True,
                           serial_format=Product.SerialFormat.IMEI, stock=4)
    charger = ProductFactory(sku="AC-CHG-30W", name="30 W USB-C charger", stock=4, ean="4006381333931")
    order = place_order(lines=[(phone, 2), (charger, 1)])
    for name in ("confirm", "start_processing"):
        order_transition(order=order.number, name=name, check_permission=False)
    (parcel,) = shipment_create_all(order=order.number, carrier="local")
    page.goto(f"{live_server.url}/admin/shipping/shipment/pack-station/")
    page.fill("#id_username", "packer")
    page.fill("#id_password", "secret-pass-123")
    page.keyboard.press("Enter")

    def scanner(code):  # a scanner types fast and ends with Enter; the next code may follow at once
        page.keyboard.type(code, delay=5)
        page.keyboard.press("Enter")

    # when the packer scans the parcel number from the slip, then the charger's barcode
    expect(page.locator("#code")).to_be_focused()
    with page.expect_navigation():
        scanner(str(parcel.pk))
    expect(page.locator("h1")).to_contain_text(f"Pack parcel {parcel.pk}")
    page.wait_for_load_state("load")  # htmx (a deferred script) answers the scans from here on
    scanner("4006381333931")
    expect(page.locator(".wb-head")).to_contain_text("1 of 3")

    # and the same phone twice: the second scan is refused on the spot
    scanner("356938035643809")
    scanner("356938035643809")
    expect(page.locator(".wb-refused")).to_contain_text("already scanned")
    expect(page.locator("#code")).to_be_focused()
    page.screenshot(path=str(SHOTS["refused"]), full_page=True)

    # when the second phone is scanned, the station asks for the weight
    scanner("490154203237518")
    expect(page.locator("#label-form")).to_be_visible()
    expect(page.locator("#id_weight_grams")).to_be_focused()
    page.screenshot(path=str(SHOTS["complete"]), full_page=True)

    # and the weight, then Enter, packs and labels the parcel in one step
    with page.expect_navigation():
        scanner("640")
    expect(page.locator(".wb-ok")).to_contain_text(f"Parcel {parcel.pk}")
    expect(page.locator(".wb-ok")).to_contain_text("packed and labelled")
    expect(page.locator("#code")).to_be_focused()  # ready for the next parcel
    page.screenshot(path=str(SHOTS["done"]), full_page=True)

    parcel.refresh_from_db()
    assert (parcel.status, parcel.weight_grams) == (Shipment.Status.LABEL_CREATED, 640)
    assert set(Unit.objects.filter(status="packed").values_list("serial", flat=True)) == {
        "356938035643809", "490154203237518"}
