"""A phone order taken in the admin, in a real browser: find the caller, add items, place it."""

import pytest

from orders.models import Order
from tests.e2e.conftest import ARTIFACTS
from tests.factories import CustomerFactory, ProductFactory, StaffFactory, place_order

SCREENSHOT = ARTIFACTS / "waybill-admin-phone-order.png"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_clerk_takes_a_returning_customers_phone_order(live_server, page):
    from playwright.sync_api import expect

    # given a customer who ordered before, and a clerk
    StaffFactory(username="clerk", group="Warehouse staff")
    customer = CustomerFactory(email="ada@example.org")
    place_order(customer=customer)
    ProductFactory(sku="MUG-BLUE", name="Blue mug", stock=5)
    page.goto(f"{live_server.url}/admin/orders/order/add/")
    page.fill("#id_username", "clerk")
    page.fill("#id_password", "secret-pass-123")
    page.keyboard.press("Enter")

    # when the clerk finds the caller, their details come from their last order
    page.fill("#customer-search", "ada@example.org")
    page.keyboard.press("Enter")
    expect(page.locator("#id_ship-city")).to_have_value("London")
    expect(page.locator("#id_email")).to_have_value("ada@example.org")

    # and adds two mugs and places the order
    page.fill("#id_line-0-sku", "MUG-BLUE")
    page.fill("#id_line-0-quantity", "2")
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    page.click("input[type=submit][value='Place the order']")

    # then they are on the new order, which is the customer's and waits to be confirmed
    order = Order.objects.filter(customer=customer).order_by("-pk").first()
    expect(page.locator("ul.messagelist")).to_contain_text(f"{order.number} placed")
    expect(page.locator(".wb-actions .wb-primary").first).to_have_text("Confirm")
    assert order.lines.get(sku="MUG-BLUE").quantity == 2
