"""A customer follows an order in the portal, in a real browser: sign in, open the order, follow the parcel."""


import pytest

from orders.services import order_transition
from shipping.models import Carrier
from shipping.services import shipment_create_all, shipment_transition
from tests.e2e.conftest import ARTIFACTS
from tests.factories import CustomerFactory, ProductFactory, place_order

SCREENSHOT = ARTIFACTS / "waybill-portal-order.png"
TRACKING_SCREENSHOT = ARTIFACTS / "waybill-tracking.png"


@pytest.mark.django_db(transaction=True)
def test_customer_follows_their_parcel_from_the_portal(live_server, page):
    from playwright.sync_api import expect

    # given a customer whose phone is on its way with the local courier
    customer = CustomerFactory(username="ada")
    order = place_order(customer=customer, lines=[(ProductFactory(stock=5, name="Pixel 9 128 GB"), 1)])
    for name in ("confirm", "start_processing", "pack"):
        order_transition(order=order.number, name=name, check_permission=False)
    (parcel,) = shipment_create_all(order=order.number)
    for name in ("pick", "pack"):
        shipment_transition(shipment=parcel.pk, name=name)
    shipment_transition(shipment=parcel.pk, name="create_label", carrier=Carrier.objects.get(code="local"))
    parcel = shipment_transition(shipment=parcel.pk, name="hand_over")

    # when they sign in
    page.goto(f"{live_server.url}/orders/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "secret-pass-123")
    page.get_by_role("button", name="Sign in").click()

    # then they see their order and open it
    expect(page.locator("h1")).to_have_text("My orders")
    page.get_by_role("link", name=order.number).click()
    expect(page.locator("#order-status")).to_have_text("Shipped")
    expect(page.locator("#timeline")).to_contain_text("Your parcel left our warehouse with Local courier")
    expect(page.locator(".parcel")).to_contain_text("In transit")
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # and follow the parcel to its tracking page
    page.get_by_role("link", name=parcel.tracking_number).click()
    expect(page.locator("#status")).to_have_text("In transit")
    page.screenshot(path=str(TRACKING_SCREENSHOT), full_page=True)

    # and turn off emails that are not essential
    page.get_by_role("link", name="Emails").click()
    page.get_by_label("Also email me about delays, holds and messages").uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("only get emails about orders and deliveries")
